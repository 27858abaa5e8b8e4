package main

import (
	"context"
	"html/template"
	"net"
	"net/http"
	"time"

	"callmon/callback/tasks"
	"callmon/callback/voicemails"
	"callmon/ui"
	"callmon/wallboard"
)

// landingTemplate is callmon's front page, on both listeners: what there is and where.
var landingTemplate = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>callmon</title></head>
<body><main>
<h1>callmon</h1>
<p>{{.Lead}}</p>
<ul>
<li><a href="{{.Pages}}/wallboard">{{.Wallboard}}</a></li>
<li><a href="{{.Pages}}/lookup">{{.Lookup}}</a></li>
<li><a href="{{.Pages}}/signin?lang={{.Lang}}">{{.SignIn}}</a></li>
{{if .Metrics}}<li><a href="{{.Metrics}}">{{.MetricsText}}</a></li>{{end}}
</ul>
<p><a href="?lang={{.Other}}" lang="{{.Other}}">{{.Switch}}</a></p>
</main></body></html>
`))

// landingPage serves the front page. pagesPort gives the API listener's port when the page is
// served on the metrics listener (nil on the API listener itself, whose pages are relative);
// the metrics link shows only there.
func landingPage(lang ui.Setting, pagesPort func() string, metricsPath ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		l := ui.Choose(r, lang)
		ui.Remember(w, r)
		pages := ""
		if pagesPort != nil {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			pages = scheme + "://" + net.JoinHostPort(host, pagesPort())
		}
		d := struct {
			Lang, Other                                                 ui.Lang
			Lead, Wallboard, Lookup, SignIn, MetricsText, Switch, Pages string
			Metrics                                                     string
		}{l, l.Other(), l.T("home-lead"), l.T("home-wallboard"), l.T("home-lookup"), l.T("home-signin"), l.T("home-metrics"), l.T("switch"), pages, ""}
		if len(metricsPath) > 0 {
			d.Metrics = metricsPath[0]
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'")
		landingTemplate.Execute(w, d)
	})
}

// wallboardBackoffice reads what the wallboard shows of callbacks and voicemails.
func wallboardBackoffice(ts *tasks.Store, vs *voicemails.Store) func(context.Context, time.Time) (wallboard.Backoffice, error) {
	return func(ctx context.Context, now time.Time) (wallboard.Backoffice, error) {
		var b wallboard.Backoffice
		counts, err := ts.Counts(ctx, now)
		if err != nil {
			return b, err
		}
		for _, c := range counts {
			b.CallbacksDue += int(c.Due)
			b.CallbacksOverdue += int(c.Overdue)
		}
		waiting, err := vs.Waiting(ctx, now)
		if err != nil {
			return b, err
		}
		for _, v := range waiting {
			b.VoicemailsUnheard += v.Unheard
			b.VoicemailsOverdue += v.Overdue
		}
		return b, nil
	}
}
