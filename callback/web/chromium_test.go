package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"callmon/callback/tasks"
	"callmon/callback/web"
	"callmon/ui"
	"callmon/ui/browsertest"
)

// TestAgentPageInChromium opens an agent's page in headless Chromium, makes
// a task through the API, sees it appear on the open page without a reload,
// clicks its "Done" button and finds the task done in PostgreSQL.
func TestAgentPageInChromium(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.waitListening()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := browsertest.Start(ctx, t)

	if _, err := b.Call(ctx, "Page.enable", nil); err != nil {
		t.Fatal(err)
	}
	loaded := b.On("Page.loadEventFired")
	// ?token= signs the browser in: the page sets its cookie and redirects.
	if _, err := b.Call(ctx, "Page.navigate", map[string]any{"url": e.ts.URL + "/agent/anna?token=" + e.tokens["anna"]}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatalf("the page did not load: %s", b.Log())
	}
	if got := b.Eval(ctx, t, `location.pathname + location.search`); got != "/agent/anna" {
		t.Errorf("the page is at %v, want /agent/anna (the token gone from the address)", got)
	}
	// The event stream is open: the page marks itself live.
	b.WaitFor(ctx, t, `document.body.dataset.live === "1"`)
	// A reload would lose this.
	b.Eval(ctx, t, `window.notReloaded = true`)

	task := e.create("anna", agreed("general", at(9, 55)))
	row := fmt.Sprintf("#task-%d", task.ID)
	b.WaitFor(ctx, t, fmt.Sprintf(`document.querySelector(%q) !== null`, row))
	if got := b.Eval(ctx, t, `window.notReloaded === true`); got != true {
		t.Fatal("the page was reloaded to show the new task")
	}
	if got := b.Eval(ctx, t, fmt.Sprintf(`document.querySelector(%q).textContent`, row)); !strings.Contains(fmt.Sprint(got), "+31612345678") {
		t.Errorf("the new row reads %q", got)
	}

	b.Eval(ctx, t, fmt.Sprintf(`document.querySelector(%q + ' button[value=reached]').click()`, row))
	// The row leaves the page once the result is stored and the list re-read.
	b.WaitFor(ctx, t, fmt.Sprintf(`document.querySelector(%q) === null`, row))
	// The list may be re-read (server-sent event) before the POST's own
	// response is handled: wait for the confirmation rather than racing it.
	b.WaitFor(ctx, t, `document.getElementById("status").textContent === "Saved."`)
	got := e.get(task.ID)
	if got.Status != tasks.Done || got.Result != "reached" || got.Attempts != 1 {
		t.Fatalf("in PostgreSQL the task is %s (result %q, %d attempts), want done", got.Status, got.Result, got.Attempts)
	}
	if msg := b.Eval(ctx, t, `document.getElementById("status").textContent`); msg != "Saved." {
		t.Errorf("the page says %q", msg)
	}
	if errs := b.Errors(); errs != "" {
		t.Errorf("the page reported errors:\n%s", errs)
	}
}

// TestAgentPageLayoutInChromium loads an agent's page in headless Chromium on a desktop
// (1920×1080) and a phone (390×844), Dutch by default and English on the switch, with a
// caller's name of 200 characters and long notes: every row of PostgreSQL shows, nothing is
// wider than its box (the buttons stay on screen), and axe-core finds no WCAG 2.1 A/AA
// violation. Screenshots go to $CALLMON_SCREENSHOTS (else a temporary directory).
func TestAgentPageLayoutInChromium(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *web.Options) { o.Language = "nl" })
	e.waitListening()
	long := agreed("general", at(9, 55))
	long["caller_name"] = strings.Repeat("Johanna-Wilhelmina ", 11)[:200]
	long["notes"] = strings.Repeat("belt terug over de vergunning voor de uitbreiding van de stal; ", 6)
	e.create("anna", long)
	e.create("anna", agreed("general", at(10, 15)))
	e.seed("general", at(9, 45))
	shots := browsertest.ScreenshotDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browsertest.Start(ctx, t)
	if _, err := b.Call(ctx, "Page.enable", nil); err != nil {
		t.Fatal(err)
	}
	b.Navigate(ctx, t, e.ts.URL+"/agent/anna?token="+e.tokens["anna"])
	for _, size := range [][2]int{{1920, 1080}, {390, 844}} {
		for _, lang := range []ui.Lang{ui.NL, ui.EN} {
			name := fmt.Sprintf("agent-%s-%dx%d", lang, size[0], size[1])
			b.Viewport(ctx, t, size[0], size[1])
			b.Navigate(ctx, t, e.ts.URL+"/agent/anna?lang="+string(lang))
			b.WaitFor(ctx, t, `document.body.dataset.live === "1"`)
			if n := b.Eval(ctx, t, `document.querySelectorAll("tr[data-task]").length`); n != float64(3) {
				t.Errorf("%s: %v task rows, want 3", name, n)
			}
			heading := fmt.Sprint(b.Eval(ctx, t, `document.querySelector("h1").textContent`))
			if heading != lang.F("ap-h1", "anna") {
				t.Errorf("%s: heading %q", name, heading)
			}
			// Every button is on the screen's width.
			if off := b.Eval(ctx, t, `[...document.querySelectorAll("button")].filter(b => b.getBoundingClientRect().right > window.innerWidth).length`); off != float64(0) {
				t.Errorf("%s: %v buttons off the screen", name, off)
			}
			b.CheckPage(ctx, t, name, lang, shots)
		}
	}
	if errs := b.Errors(); errs != "" {
		t.Errorf("the page reported errors:\n%s", errs)
	}
}
