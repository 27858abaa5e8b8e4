package wallboard

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"callmon/metrics"
	"callmon/ui"
	"callmon/ui/browsertest"
)

// morning puts a busy morning in m: two queues (one with a name long enough to push a careless
// layout off a phone's screen), calls answered, abandoned and waiting, agents in every state,
// staffing advice.
func morning(m *metrics.Metrics, at time.Time) {
	for i := range 40 {
		id := fmt.Sprintf("g%d", i)
		entry := at.Add(-time.Hour + time.Duration(i)*time.Minute)
		m.Entered("general", id, entry)
		switch {
		case i%9 == 0:
			m.Abandoned("general", id, entry.Add(50*time.Second))
		default:
			m.Answered("general", id, entry.Add(time.Duration(5+i%40)*time.Second))
			m.Ended("general", id)
		}
	}
	m.Entered("general", "w1", at.Add(-42*time.Second))
	m.Entered("general", "w2", at.Add(-12*time.Second))
	m.SetAgents("general", map[string]int{"available": 1, "ringing": 1, "on_call": 6, "paused": 2})
	m.SetExpectedWait("general", 75*time.Second)
	m.SetStaffing("general", metrics.Staffing{Calls: 42, NeededA: 9, NeededC: 11, LevelA: 0.84},
		metrics.Staffing{Calls: 55, NeededA: 10, NeededC: 12, LevelA: 0.78}, 160*time.Second, 90*time.Second)
	long := "vergunningen-ontheffingen-en-subsidies-provincie-groningen"
	m.Entered(long, "p1", at.Add(-30*time.Minute))
	m.Answered(long, "p1", at.Add(-30*time.Minute+8*time.Second))
	m.SetAgents(long, map[string]int{"available": 2})
	m.SetExpectedWait(long, 6*time.Second)
}

// TestWallboardInChromium loads the wallboard in headless Chromium on a TV (1920×1080) and a
// phone (390×844), in Dutch and in English: the figures shown are callmon's, nothing is wider
// than its box, axe-core finds no WCAG 2.1 A/AA violation, a change shows without a reload
// within a second, and a screenshot of each is saved ($CALLMON_SCREENSHOTS, else a temporary
// directory).
func TestWallboardInChromium(t *testing.T) {
	e := newEnvWith(t, true, []metrics.Queue{{Name: "general"}, {Name: "vergunningen-ontheffingen-en-subsidies-provincie-groningen"}})
	morning(e.m, e.clk.Now())
	shots := browsertest.ScreenshotDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browsertest.Start(ctx, t)
	if _, err := b.Call(ctx, "Page.enable", nil); err != nil {
		t.Fatal(err)
	}
	b.Navigate(ctx, t, e.srv.URL+"/wallboard?token="+e.tokens["hal-1"])
	if got := b.Eval(ctx, t, `location.pathname + location.search`); got != "/wallboard" {
		t.Errorf("the page is at %v, want /wallboard (the token gone from the address)", got)
	}
	for _, size := range [][2]int{{1920, 1080}, {390, 844}} {
		for _, lang := range []ui.Lang{ui.NL, ui.EN} {
			name := fmt.Sprintf("wallboard-%s-%dx%d", lang, size[0], size[1])
			b.Viewport(ctx, t, size[0], size[1])
			b.Navigate(ctx, t, e.srv.URL+"/wallboard?lang="+string(lang))
			b.WaitFor(ctx, t, `document.querySelectorAll("section.queue").length === 3`)
			// The figures are callmon's.
			for i, q := range e.m.Snapshot() {
				tile := func(label string) string {
					return fmt.Sprint(b.Eval(ctx, t, fmt.Sprintf(`[...document.querySelectorAll("section.queue")[%d].querySelectorAll(".tile")]
						.find(t => t.querySelector(".label").textContent === %q).querySelector(".value").textContent`, i, label)))
				}
				if got, want := tile(lang.T("waiting")), fmt.Sprint(q.Waiting); got != want {
					t.Errorf("%s, queue %s: waiting %s, callmon %s", name, q.Name, got, want)
				}
				if got, want := tile(lang.T("sl-today")), ui.Percent(q.Today); got != want {
					t.Errorf("%s, queue %s: service level %s, callmon %s", name, q.Name, got, want)
				}
				if got, want := tile(lang.T("oldest")), ui.Wait(q.Oldest); got != want {
					t.Errorf("%s, queue %s: oldest %s, callmon %s", name, q.Name, got, want)
				}
			}
			text := fmt.Sprint(b.Eval(ctx, t, `document.body.innerText`))
			other := map[ui.Lang]string{ui.NL: "Longest wait", ui.EN: "Langst wachtend"}[lang]
			if !strings.Contains(text, lang.T("oldest")) || strings.Contains(text, other) {
				t.Errorf("%s speaks the wrong language:\n%s", name, text)
			}
			b.CheckPage(ctx, t, name, lang, shots)
		}
	}
	// Live: a caller enters; the open page shows it without a reload, within a second.
	b.Eval(ctx, t, `window.notReloaded = true`)
	before := e.m.Snapshot()[0].Waiting
	start := time.Now()
	e.m.Entered("general", "w3", e.clk.Now())
	b.WaitFor(ctx, t, fmt.Sprintf(`[...document.querySelector("section.queue").querySelectorAll(".tile")].some(t => t.querySelector(".value").textContent === "%d")`, before+1))
	if took := time.Since(start); took > time.Second {
		t.Errorf("the change took %v to show", took)
	}
	if b.Eval(ctx, t, `window.notReloaded === true`) != true {
		t.Error("the page reloaded to show the change")
	}
	if errs := b.Errors(); errs != "" {
		t.Errorf("the page reported errors:\n%s", errs)
	}
}
