// Package ui holds what callmon's pages share with the people who read them: the language
// (Dutch by default, English available, chosen by configuration, a switch remembered in a
// cookie, or the browser's Accept-Language), the words in both, and how times read —
// Europe/Amsterdam, 24-hour. It renders no page itself.
package ui

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	_ "time/tzdata" // the pages show Amsterdam time even on a host without zoneinfo
)

// Lang is a language the pages speak.
type Lang string

// The languages.
const (
	NL Lang = "nl"
	EN Lang = "en"
)

// Cookie remembers a person's choice of language.
const Cookie = "callmon_lang"

// Amsterdam is where the people who use callmon are.
var Amsterdam = func() *time.Location {
	l, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err) // embedded by time/tzdata
	}
	return l
}()

// Setting is the configuration's ui.language: "nl", "en" or "auto" (the browser's
// Accept-Language, Dutch when it names neither).
type Setting string

// Choose picks the language of a request: ?lang= (the switch), then the cookie, then the
// setting.
func Choose(r *http.Request, s Setting) Lang {
	if l, ok := parse(r.URL.Query().Get("lang")); ok {
		return l
	}
	if c, err := r.Cookie(Cookie); err == nil {
		if l, ok := parse(c.Value); ok {
			return l
		}
	}
	switch s {
	case "en":
		return EN
	case "auto":
		return fromAccept(r.Header.Get("Accept-Language"))
	}
	return NL
}

// Remember sets the cookie when the request switched language (?lang=), so the choice holds
// on every page.
func Remember(w http.ResponseWriter, r *http.Request) {
	if l, ok := parse(r.URL.Query().Get("lang")); ok {
		http.SetCookie(w, &http.Cookie{Name: Cookie, Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	}
}

func parse(s string) (Lang, bool) {
	switch strings.ToLower(s) {
	case "nl":
		return NL, true
	case "en":
		return EN, true
	}
	return "", false
}

// fromAccept takes the first of nl or en in an Accept-Language header, by weight.
func fromAccept(h string) Lang {
	best, bestQ := NL, -1.0
	for _, part := range strings.Split(h, ",") {
		tag, q := strings.TrimSpace(part), 1.0
		if i := strings.Index(tag, ";"); i >= 0 {
			fmt.Sscanf(strings.TrimSpace(tag[i+1:]), "q=%g", &q)
			tag = strings.TrimSpace(tag[:i])
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if l, ok := parse(base); ok && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// Other is the language the switch offers.
func (l Lang) Other() Lang {
	if l == EN {
		return NL
	}
	return EN
}

// T is the text of key in l; a missing key shows as itself, which a test forbids.
func (l Lang) T(key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if l == EN {
		return m.en
	}
	return m.nl
}

// F is T with fmt arguments.
func (l Lang) F(key string, a ...any) string { return fmt.Sprintf(l.T(key), a...) }

var daysNL = [...]string{"zo", "ma", "di", "wo", "do", "vr", "za"}
var monthsNL = [...]string{"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"}

// Clock is t's time of day in Amsterdam, 24-hour: 15:04:05.
func (l Lang) Clock(t time.Time) string { return t.In(Amsterdam).Format("15:04:05") }

// DateTime is t's date and time in Amsterdam: "ma 23 nov 2026 15:04" or "Mon 23 Nov 2026 15:04".
func (l Lang) DateTime(t time.Time) string {
	lt := t.In(Amsterdam)
	if l == EN {
		return lt.Format("Mon 2 Jan 2006 15:04")
	}
	return fmt.Sprintf("%s %d %s %d %s", daysNL[lt.Weekday()], lt.Day(), monthsNL[lt.Month()-1], lt.Year(), lt.Format("15:04"))
}

// Wait reads a wait as a screen shows it: 0:45, 12:05, 1:02:03.
func Wait(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Percent reads a ratio as a whole percentage: "87 %".
func Percent(r float64) string { return fmt.Sprintf("%.0f %%", 100*r) }

// Foreign lists the texts of the other language found in text: a page in l that still shows
// one of them did not switch every string. Only phrases that differ between the languages
// count, taken between their format verbs, and at least 6 characters long.
func Foreign(l Lang, text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range messages {
		mine, other := m.nl, m.en
		if l == EN {
			mine, other = m.en, m.nl
		}
		for _, frag := range fragments(other) {
			if len(frag) < 6 || seen[frag] || strings.Contains(mine, frag) {
				continue
			}
			if strings.Contains(text, frag) {
				seen[frag] = true
				out = append(out, frag)
			}
		}
	}
	return out
}

// fragments cuts a message at its format verbs (%s, %d, %.1f, …).
func fragments(s string) []string {
	var out []string
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			break
		}
		out = append(out, strings.TrimSpace(s[:i]))
		j := i + 1
		for j < len(s) && strings.IndexByte("0123456789.+-# ", s[j]) >= 0 {
			j++
		}
		if j < len(s) {
			j++ // the verb
		}
		s = s[j:]
	}
	return append(out, strings.TrimSpace(s))
}

// CSPHash is the Content-Security-Policy source of an inline script or style: a page that
// names its own script's hash runs no other.
func CSPHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}
