package web

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

var update = flag.Bool("update", false, "TestScreenshot: write docs/img/console-overview.png")

// browser starts headless Chromium for t. It skips when chromium is not
// installed, except in CI (CI=true), where a missing browser fails.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is not installed (CI=true: .ci/run installs it with apt-get)")
		}
		t.Skip("chromium is not installed: apt-get install -y chromium to run the browser tests")
	}
	// Chromium's profile: removed once the browser is gone (its helper
	// processes may still write there for a moment after the cancel).
	profile, err := os.MkdirTemp("", "aicred-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		// Chromium can take over chromedp's default 20 s to start when the
		// whole test suite shares two cores with it.
		chromedp.WSURLReadTimeout(90 * time.Second),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelT()
		cancelC()
		cancelA()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium profile %s not removed", profile)
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// settle waits for the page a click or a redirect loaded to be complete.
func settle() chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for range 100 {
			var state string
			if err := chromedp.Evaluate(`document.readyState`, &state).Do(ctx); err == nil && state == "complete" {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("the page does not finish loading")
	})
}

// clickLoad clicks sel and waits for the page it leads to: the location
// changes and the new document is complete.
func clickLoad(sel string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var before string
		if err := chromedp.Location(&before).Do(ctx); err != nil {
			return err
		}
		if err := chromedp.Click(sel, chromedp.ByQuery).Do(ctx); err != nil {
			return err
		}
		for range 250 {
			var now, state string
			if chromedp.Location(&now).Do(ctx) == nil && now != before &&
				chromedp.Evaluate(`document.readyState`, &state).Do(ctx) == nil && state == "complete" {
				return nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		return fmt.Errorf("clicking %s led nowhere", sel)
	})
}

func shot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// unlabelled lists the form controls of the page without a label (a
// <label for>, a wrapping label or aria-label).
const unlabelledJS = `Array.from(document.querySelectorAll('input,select,textarea')).filter(function(e){
  if (e.type === 'hidden') return false;
  if (e.getAttribute('aria-label')) return false;
  if (e.closest('label')) return false;
  return !(e.id && document.querySelector('label[for="' + e.id + '"]'));
}).map(function(e){ return e.name || e.id || e.outerHTML.slice(0, 60); })`

// markControls numbers every visible, enabled form control and button
// and returns how many there are.
const markControlsJS = `(function(){ var n = 0;
  document.querySelectorAll('input,select,textarea,button').forEach(function(e){
    if (e.type === 'hidden' || e.disabled || e.hidden || e.offsetParent === null) return;
    e.setAttribute('data-kbd', String(n++)); });
  document.activeElement && document.activeElement.blur(); window.scrollTo(0,0); return n; })()`

// checkKeyboard checks every form control of the page has a label and
// that pressing Tab reaches each of them.
func checkKeyboard(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	var missing []string
	run(t, ctx, "labels on "+page, chromedp.Evaluate(unlabelledJS, &missing))
	if len(missing) > 0 {
		t.Errorf("%s: form controls without a label: %v", page, missing)
	}
	var n int
	run(t, ctx, "mark controls on "+page, chromedp.Evaluate(markControlsJS, &n))
	reached := map[string]bool{}
	for i := 0; i < 4*n+40 && len(reached) < n; i++ {
		var k string
		run(t, ctx, "tab", chromedp.KeyEvent(kb.Tab), chromedp.Evaluate(`(document.activeElement && document.activeElement.getAttribute('data-kbd')) || ''`, &k))
		if k != "" {
			reached[k] = true
		}
	}
	if len(reached) < n {
		t.Errorf("%s: Tab reaches %d of %d form controls", page, len(reached), n)
	}
}

// TestBrowserFlows drives Chromium through the console: log in, filter
// the inventory, open a credential, revoke a token and see the gateway
// refuse it, watch an alert arrive live, log out; every page is
// screenshotted and its forms checked for labels and keyboard reach.
func TestBrowserFlows(t *testing.T) {
	ctx := browser(t)
	w := newWorld(t, nil)
	dir := t.TempDir()
	if d := os.Getenv("AICRED_SCREENSHOTS"); d != "" {
		dir = d // keep them
	}
	base := w.srv.URL

	// Log in (the console sends us to the login page first).
	var loc string
	run(t, ctx, "open", chromedp.Navigate(base+"/ui/inventory"), chromedp.WaitVisible("#token", chromedp.ByID), chromedp.Location(&loc))
	if !strings.Contains(loc, "/ui/login") {
		t.Fatalf("not sent to the login page: %s", loc)
	}
	checkKeyboard(t, ctx, "login")
	shot(t, ctx, dir, "login")
	run(t, ctx, "log in", chromedp.SendKeys("#token", w.writeTok, chromedp.ByID), clickLoad("#login"),
		chromedp.WaitVisible("#inventory", chromedp.ByID))

	// Filter the inventory.
	var count string
	run(t, ctx, "filter", chromedp.SendKeys("#f-q", "settings.py", chromedp.ByID), clickLoad("#filter"),
		chromedp.WaitVisible("#result-count", chromedp.ByID), chromedp.Text("#result-count", &count, chromedp.ByID))
	if !strings.HasPrefix(count, "1 credential") {
		t.Errorf("filtered inventory: %q", count)
	}
	checkKeyboard(t, ctx, "inventory")
	shot(t, ctx, dir, "inventory")

	// Open the credential.
	var title string
	run(t, ctx, "open credential", clickLoad("a.cred"), chromedp.WaitVisible("h1.page", chromedp.ByQuery),
		chromedp.Text("h1.page", &title, chromedp.ByQuery))
	if !strings.Contains(title, "OpenAI") {
		t.Errorf("credential page title: %q", title)
	}
	var held string
	run(t, ctx, "held", chromedp.Text("main", &held, chromedp.ByQuery))
	for _, s := range []string{"hc_openai", "Blast radius", "Sightings", "config/settings.py", "Tokens derived from it", w.workID, "Audit trail"} {
		if !strings.Contains(held, s) {
			t.Errorf("credential page lacks %q", s)
		}
	}
	shot(t, ctx, dir, "credential")
	// The revocation sits behind a confirmation page.
	run(t, ctx, "confirm page", clickLoad("a.button.danger"), chromedp.WaitVisible("#do-action", chromedp.ByID))
	checkKeyboard(t, ctx, "confirm")
	shot(t, ctx, dir, "confirm")

	// Revoke the workload token; the gateway refuses it.
	if got := w.callGateway(t); got != http.StatusOK {
		t.Fatalf("gateway before: %d", got)
	}
	run(t, ctx, "tokens", chromedp.Navigate(base+"/ui/tokens"), chromedp.WaitVisible("#grants", chromedp.ByID))
	checkKeyboard(t, ctx, "tokens")
	shot(t, ctx, dir, "tokens")
	var flash string
	run(t, ctx, "revoke", clickLoad("#grant-"+w.workID+" button"), chromedp.WaitVisible(".flash", chromedp.ByQuery),
		chromedp.Text(".flash", &flash, chromedp.ByQuery))
	if !strings.Contains(flash, "Revoked 1 token") {
		t.Errorf("revocation: %q", flash)
	}
	if got := w.callGateway(t); got != http.StatusUnauthorized {
		t.Errorf("gateway after the revocation: %d, want 401", got)
	}

	// An alert arrives live.
	run(t, ctx, "alerts", chromedp.Navigate(base+"/ui/alerts"), chromedp.WaitVisible("#alerts", chromedp.ByID),
		chromedp.WaitVisible(".js-only", chromedp.ByQuery))
	time.Sleep(300 * time.Millisecond) // the stream connects
	w.alert(t, "al_live")
	var row, open string
	run(t, ctx, "live alert", chromedp.WaitVisible("#alert-rows tr.fresh", chromedp.ByQuery), chromedp.Text("#alert-rows tr.fresh", &row, chromedp.ByQuery),
		chromedp.Text("#open-alerts", &open, chromedp.ByID))
	if !strings.Contains(strings.ToLower(row), "spend_spike") || !strings.Contains(row, "cost_usd: 42.00") || open != "1" {
		t.Errorf("live alert row %q, open %q", row, open)
	}
	checkKeyboard(t, ctx, "alerts")
	shot(t, ctx, dir, "alerts")

	// The other pages.
	for _, p := range []struct{ path, name, ready string }{
		{"/ui/", "overview", "h1.page"}, {"/ui/posture", "posture", "#nhi"}, {"/ui/usage?days=7", "usage", "svg.chart"},
		{"/ui/config", "config", "h1.page"}, {"/ui/audit", "audit", "#audit"},
	} {
		run(t, ctx, p.name, chromedp.Navigate(base+p.path), chromedp.WaitVisible(p.ready, chromedp.ByQuery))
		checkKeyboard(t, ctx, p.name)
		shot(t, ctx, dir, p.name)
	}
	// The theme toggle switches to dark and stays there.
	var theme string
	run(t, ctx, "theme", chromedp.Click("#theme-toggle", chromedp.ByID), chromedp.Reload(), chromedp.WaitVisible("h1.page", chromedp.ByQuery),
		chromedp.AttributeValue("html", "data-theme", &theme, nil, chromedp.ByQuery))
	if theme != "dark" && theme != "light" {
		t.Errorf("theme after toggle: %q", theme)
	}
	shot(t, ctx, dir, "audit-"+theme)
	// Narrow screens: the page still fits.
	var scrollW, clientW int
	run(t, ctx, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible("h1.page", chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth`, &scrollW), chromedp.Evaluate(`document.documentElement.clientWidth`, &clientW))
	if scrollW > clientW+2 {
		t.Errorf("overview on a phone scrolls sideways: %d > %d", scrollW, clientW)
	}
	shot(t, ctx, dir, "overview-phone")
	run(t, ctx, "wide", chromedp.EmulateViewport(1280, 900))

	// Log out.
	run(t, ctx, "log out", clickLoad("#logout"), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.Navigate(base+"/ui/tokens"), chromedp.WaitVisible("#token", chromedp.ByID))
	t.Logf("screenshots in %s", dir)
}

// TestScreenshot renders the overview for the README. With -update it
// writes docs/img/console-overview.png:
//
//	go test ./web -run TestScreenshot -update
func TestScreenshot(t *testing.T) {
	ctx := browser(t)
	w := newWorld(t, nil)
	w.alert(t, "al_readme")
	w.seedMoreUsage(t)
	run(t, ctx, "log in", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(w.srv.URL+"/ui/login"), chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", w.writeTok, chromedp.ByID), clickLoad("#login"), chromedp.WaitVisible("h1.page", chromedp.ByQuery))
	dir := t.TempDir()
	if *update {
		dir = filepath.Join("..", "docs", "img")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shot(t, ctx, dir, "console-overview")
	fmt.Fprintln(os.Stderr, "wrote", filepath.Join(dir, "console-overview.png"))
}
