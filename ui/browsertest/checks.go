package browsertest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"callmon/ui"
)

// Viewport makes the page w×h CSS pixels, a phone's (touch, mobile) below 800 wide.
func (b *Browser) Viewport(ctx context.Context, t testing.TB, w, h int) {
	t.Helper()
	if _, err := b.Call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{
		"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 800,
	}); err != nil {
		t.Fatal(err)
	}
}

// Screenshot saves what the page shows as a PNG file.
func (b *Browser) Screenshot(ctx context.Context, t testing.TB, path string) {
	t.Helper()
	res, err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"})
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Data string }
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Overflowing lists the elements whose content is wider than their box (scrollWidth >
// clientWidth), and the page itself when it is wider than the window: what a long name or a
// narrow screen pushes out of sight.
func (b *Browser) Overflowing(ctx context.Context, t testing.TB) []string {
	t.Helper()
	v := b.Eval(ctx, t, `(() => {
		const out = [];
		if (document.documentElement.scrollWidth > window.innerWidth) {
			out.push("the page: " + document.documentElement.scrollWidth + " > " + window.innerWidth);
		}
		for (const el of document.body.querySelectorAll("*")) {
			if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth) {
				out.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className ? "." + String(el.className).replace(/ /g, ".") : "") +
					": " + el.scrollWidth + " > " + el.clientWidth + " (" + el.textContent.trim().slice(0, 40) + ")");
			}
		}
		return out;
	})()`)
	var out []string
	for _, x := range v.([]any) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// AxeEnv names the file axe-core is loaded from; without it AxeDefault is used.
const AxeEnv = "AXE_CORE"

// AxeDefault is where .ci/run installs axe-core with npm (under $HOME).
const AxeDefault = ".cache/callmon-axe/node_modules/axe-core/axe.min.js"

// AxePath finds axe-core's script, or says how to install it.
func AxePath() (string, error) {
	if p := os.Getenv(AxeEnv); p != "" {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	p := filepath.Join(home, AxeDefault)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("axe-core is required for the accessibility check and was not found at %s: "+
			"install it with npm install --prefix ~/.cache/callmon-axe axe-core@4.14.1 (.ci/run does), or set %s to axe.min.js", p, AxeEnv)
	}
	return p, nil
}

// Axe runs axe-core's WCAG 2.1 A and AA rules on the page and returns the violations, one
// line each with the elements concerned. DevTools evaluation is not bound by the page's
// Content-Security-Policy, so the page need not allow the script.
func (b *Browser) Axe(ctx context.Context, t testing.TB) []string {
	t.Helper()
	path, err := AxePath()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b.Eval(ctx, t, string(src)+"\n;true")
	v := b.Eval(ctx, t, `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
		.then(r => r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " — " + v.nodes.map(n => n.target.join(" ")).join(", ")))`)
	var out []string
	for _, x := range v.([]any) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// Text is what a person can read on the page: its visible text and the placeholders, labels
// and titles of its elements.
func (b *Browser) Text(ctx context.Context, t testing.TB) string {
	t.Helper()
	return fmt.Sprint(b.Eval(ctx, t, `document.body.innerText + "\n" + [...document.querySelectorAll("[placeholder],[aria-label],[title]")]
		.map(e => [e.getAttribute("placeholder"), e.getAttribute("aria-label"), e.getAttribute("title")].filter(Boolean).join("\n")).join("\n") +
		"\n" + document.title`))
}

// Navigate loads url in the page and waits for its load event.
func (b *Browser) Navigate(ctx context.Context, t testing.TB, url string) {
	t.Helper()
	loaded := b.On("Page.loadEventFired")
	if _, err := b.Call(ctx, "Page.navigate", map[string]any{"url": url}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-loaded:
	case <-ctx.Done():
		t.Fatalf("%s did not load: %s", url, b.Log())
	}
}

// ScreenshotDir is where page tests save their screenshots: $CALLMON_SCREENSHOTS, else a
// temporary directory of the test.
func ScreenshotDir(t testing.TB) string {
	if d := os.Getenv("CALLMON_SCREENSHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

// CheckPage runs the checks every page of callmon passes, as it shows now in lang: only lang's
// words (ui.Foreign), nothing wider than its box, no WCAG 2.1 A/AA violation (axe-core); and
// saves a screenshot as dir/name.png.
func (b *Browser) CheckPage(ctx context.Context, t testing.TB, name string, lang ui.Lang, dir string) {
	t.Helper()
	if got := b.Eval(ctx, t, `document.documentElement.lang`); got != string(lang) {
		t.Errorf("%s: html lang %v, want %s", name, got, lang)
	}
	if f := ui.Foreign(lang, b.Text(ctx, t)); len(f) > 0 {
		t.Errorf("%s shows the other language's words: %q", name, f)
	}
	if o := b.Overflowing(ctx, t); len(o) > 0 {
		t.Errorf("%s: wider than their box:\n%s", name, strings.Join(o, "\n"))
	}
	if v := b.Axe(ctx, t); len(v) > 0 {
		t.Errorf("%s: WCAG 2.1 AA violations:\n%s", name, strings.Join(v, "\n"))
	}
	b.Screenshot(ctx, t, filepath.Join(dir, name+".png"))
}
