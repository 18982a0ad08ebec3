package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for a test; without one the test is
// skipped, except under CI=true where it fails (.ci/run installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no chromium on PATH: install Debian's chromium package (.ci/run does)")
		}
		t.Skip("no chromium on PATH")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1400, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// shots is the folder the browser tests save screenshots in: the
// MEMFLOW_SCREENSHOTS folder, else one under the system's temporary folder.
func shots(t *testing.T) string {
	dir := os.Getenv("MEMFLOW_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "memflow-console-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func shot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
	}
}

// waitJS waits until expr is true in the page (15 s at most).
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return void(chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second)))
}

// js runs expr in the page.
func js(expr string) chromedp.Action[chromedp.Void] { return void(chromedp.Evaluate[any](expr)) }

func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

// failed saves what the page showed when a step failed, and fails.
func failed(t *testing.T, ctx context.Context, dir string, err error) {
	t.Helper()
	name := "failed-" + t.Name()
	if serr := chromedp.Do(ctx, shot(dir, name)); serr == nil {
		t.Fatalf("%v (the page then: %s.png)", err, filepath.Join(dir, name))
	}
	t.Fatal(err)
}

// text reads the text of the first element sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// A person opens the console, finds the waiting instance in the list,
// sends it a signal with the form, and sees the entity and the timeline
// change without reloading the page.
func TestBrowserSignalFromTheConsole(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow", Options{})
	want(t, f.post("/api/v1/workflows/order/start", `{"id":"order-7","args":{"item":"teapot","qty":3}}`), 201)
	want(t, f.post("/api/v1/workflows/order/start", `{"id":"order-8","args":{"item":"cups","qty":6}}`), 201)
	eventually(t, "order-7 waits", func() bool {
		return strings.Contains(string(f.get("/api/v1/instances/order-7/status").body), `"doing":"signal"`)
	})
	steps, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := chromedp.Do(steps,
		chromedp.Navigate(f.srv.URL+"/flows"),
		chromedp.WaitVisible(`a[href="/flows/order"]`),
		shot(dir, "flows"),
		chromedp.Click(`a[href="/flows/order"]`),
		chromedp.WaitVisible(`.graph svg g.node`),
		shot(dir, "flow"),
		chromedp.Navigate(f.srv.URL+"/instances"),
		chromedp.WaitVisible(`a[href="/instances/order-7"]`),
		shot(dir, "instances"),
		chromedp.Click(`a[href="/instances/order-7"]`),
		chromedp.WaitVisible(`#signal-form`),
		waitJS(`document.querySelectorAll(".timeline li").length >= 2`),
		waitJS(`document.querySelector('.graph g.node.current[data-step="approval"]') !== null`),
		js(`window.stillThisPage = true`),
		chromedp.SendKeys(`#signal-form input[name=signal]`, "approve"),
		chromedp.SendKeys(`#signal-form textarea[name=data]`, `{"by": "ana"}`),
		chromedp.Click(`#signal-form button[type=submit]`),
		waitJS(`document.querySelector("#entity").textContent.includes("ana")`),
		waitJS(`[...document.querySelectorAll(".timeline li")].some(li => li.textContent.includes("merge"))`),
		waitJS(`document.querySelector("h1 .badge").textContent === "completed"`),
		waitJS(`document.querySelectorAll('.graph g.node.visited').length === 3`), // set, the wait, merge
		waitJS(`document.querySelector('.graph g.node.visited[data-step="approval"]') !== null`),
		chromedp.Click(`.timeline li:nth-child(2)`),
		waitJS(`document.querySelector(".diff") !== null`),
		shot(dir, "instance"),
	)
	if err != nil {
		failed(t, ctx, dir, err)
	}
	marker, err := chromedp.Run(steps, chromedp.Evaluate[bool](`window.stillThisPage === true`))
	if err != nil || !marker {
		t.Errorf("the page reloaded: %v", err)
	}
	entity, timeline := text(t, steps, `#entity`), text(t, steps, `.timeline`)
	if err := chromedp.Do(steps,
		chromedp.Navigate(f.srv.URL+"/start/order"),
		chromedp.WaitVisible(`#start-form input[name=item]`),
		waitJS(`document.querySelector('#start-form textarea[name=raw]').offsetParent === null`),
		chromedp.SendKeys(`#start-form input[name=item]`, "kettle"),
		chromedp.SendKeys(`#start-form input[name=qty]`, "2"),
		shot(dir, "start"),
		chromedp.Click(`#start-form button[type=submit]`),
		waitJS(`location.pathname.startsWith("/instances/") && document.querySelector("#entity") !== null`),
		waitJS(`document.querySelector("#entity").textContent.includes("kettle")`),
	); err != nil {
		failed(t, ctx, dir, err)
	}
	if !strings.Contains(entity, `"approved"`) || !strings.Contains(entity, `"ana"`) {
		t.Errorf("entity shown: %s", entity)
	}
	if !strings.Contains(timeline, "approval") || !strings.Contains(timeline, "merge by, status") {
		t.Errorf("timeline: %s", timeline)
	}
}

// The editor shows a diagnostic at the line of a mistake while the person
// types, before anything is saved.
func TestBrowserEditorDiagnostic(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow", Options{AllowEdit: true})
	steps, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := chromedp.Do(steps,
		chromedp.Navigate(f.srv.URL+"/editor"),
		chromedp.WaitVisible(`#source`),
		waitJS(`document.querySelector("#diagnostics li.okay") !== null`),
		waitJS(`document.querySelector(".graph svg") !== null`),
		js(`(() => {
			const ta = document.querySelector("#source");
			ta.value = ta.value.replace("wait: approve", "wait: approve\n        tiemout: 1h");
			ta.dispatchEvent(new Event("input"));
			return true;
		})()`),
		waitJS(`document.querySelector('#diagnostics li.error[data-line="15"]') !== null`),
		waitJS(`document.querySelector('.gutter div.err[data-line="15"]') !== null`),
		shot(dir, "editor"),
	)
	if err != nil {
		failed(t, ctx, dir, err)
	}
	msg := text(t, ctx, `#diagnostics li.error`)
	if !strings.Contains(msg, "tiemout") || !strings.Contains(msg, "line 15") {
		t.Errorf("diagnostic: %q", msg)
	}
	if b, _ := os.ReadFile(filepath.Join(f.dir, "order.yaml")); string(b) != orderFlow {
		t.Error("typing changed the file")
	}
}

// With a token, the console asks for it once, keeps it for the tab, and
// every call then carries it.
func TestBrowserAsksForTheToken(t *testing.T) {
	ctx := browser(t)
	dir := shots(t)
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "memflow.db"), "memflow", Options{Token: "s3cret-token"})
	f.auth = "s3cret-token"
	want(t, f.post("/api/v1/workflows/order/start", `{"id":"tok-1","args":{"item":"pen"}}`), 201)
	steps, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err := chromedp.Do(steps,
		chromedp.Navigate(f.srv.URL+"/instances"),
		chromedp.WaitVisible(`#token-input`),
		shot(dir, "token"),
		chromedp.SendKeys(`#token-input`, "s3cret-token"),
		chromedp.Click(`#token-form button[type=submit]`),
		chromedp.WaitVisible(`a[href="/instances/tok-1"]`),
		chromedp.Click(`a[href="/instances/tok-1"]`),
		waitJS(`document.querySelectorAll(".timeline li").length >= 2`), // the event stream carries it too
	)
	if err != nil {
		failed(t, ctx, dir, err)
	}
	kept, err := chromedp.Run(steps, chromedp.Evaluate[string](`sessionStorage.getItem("memflow-token")`))
	if err != nil || kept != "s3cret-token" {
		t.Errorf("token kept as %q: %v", kept, err)
	}
	cookies, err := chromedp.Run(steps, chromedp.Evaluate[string](`document.cookie`))
	if err != nil || cookies != "" {
		t.Errorf("cookies %q: %v", cookies, err)
	}
}
