package lookup

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"callmon/ui"
	"callmon/ui/browsertest"
)

// TestLookupPageInChromium shows a caller's day in headless Chromium on a desktop (1920×1080)
// and a phone (390×844), in Dutch and English: the calls shown are the ones in PostgreSQL,
// nothing is wider than its box, and axe-core finds no WCAG 2.1 A/AA violation.
func TestLookupPageInChromium(t *testing.T) {
	e := newEnv(t)
	shots := browsertest.ScreenshotDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := browsertest.Start(ctx, t)
	for _, m := range []string{"Page.enable", "Network.enable"} {
		if _, err := b.Call(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Signed in as the supervisor by header, as a program would be.
	if _, err := b.Call(ctx, "Network.setExtraHTTPHeaders", map[string]any{"headers": map[string]string{"Authorization": "Bearer " + e.tokens["sam"]}}); err != nil {
		t.Fatal(err)
	}
	want, err := Find(ctx, e.db.Pool(), "0612345678", day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 3), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int{{1920, 1080}, {390, 844}} {
		for _, lang := range []ui.Lang{ui.NL, ui.EN} {
			name := fmt.Sprintf("lookup-%s-%dx%d", lang, size[0], size[1])
			b.Viewport(ctx, t, size[0], size[1])
			b.Navigate(ctx, t, e.srv.URL+"/lookup?number=0612345678&from=2026-11-23&to=2026-11-23&lang="+string(lang))
			if n := b.Eval(ctx, t, `document.querySelectorAll("article.call").length`); n != float64(len(want.Calls)) {
				t.Fatalf("%s: %v calls shown, %d in PostgreSQL", name, n, len(want.Calls))
			}
			for i, c := range want.Calls {
				got := fmt.Sprint(b.Eval(ctx, t, fmt.Sprintf(`document.querySelectorAll("article.call")[%d].textContent`, i)))
				if w := lang.F("seconds", float64(c.WaitMS)/1000); !strings.Contains(got, w) || !strings.Contains(got, lang.T("out-"+c.Outcome)) {
					t.Errorf("%s, call %d: %q lacks its wait %q or outcome", name, i, got, w)
				}
			}
			b.CheckPage(ctx, t, name, lang, shots)
		}
	}
	if errs := b.Errors(); errs != "" {
		t.Errorf("the page reported errors:\n%s", errs)
	}
}
