package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"callmon/callback/store/pgtest"
)

// The front page on the metrics listener is callmon's own: the wallboard and the sign-in on
// the API listener, the metrics, Dutch first and English on the switch — and no links to
// pages callmon does not serve.
func TestLandingPage(t *testing.T) {
	s := newSite(t, pgtest.URL(t, "cmd_landing"))
	s.launch()
	get := func(url string) string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", url, resp.StatusCode)
		}
		return string(b)
	}
	_, apiPort, _ := net.SplitHostPort(s.d.APIAddr.String())
	page := get("http://" + s.d.Addr.String() + "/")
	for _, want := range []string{`<html lang="nl">`, `href="http://127.0.0.1:` + apiPort + `/wallboard"`, "Wandbord", `href="/metrics"`, `lang="en">English</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("front page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "pprof") {
		t.Errorf("front page links pprof:\n%s", page)
	}
	if en := get("http://" + s.d.Addr.String() + "/?lang=en"); !strings.Contains(en, "Wallboard: the figures of now") || !strings.Contains(en, `<html lang="en">`) {
		t.Errorf("English front page:\n%s", en)
	}
	// On the API listener the links are the site's own.
	if api := get(s.base() + "/"); !strings.Contains(api, `href="/wallboard"`) || strings.Contains(api, "/metrics") {
		t.Errorf("API front page:\n%s", api)
	}
}
