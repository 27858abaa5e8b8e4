package auth

import (
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"callmon/ui"
)

// signinTexts are the sign-in page's words; Dutch by default, English with
// ?lang=en.
var signinTexts = map[string]map[string]string{
	"nl": {"lang": "nl", "title": "Aanmelden bij callmon", "label": "Uw token", "button": "Aanmelden",
		"bad": "Dit token is onbekend of onjuist.", "throttled": "Te veel mislukte pogingen; probeer het later opnieuw.",
		"other": "English", "otherLang": "en", "out": "U bent afgemeld."},
	"en": {"lang": "en", "title": "Sign in to callmon", "label": "Your token", "button": "Sign in",
		"bad": "This token is unknown or wrong.", "throttled": "Too many failed attempts; try again later.",
		"other": "Nederlands", "otherLang": "nl", "out": "You are signed out."},
}

var signinPage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="{{.T.lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.title}}</title></head>
<body><main><h1>{{.T.title}}</h1>
{{if .Msg}}<p role="alert">{{.Msg}}</p>{{end}}
<form method="post" action="/signin?lang={{.T.lang}}">
<label for="token">{{.T.label}}</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{{.Next}}">
<button type="submit">{{.T.button}}</button>
</form>
<p><a href="/signin?lang={{.T.otherLang}}">{{.T.other}}</a></p></main></body></html>
`))

// texts are the sign-in page's words in the language asked (?lang=) or chosen before (the
// pages' cookie); Dutch otherwise.
func texts(r *http.Request) map[string]string {
	if ui.Choose(r, "nl") == ui.EN {
		return signinTexts["en"]
	}
	return signinTexts["nl"]
}

// localPath keeps a redirect target on this site: a path, not //host or a URL.
func localPath(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.HasPrefix(s, "/\\") {
		return ""
	}
	return s
}

// SignInHandler serves GET /signin (the form), POST /signin (token=, next=)
// and POST /signout.
func (a *Authenticator) SignInHandler() http.Handler {
	mux := http.NewServeMux()
	show := func(w http.ResponseWriter, r *http.Request, code int, msg, next string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'")
		w.WriteHeader(code)
		signinPage.Execute(w, struct {
			T         map[string]string
			Msg, Next string
		}{texts(r), msg, next})
	}
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		msg := ""
		if r.URL.Query().Has("out") {
			msg = texts(r)["out"]
		}
		show(w, r, http.StatusOK, msg, localPath(r.URL.Query().Get("next")))
	})
	mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
		token, next := strings.TrimSpace(r.PostFormValue("token")), localPath(r.PostFormValue("next"))
		p, err := a.Token(r, token)
		var th *ThrottledError
		switch {
		case errors.As(err, &th):
			w.Header().Set("Retry-After", itoa(seconds(th.RetryAfter)))
			show(w, r, http.StatusTooManyRequests, texts(r)["throttled"], next)
			return
		case err != nil:
			show(w, r, http.StatusUnauthorized, texts(r)["bad"], next)
			return
		}
		a.SetSession(w, r, p)
		if next == "" {
			next = a.home(p)
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	})
	mux.HandleFunc("POST /signout", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		http.Redirect(w, r, "/signin?out", http.StatusSeeOther)
	})
	return mux
}

func itoa(n int) string { return strconv.Itoa(n) }
