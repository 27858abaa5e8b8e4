package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEveryMessageHasBothLanguages(t *testing.T) {
	for k, m := range messages {
		if strings.TrimSpace(m.nl) == "" || strings.TrimSpace(m.en) == "" {
			t.Errorf("%s: %+v", k, m)
		}
		if strings.Count(m.nl, "%") != strings.Count(m.en, "%") {
			t.Errorf("%s: the two texts take different arguments: %q, %q", k, m.nl, m.en)
		}
	}
	if NL.T("no such key") != "no such key" {
		t.Error("a missing key must show as itself")
	}
}

func TestChoose(t *testing.T) {
	req := func(url, cookie, accept string) *http.Request {
		r := httptest.NewRequest("GET", url, nil)
		if cookie != "" {
			r.AddCookie(&http.Cookie{Name: Cookie, Value: cookie})
		}
		if accept != "" {
			r.Header.Set("Accept-Language", accept)
		}
		return r
	}
	for _, c := range []struct {
		r    *http.Request
		s    Setting
		want Lang
	}{
		{req("/", "", ""), "", NL},
		{req("/", "", "en-GB,en;q=0.9"), "nl", NL},
		{req("/", "", "en-GB,en;q=0.9"), "auto", EN},
		{req("/", "", "de-DE,nl;q=0.8,en;q=0.5"), "auto", NL},
		{req("/", "", "fr"), "auto", NL},
		{req("/", "en", ""), "nl", EN},
		{req("/?lang=nl", "en", ""), "en", NL},
		{req("/?lang=xx", "", ""), "en", EN},
	} {
		if got := Choose(c.r, c.s); got != c.want {
			t.Errorf("%s cookie %v accept %q setting %q: %s, want %s", c.r.URL, c.r.Cookies(), c.r.Header.Get("Accept-Language"), c.s, got, c.want)
		}
	}
	w := httptest.NewRecorder()
	Remember(w, req("/wallboard?lang=en", "", ""))
	if c := w.Result().Cookies(); len(c) != 1 || c[0].Name != Cookie || c[0].Value != "en" || !c[0].HttpOnly {
		t.Errorf("cookie %+v", c)
	}
}

func TestTimesReadInAmsterdam(t *testing.T) {
	at := time.Date(2026, 11, 23, 14, 5, 9, 0, time.UTC) // 15:05 in Amsterdam (CET)
	if got := NL.DateTime(at); got != "ma 23 nov 2026 15:05" {
		t.Errorf("Dutch: %q", got)
	}
	if got := EN.DateTime(at); got != "Mon 23 Nov 2026 15:05" {
		t.Errorf("English: %q", got)
	}
	if got := NL.Clock(time.Date(2026, 7, 1, 22, 30, 0, 0, time.UTC)); got != "00:30:00" {
		t.Errorf("summer time, 24-hour: %q", got)
	}
	for d, want := range map[time.Duration]string{0: "0:00", 45 * time.Second: "0:45", 12*time.Minute + 5*time.Second: "12:05", 3723 * time.Second: "1:02:03", -time.Second: "0:00"} {
		if got := Wait(d); got != want {
			t.Errorf("Wait(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestForeign(t *testing.T) {
	if got := Foreign(NL, "Wandbord · Wachtrij general · Longest wait 0:42"); len(got) != 1 || got[0] != "Longest wait" {
		t.Errorf("Dutch page with an English phrase: %q", got)
	}
	if got := Foreign(EN, "Wallboard · Queue general · Longest wait · Agents"); len(got) != 0 {
		t.Errorf("an English page: %q", got)
	}
	if got := fragments("%d staffed, %s needed"); len(got) != 3 || got[1] != "staffed," || got[2] != "needed" {
		t.Errorf("fragments: %q", got)
	}
}
