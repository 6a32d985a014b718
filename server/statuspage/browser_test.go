package statuspage_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/orbit-go/orbit/internal/testbackend"
	"github.com/orbit-go/orbit/internal/testbackend/redistest"
)

// The browser tests drive Debian's headless Chromium with chromedp. They
// skip without chromium (testbackend.Require) and fail then under
// ORBIT_REQUIRE_BACKENDS=1.

// joinDeadline is how soon after the Join returns the node must be on the
// page (the issue: "within a second").
const joinDeadline = time.Second

// requireChromium returns the path of chromium, or skips the test (fails
// it under ORBIT_REQUIRE_BACKENDS=1) without it.
func requireChromium(t *testing.T) string {
	t.Helper()
	return testbackend.Require(t, "chromium", "apt-get install -y --no-install-recommends chromium")
}

// newBrowser starts a headless Chromium for the test (its own profile in a
// temporary directory) and returns a tab's context.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := requireChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser; it lives as long as ctx (no
	// timeout on it: that would stop the browser).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// pageErrors collects what must not happen on the page: uncaught
// exceptions, console errors and warnings, browser log errors, failed
// requests and HTTP error responses.
type pageErrors struct {
	mu   sync.Mutex
	list []string
}

func watchErrors(t *testing.T, ctx context.Context) *pageErrors {
	t.Helper()
	pe := &pageErrors{}
	err := chromedp.Listen(ctx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = fmt.Sprintf("uncaught exception: %s at %s:%d", d.Text, d.URL, d.LineNumber)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			switch ev.Type {
			case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
				var args []string
				for _, a := range ev.Args {
					args = append(args, a.Description+string(a.Value))
				}
				msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
			}
		case *cdplog.EventEntryAdded:
			if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
				msg = fmt.Sprintf("browser log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
			}
		case *network.EventLoadingFailed:
			msg = fmt.Sprintf("request failed (%s): %s canceled=%v blocked=%s", ev.Type, ev.ErrorText, ev.Canceled, ev.BlockedReason)
		case *network.EventResponseReceived:
			if ev.Response.Status >= 400 {
				msg = fmt.Sprintf("HTTP %d for %s", ev.Response.Status, ev.Response.URL)
			}
		}
		if msg != "" {
			pe.mu.Lock()
			pe.list = append(pe.list, msg)
			pe.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	return pe
}

// check fails the test with what was collected since the last check.
func (pe *pageErrors) check(t *testing.T, when string) {
	t.Helper()
	pe.mu.Lock()
	list := pe.list
	pe.list = nil
	pe.mu.Unlock()
	if len(list) > 0 {
		t.Errorf("%s: the page had %d errors:\n  %s", when, len(list), strings.Join(list, "\n  "))
	}
}

// run runs actions with a timeout.
func run(t *testing.T, ctx context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// The page in a real browser: it loads with no console error, a node
// joined through the gRPC API appears (pushed, no reload) within a second
// of the Join's return, a lookup typed into the search box and submitted
// with the keyboard shows the holder, a provider whose redis-server is
// stopped shows as unhealthy, and it fits a phone's width.
func TestBrowserStatusPage(t *testing.T) {
	requireChromium(t)
	redis := redistest.Start(t)
	e := startEnv(t, envOptions{providers: fmt.Sprintf(`
[providers.cache]
type = "Redis"
url = %q
dial_timeout = 1
request_timeout = 1
`, redis.URL())})
	e.join(t, "default", "node-a", "Greeter")
	ctx := newBrowser(t)
	errs := watchErrors(t, ctx)

	run(t, ctx, 30*time.Second, "load the page",
		chromedp.Navigate(e.base),
		chromedp.WaitVisible(chromedp.CSS(`tr.node[data-node="node-a"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#conn.live`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-provider="memory"][data-health="healthy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-provider="cache"][data-health="healthy"]`)))
	if title := eval[string](t, ctx, "document.title"); title != "Orbit status" {
		t.Errorf("title %q", title)
	}
	if !eval[bool](t, ctx, `[...document.querySelectorAll("input, select")].every(i => i.labels.length > 0)`) {
		t.Error("a form field has no label")
	}
	if href := eval[string](t, ctx, `document.querySelector('a[href="metrics"]').href`); href != e.base+"metrics" {
		t.Errorf("metrics link %q", href)
	}
	errs.check(t, "loading")

	// A join is pushed to the open page.
	for _, key := range []string{"node-b", "node-c"} {
		e.join(t, "default", key, "Greeter")
		joined := time.Now()
		c, cancel := context.WithTimeout(ctx, joinDeadline)
		err := chromedp.Do(c, chromedp.WaitVisible(chromedp.CSS(`tr.node[data-node="`+key+`"]`)))
		cancel()
		if err != nil {
			t.Fatalf("node %s not on the page within %s of its Join: %v", key, joinDeadline, err)
		}
		t.Logf("node %s on the page %s after its Join returned", key, time.Since(joined).Round(time.Millisecond))
	}
	if live := eval[string](t, ctx, `document.getElementById("live").textContent`); !strings.Contains(live, "default/node-c joined") {
		t.Errorf("live region %q does not announce the join", live)
	}

	// A lookup with the keyboard: Tab moves between the fields (with a
	// visible focus), Enter submits.
	holder := e.place(t, "default", "Greeter", "alice")
	run(t, ctx, 10*time.Second, "focus the namespace field", chromedp.Focus(chromedp.CSS(`#lk-ns`)))
	run(t, ctx, 10*time.Second, "tab", chromedp.KeyEvent("\t"))
	if id := eval[string](t, ctx, "document.activeElement.id"); id != "lk-type" {
		t.Fatalf("Tab from the namespace field focused %q, want lk-type", id)
	}
	if outline := eval[string](t, ctx, "getComputedStyle(document.activeElement).outlineStyle"); outline == "none" {
		t.Errorf("the focused field has no visible outline")
	}
	run(t, ctx, 10*time.Second, "type the lookup",
		chromedp.KeyEvent("Greeter"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("\t"), chromedp.KeyEvent("alice\r"),
		chromedp.WaitVisible(chromedp.CSS(`#lookup-result .result.found[data-holder="`+holder+`"]`)))
	if got := eval[string](t, ctx, `document.querySelector("#lookup-result .holder").textContent`); got != holder {
		t.Errorf("lookup shows holder %q, want %q", got, holder)
	}
	run(t, ctx, 10*time.Second, "look up an unplaced one",
		chromedp.Clear(chromedp.CSS(`#lk-key`)), chromedp.SendKeys(chromedp.CSS(`#lk-key`), "nobody\n"),
		chromedp.WaitVisible(chromedp.CSS(`#lookup-result .result.missing`)))
	errs.check(t, "pushes and lookups")

	// A provider made really unhealthy: its redis-server stopped; the
	// health loop (every 100 ms) sees it.
	redis.Stop(t)
	run(t, ctx, 60*time.Second, "the cache provider shown unhealthy",
		chromedp.WaitVisible(chromedp.CSS(`[data-provider="cache"][data-health="unhealthy"]`)))
	if live := eval[string](t, ctx, `document.getElementById("live").textContent`); !strings.Contains(live, "cache is unhealthy") {
		t.Errorf("live region %q does not announce the provider", live)
	}
	errs.check(t, "provider unhealthy")

	// A phone: nothing wider than the screen.
	run(t, ctx, 10*time.Second, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.WaitVisible(chromedp.CSS(`tr.node[data-node="node-a"]`)))
	if w := eval[[]int](t, ctx, "[document.documentElement.scrollWidth, window.innerWidth]"); w[0] > w[1] {
		t.Errorf("on a 390 px wide phone the page is %d px wide (viewport %d): it scrolls sideways", w[0], w[1])
	}
	errs.check(t, "phone")
}

// With auth on, the page without a token is refused (401) and with a
// reader token works, its API calls and event stream included.
func TestBrowserAuth(t *testing.T) {
	requireChromium(t)
	e := startEnv(t, envOptions{auth: true})
	e.join(t, "default", "node-a", "Greeter")
	anon := newBrowser(t)
	c, cancel := context.WithTimeout(anon, 30*time.Second)
	resp, err := chromedp.Run(c, chromedp.NavigateResponse(e.base))
	cancel()
	if err != nil {
		t.Fatalf("navigate without a token: %v", err)
	}
	if resp.Status != 401 {
		t.Fatalf("the page without a token: HTTP %d, want 401", resp.Status)
	}

	// Another tab, with the reader token on its requests (the 401 tab may
	// still load its favicon, refused too: not this tab's errors).
	ctx, closeTab := chromedp.NewContext(anon)
	defer closeTab()
	errs := watchErrors(t, ctx)
	run(t, ctx, 10*time.Second, "set the reader token", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": e.header}})
		return err
	}))
	run(t, ctx, 30*time.Second, "load the page with the reader token",
		chromedp.Navigate(e.base),
		chromedp.WaitVisible(chromedp.CSS(`tr.node[data-node="node-a"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#conn.live`)))
	e.join(t, "default", "node-b", "Greeter")
	run(t, ctx, 10*time.Second, "a join pushed with auth on", chromedp.WaitVisible(chromedp.CSS(`tr.node[data-node="node-b"]`)))
	errs.check(t, "with the reader token")
}

// TestScreenshot writes docs/img/status-page.png: a cluster of several
// nodes in two namespaces holding leases, an audit log. Run it with
//
//	ORBIT_UPDATE_SCREENSHOT=1 go test ./server/statuspage/ -run TestScreenshot
func TestScreenshot(t *testing.T) {
	if os.Getenv("ORBIT_UPDATE_SCREENSHOT") != "1" {
		t.Skip("set ORBIT_UPDATE_SCREENSHOT=1 to write docs/img/status-page.png")
	}
	requireChromium(t)
	e := startEnv(t, envOptions{audit: newAuditLog(t), providers: `
[providers.ha]
type = "Composite"
health_check_interval = 1

[providers.ha.primary]
type = "Memory"

[providers.ha.backup]
type = "Memory"
`})
	for i, key := range []string{"eu-west-1a", "eu-west-1b", "eu-west-1c", "eu-west-1d"} {
		types := []string{"Greeter", "Cart"}
		if i == 3 {
			types = []string{"Cart"}
		}
		e.join(t, "default", key, types...)
	}
	e.join(t, "payments", "pay-1", "Payment")
	e.join(t, "payments", "pay-2", "Payment")
	for i := range 23 {
		e.place(t, "default", "Greeter", fmt.Sprintf("user-%d", i))
	}
	for i := range 9 {
		e.place(t, "default", "Cart", fmt.Sprintf("cart-%d", i))
	}
	for i := range 5 {
		e.place(t, "payments", "Payment", fmt.Sprintf("tx-%d", i))
	}
	e.clock.Advance(1200 * time.Millisecond) // lease expiries as a running cluster has them
	ctx := newBrowser(t)
	errs := watchErrors(t, ctx)
	run(t, ctx, 30*time.Second, "load",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(e.base),
		chromedp.WaitVisible(chromedp.CSS(`tr.node[data-node="pay-2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-provider="memory"][data-health="healthy"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-provider="ha"][data-health="healthy"]`)),
		chromedp.SendKeys(chromedp.CSS(`#lk-type`), "Greeter"), chromedp.SendKeys(chromedp.CSS(`#lk-key`), "user-7\n"),
		chromedp.WaitVisible(chromedp.CSS(`#lookup-result .result.found`)),
		chromedp.Blur(chromedp.CSS(`#lk-key`)))
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	errs.check(t, "screenshot")
	root, err := testbackend.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "docs", "img", "status-page.png")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

// The error watch itself sees what it must: a console error, an uncaught
// exception, an HTTP error response (so a clean page is not clean because
// nothing was watched).
func TestBrowserErrorWatch(t *testing.T) {
	requireChromium(t)
	e := startEnv(t, envOptions{})
	ctx := newBrowser(t)
	errs := watchErrors(t, ctx)
	run(t, ctx, 30*time.Second, "load", chromedp.Navigate(e.base), chromedp.WaitVisible(chromedp.CSS(`#conn.live`)))
	eval[any](t, ctx, `console.error("planted error"); setTimeout(() => { throw new Error("planted exception"); }, 0); fetch("api/v1/nope"); 1`)
	want := []string{"planted error", "planted exception", "HTTP 404"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		errs.mu.Lock()
		all := strings.Join(errs.list, "\n")
		errs.mu.Unlock()
		missing := ""
		for _, w := range want {
			if !strings.Contains(all, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch did not see %q; it saw:\n%s", missing, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
