package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"callmon/callback/tasks"
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
