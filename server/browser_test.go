package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/zoomdiff/zoomdiff/diffusion"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/methods"
	"github.com/zoomdiff/zoomdiff/models"
	"github.com/zoomdiff/zoomdiff/render"
)

// chromiumPath is where Debian's chromium package puts the browser;
// ZOOMDIFF_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("ZOOMDIFF_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browserOrSkip returns the Chromium to drive, or skips the test where
// there is none (so that `go test ./...` passes on a machine with only Go;
// .ci/run installs it) and in -short mode.
func browserOrSkip(t *testing.T) string {
	t.Helper()
	exe := chromiumPath()
	if _, err := os.Stat(exe); err != nil {
		t.Skipf("skipping the browser test: no Chromium at %s (apt-get install chromium, or set ZOOMDIFF_CHROMIUM)", exe)
	}
	if testing.Short() {
		t.Skip("skipping the browser test in -short mode")
	}
	return exe
}

// TestBrowser drives the web page in headless Chromium: upload a 40×30
// PNG, ask for ×2 bicubic, and check that a real 80×60 image appears (and
// its comparison image), then that the generate tab reports the missing
// generator. It is skipped where Chromium is not installed, so that
// `go test ./...` passes on a machine with only Go; .ci/run installs it.
func TestBrowser(t *testing.T) {
	exe := browserOrSkip(t)
	_, ts := newTestServer(t, testConfig(nil))
	dir := t.TempDir()
	input := filepath.Join(dir, "input.png")
	if err := os.WriteFile(input, pngBytes(t, 40, 30, false), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, exceptions := startBrowser(t, exe, dir)
	checkUpscaleForm(t, ctx, ts.URL, input)
	checkSampleStatus(t, ctx)
	checkGenerateTab(t, ctx)
	if e := exceptions(); len(e) > 0 {
		t.Errorf("page threw: %q", e)
	}
}

// TestBrowserNote: a coarse JPEG upscaled with the model (bicubic standing
// in, noteConfig) shows methods.Note under the result; the PNG upscaled
// next hides it again.
func TestBrowserNote(t *testing.T) {
	exe := browserOrSkip(t)
	_, ts := newTestServer(t, noteConfig())
	dir := t.TempDir()
	coarse, clean := filepath.Join(dir, "coarse.jpg"), filepath.Join(dir, "clean.png")
	if err := os.WriteFile(coarse, jpegBytes(t, 40, 30, methods.RealJPEGQuality-30), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clean, pngBytes(t, 40, 30, false), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, exceptions := startBrowser(t, exe, dir)
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/"), chromedp.WaitReady(chromedp.CSS(`#method option[value="model"]`))); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		note bool
	}{{coarse, true}, {clean, false}} {
		err := chromedp.Do(ctx,
			uploadFor(c.file, "model"),
			chromedp.SetValue(chromedp.ID("scale"), "2"),
			chromedp.Click(chromedp.ID("go")),
			pollTrue(`document.getElementById('status').textContent.startsWith('Done')`, 60*time.Second),
		)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
			const n = document.getElementById('note');
			return !n.hidden && n.textContent.includes('compressed photos');
		})()`))
		if err != nil || shown != c.note {
			t.Errorf("%s: note shown %v (%v), want %v", filepath.Base(c.file), shown, err, c.note)
		}
	}
	if e := exceptions(); len(e) > 0 {
		t.Errorf("page threw: %q", e)
	}
}

// stagedStreamer is the streaming fake stopped in each stage until the
// test lets it go on: half-way through its sampling (reported), then at
// its first band of rows, which the server renders while encoding.
type stagedStreamer struct {
	*streamer
	report  func(done, total int)
	sampled chan struct{} // closed to end the sampling
}

func (s *stagedStreamer) SetProgress(f func(done, total int)) { s.report = f }

func (s *stagedStreamer) Stream(ctx context.Context, lr *imageio.Image, w, h, n int) (render.Source, error) {
	s.report(1, 2)
	<-s.sampled
	return s.streamer.Stream(ctx, lr, w, h, n)
}

// TestBrowserStages: while a job runs, the page names its stage with the
// progress where it is measured (the sampling), and shows the encoding,
// which is not, with an indeterminate bar. Before, it warns of an output
// over the server's limit by the limit of the method chosen.
func TestBrowserStages(t *testing.T) {
	exe := browserOrSkip(t)
	rendered := make(chan struct{})
	st := &stagedStreamer{streamer: &streamer{fail: func(int) error { <-rendered; return nil }}, sampled: make(chan struct{})}
	cfg := withMethod("staged", "stops in each stage", st)
	// Under the 80×60 output: the page warns for a method that makes whole
	// images, not for one that streams.
	cfg.MaxOutputPixels = 4000
	_, ts := newTestServer(t, cfg)
	dir := t.TempDir()
	input := filepath.Join(dir, "input.png")
	if err := os.WriteFile(input, pngBytes(t, 40, 30, false), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, exceptions := startBrowser(t, exe, dir)
	choose := func(method string, warned bool) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			return chromedp.Do(ctx,
				chromedp.SetValue(chromedp.ID("method"), method),
				pollTrue(fmt.Sprintf(`(() => {
					document.getElementById('method').dispatchEvent(new Event('change'));
					return document.getElementById('out-info').textContent.includes('over the server') === %v;
				})()`, warned), 5*time.Second))
		})
	}
	status := func(text, bar string) chromedp.Action[chromedp.Void] {
		return pollTrue(fmt.Sprintf(`(() => {
			const p = document.getElementById('progress');
			const bar = p.classList.contains('indeterminate') ? 'indeterminate' : p.firstElementChild.style.width;
			return document.getElementById('status').textContent === %s && !p.hidden && bar === %s;
		})()`, strconv.Quote(text), strconv.Quote(bar)), 20*time.Second)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitReady(chromedp.CSS(`#method option[value="staged"]`)),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{input}),
		pollTrue(`!document.getElementById('go').disabled`, 20*time.Second),
		chromedp.SetValue(chromedp.ID("scale"), "2"),
		choose("bicubic", true),
		choose("staged", false),
		chromedp.Click(chromedp.ID("go")),
		status("Sampling… 50%", "50%"),
	)
	if err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("waiting for the sampling: %v (status %q)", err, text)
	}
	close(st.sampled)
	if err := chromedp.Do(ctx, status("Rendering the result…", "indeterminate")); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("waiting for the encoding: %v (status %q)", err, text)
	}
	close(rendered)
	if err := chromedp.Do(ctx, pollTrue(`document.getElementById('status').textContent.startsWith('Done')`, 20*time.Second)); err != nil {
		t.Fatalf("waiting for the result: %v", err)
	}
	if e := exceptions(); len(e) > 0 {
		t.Errorf("page threw: %q", e)
	}
}

// TestBrowserCancel: cancelling a running job on the page says so, and
// nothing that comes after (its event stream ending) turns it into an
// error.
func TestBrowserCancel(t *testing.T) {
	exe := browserOrSkip(t)
	st := &stagedStreamer{streamer: &streamer{}, sampled: make(chan struct{})}
	defer close(st.sampled)
	cfg := withMethod("staged", "stops in each stage", st)
	_, ts := newTestServer(t, cfg)
	dir := t.TempDir()
	input := filepath.Join(dir, "input.png")
	if err := os.WriteFile(input, pngBytes(t, 40, 30, false), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, exceptions := startBrowser(t, exe, dir)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitReady(chromedp.CSS(`#method option[value="staged"]`)),
		uploadFor(input, "staged"),
		chromedp.SetValue(chromedp.ID("scale"), "2"),
		chromedp.Click(chromedp.ID("go")),
		pollTrue(`document.getElementById('status').textContent.startsWith('Sampling')`, 20*time.Second),
		chromedp.Click(chromedp.ID("go")), // now Cancel
		pollTrue(`document.getElementById('go').textContent === 'Upscale'`, 20*time.Second),
	)
	if err != nil {
		t.Fatalf("driving the page: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // anything late would land now
	status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const s = document.getElementById('status');
		return s.textContent + (s.classList.contains('error') ? ' (error)' : '');
	})()`))
	if err != nil || status != "Cancelled." {
		t.Errorf("status after cancelling %q (%v), want Cancelled.", status, err)
	}
	// The viewer, emptied for the job, says that none came rather than
	// that it is still working.
	info, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("result-info")))
	if err != nil || info != "Cancelled: no result." {
		t.Errorf("viewer after cancelling %q (%v), want Cancelled: no result.", info, err)
	}
	if e := exceptions(); len(e) > 0 {
		t.Errorf("page threw: %q", e)
	}
}

// TestBrowserKeyboard drives the page from the keyboard: the arrow keys
// move between the tabs (only the active one in the Tab order), Enter in
// a field upscales (at a scale finer than a tenth, which the form must
// let through), Enter again while the job runs does not cancel it, and
// the arrow keys move the before/after slider.
func TestBrowserKeyboard(t *testing.T) {
	exe := browserOrSkip(t)
	st := &stagedStreamer{streamer: &streamer{}, sampled: make(chan struct{})}
	_, ts := newTestServer(t, withMethod("staged", "stops in each stage", st))
	dir := t.TempDir()
	input := filepath.Join(dir, "input.png")
	if err := os.WriteFile(input, pngBytes(t, 40, 30, false), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, exceptions := startBrowser(t, exe, dir)
	tabs := func(active string) chromedp.Action[chromedp.Void] {
		return pollTrue(fmt.Sprintf(`(() => {
			const a = document.activeElement, g = document.getElementById('tab-generate'), u = document.getElementById('tab-upscale');
			return a.id === 'tab-' + %[1]q && !document.getElementById('panel-' + %[1]q).hidden &&
				(a === g ? u : g).tabIndex === -1 && a.tabIndex === 0 && a.getAttribute('aria-selected') === 'true';
		})()`, active), 5*time.Second)
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitReady(chromedp.CSS(`#method option[value="staged"]`)),
		chromedp.Focus(chromedp.ID("tab-upscale")),
		chromedp.KeyEvent(kb.ArrowRight),
		tabs("generate"),
		chromedp.KeyEvent(kb.ArrowLeft),
		tabs("upscale"),
	)
	if err != nil {
		t.Fatalf("moving between the tabs: %v", err)
	}
	err = chromedp.Do(ctx,
		uploadFor(input, "staged"),
		chromedp.SetValue(chromedp.ID("scale"), ""),
		chromedp.SendKeys(chromedp.ID("scale"), "2.25"),
		pollTrue(`document.getElementById('out-info').textContent.startsWith('Output 90×68')`, 5*time.Second),
		chromedp.KeyEvent("\r"),
		pollTrue(`document.getElementById('status').textContent.startsWith('Sampling')`, 20*time.Second),
		// Enter again, in the field: the job goes on.
		chromedp.KeyEvent("\r"),
		chromedp.Sleep(500*time.Millisecond),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("upscaling with Enter: %v (status %q)", err, status)
	}
	running, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('status').textContent + ' / ' + document.getElementById('go').textContent`))
	if err != nil || running != "Sampling… 50% / Cancel" {
		t.Errorf("after Enter in a field while the job runs: %q (%v), want it still running", running, err)
	}
	close(st.sampled)
	type size struct{ W, H int }
	res, err := chromedp.Run(ctx, chromedp.Poll[size](`(() => {
		const i = document.getElementById('result'), s = document.getElementById('slider');
		if (i.hidden || !i.complete || s.hidden) return null;
		s.focus();
		return {W: i.naturalWidth, H: i.naturalHeight};
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatalf("waiting for the result and its comparison: %v", err)
	}
	if res.W != 90 || res.H != 68 {
		t.Errorf("result %dx%d, want 90x68 (×2.25 of 40×30)", res.W, res.H)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.ArrowLeft)); err != nil {
		t.Fatalf("moving the slider: %v", err)
	}
	split, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('compare-box').style.getPropertyValue('--split')`))
	if err != nil || split != "48%" {
		t.Errorf("split after two left arrows on the slider %q (%v), want 48%%", split, err)
	}
	if e := exceptions(); len(e) > 0 {
		t.Errorf("page threw: %q", e)
	}
}

// TestBrowserRefused: a file that is no image (text named .png) is
// flagged before it is sent, the server's refusal shows as a sentence, and
// the result before it stays on show; a scale beyond the server's is
// flagged before it is sent.
func TestBrowserRefused(t *testing.T) {
	exe := browserOrSkip(t)
	_, ts := newTestServer(t, testConfig(nil))
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.png"), filepath.Join(dir, "bad.png")
	if err := os.WriteFile(good, pngBytes(t, 40, 30, false), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("this is not a picture\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, exceptions := startBrowser(t, exe, dir)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitReady(chromedp.CSS(`#method option[value="bicubic"]`)),
		uploadFor(good, "bicubic"),
		chromedp.SetValue(chromedp.ID("scale"), "2"),
		chromedp.Click(chromedp.ID("go")),
		pollTrue(`document.getElementById('status').textContent.startsWith('Done')`, 30*time.Second),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{bad}),
		pollTrue(`(() => {
			const s = document.getElementById('status');
			return s.classList.contains('error') && s.textContent.includes('does not look like an image') &&
				document.getElementById('input-info').textContent.startsWith('bad.png') &&
				!document.getElementById('drop-text').hidden;
		})()`, 20*time.Second),
		chromedp.Click(chromedp.ID("go")),
		pollTrue(`(() => {
			const s = document.getElementById('status');
			return s.classList.contains('error') && s.textContent.startsWith('The upload is not') &&
				document.getElementById('go').textContent === 'Upscale';
		})()`, 20*time.Second),
	)
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("driving the page: %v (status %q)", err, status)
	}
	kept, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const i = document.getElementById('result');
		return (i.hidden ? 'hidden' : i.naturalWidth + 'x' + i.naturalHeight) + ' / ' + document.getElementById('result-info').textContent;
	})()`))
	if err != nil || !strings.HasPrefix(kept, "80x60 / 80×60 · bicubic") {
		t.Errorf("viewer after a refused upload: %q (%v), want the last result", kept, err)
	}
	err = chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{good}),
		pollTrue(`document.getElementById('status').textContent === ''`, 20*time.Second),
		chromedp.SetValue(chromedp.ID("scale"), ""),
		chromedp.SendKeys(chromedp.ID("scale"), "40"),
		pollTrue(`(() => {
			const o = document.getElementById('out-info');
			return o.classList.contains('warn') && o.textContent.includes("outside the server's scales, ×0.1 to ×16");
		})()`, 5*time.Second),
	)
	if err != nil {
		info, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out-info")))
		t.Errorf("warning of a scale over the limit: %v (%q)", err, info)
	}
	if e := exceptions(); len(e) > 0 {
		t.Errorf("page threw: %q", e)
	}
}

// startBrowser starts headless Chromium (exe, its profile under dir) for
// the test's lifetime and returns a context of 90 seconds to drive it and
// a function that returns the uncaught exceptions the pages threw.
func startBrowser(t *testing.T, exe, dir string) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Containers often have a tiny /dev/shm, which crashes renderers.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	// The first call starts the browser, which lives as long as the context
	// of that call: start it without the steps' timeout, but give up (and
	// kill it) if it has not started within a minute, rather than hang
	// until the test binary's own timeout.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", exe, err)
		}
	case <-time.After(time.Minute):
		cancelBrowser()
		t.Fatalf("%s did not start within a minute", exe)
	}
	ctx, cancel := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(cancel)

	// Any uncaught exception on the page fails the test.
	var mu sync.Mutex
	var exceptions []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() {
				mu.Lock()
				exceptions = append(exceptions, m.String())
				mu.Unlock()
			}
		}
	}()
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), exceptions...)
	}
}

// checkUpscaleForm uploads input on the page at url, upscales it ×2 with
// bicubic and checks the result, the comparison, the status and the
// download link.
func checkUpscaleForm(t *testing.T, ctx context.Context, url, input string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		// The method list is filled from /v1/models.
		chromedp.WaitReady(chromedp.CSS(`#method option[value="bicubic"]`)),
		// And the temperature's help states the default schedule from it.
		pollTrue(fmt.Sprintf(`document.getElementById('temperature').parentElement.title.includes(%s)`, strconv.Quote(diffusion.TemperatureSchedule())), 5*time.Second),
		// And the steps' help what the step counts sample.
		pollTrue(fmt.Sprintf(`document.getElementById('steps').parentElement.title.includes(%s)`, strconv.Quote(models.StepsHelp())), 5*time.Second),
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{input}),
		pollTrue(`!document.getElementById('go').disabled`, 20*time.Second),
		chromedp.SetValue(chromedp.ID("method"), "bicubic"),
		// A deterministic method draws no samples: their fields go grey.
		pollTrue(`(() => {
			document.getElementById('method').dispatchEvent(new Event('change'));
			return ['samples', 'seed', 'steps', 'temperature', 'detail'].every((id) => document.getElementById(id).disabled);
		})()`, 5*time.Second),
		chromedp.SetValue(chromedp.ID("scale"), "2"),
		chromedp.Click(chromedp.ID("go")),
	)
	if err != nil {
		t.Fatalf("driving the upscale form: %v", err)
	}
	type size struct{ W, H int }
	result, err := chromedp.Run(ctx, chromedp.Poll[size](`(() => {
		const i = document.getElementById('result');
		return !i.hidden && i.complete && i.naturalWidth > 0 ? {W: i.naturalWidth, H: i.naturalHeight} : null;
	})()`, chromedp.WithPollingTimeout(60*time.Second)))
	if err != nil {
		status, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
		t.Fatalf("waiting for the result image: %v (status %q)", err, status)
	}
	if result.W != 80 || result.H != 60 {
		t.Errorf("result is %dx%d, want 80x60 (×2 of 40×30)", result.W, result.H)
	}
	before, err := chromedp.Run(ctx, chromedp.Poll[int](`(() => {
		const i = document.getElementById('before');
		return !i.hidden && i.complete ? i.naturalWidth : 0;
	})()`, chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil || before != 80 {
		t.Errorf("comparison image: width %d, %v; want 80", before, err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("status")))
	if err != nil || !strings.HasPrefix(status, "Done") {
		t.Errorf("status %q (%v), want Done…", status, err)
	}
	download, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("download"), "href"))
	if err != nil || !strings.Contains(download.Value, "/v1/jobs/") {
		t.Errorf("download link %q (%v)", download.Value, err)
	}
}

// checkGenerateTab checks the generate tab on the page already open (whose
// server has no generator: it says so), then on a server with a
// class-conditional generator.
func checkGenerateTab(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Click(chromedp.ID("tab-generate")),
		chromedp.WaitVisible(chromedp.ID("ggo")),
		chromedp.Click(chromedp.ID("ggo")),
		pollTrue(`document.getElementById('gstatus').textContent.includes('not available')`, 20*time.Second),
	)
	if err != nil {
		t.Fatalf("driving the generate tab: %v", err)
	}

	// With a class-conditional generator the tab offers its classes, and
	// the one chosen reaches the generator (the fake draws class k at
	// level (k+1)/3: dog, the second, at 2/3).
	cfg := testConfig(nil)
	cfg.Generator = fakeGen{classes: []string{"cat", "dog"}}
	_, ts2 := newTestServer(t, cfg)
	err = chromedp.Do(ctx,
		chromedp.Navigate(ts2.URL+"/"),
		chromedp.Click(chromedp.ID("tab-generate")),
		chromedp.WaitReady(chromedp.CSS(`#gclass option[value="dog"]`)),
		chromedp.SetValue(chromedp.ID("gclass"), "dog"),
		chromedp.Click(chromedp.ID("ggo")),
		pollTrue(`(() => { const i = document.querySelector('#gallery img'); return !!i && i.complete && i.naturalWidth > 0; })()`, 30*time.Second),
	)
	if err != nil {
		t.Fatalf("generating a class: %v", err)
	}
	level, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(() => {
		const i = document.querySelector('#gallery img'), c = document.createElement('canvas');
		c.width = i.naturalWidth; c.height = i.naturalHeight;
		const g = c.getContext('2d'); g.drawImage(i, 0, 0);
		return g.getImageData(0, 0, 1, 1).data[0];
	})()`))
	if err != nil || level < 165 || level > 175 {
		t.Errorf("generated class dog: level %d (%v), want 170 (2/3)", level, err)
	}

	// A batch goes first in the gallery, in its own order.
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("gn"), "2"),
		chromedp.Click(chromedp.ID("ggo")),
		pollTrue(`document.querySelectorAll('#gallery figure').length === 3`, 30*time.Second),
	)
	if err != nil {
		t.Fatalf("generating two images: %v", err)
	}
	captions, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#gallery figcaption')].map((c) => c.firstChild.textContent)`))
	if err != nil || len(captions) != 3 || !strings.HasSuffix(captions[0], "1 of 2") || !strings.HasSuffix(captions[1], "2 of 2") {
		t.Errorf("gallery captions %q (%v), want the batch of two first, in order", captions, err)
	}
}

// checkSampleStatus checks the status line of a running job drawing two
// samples on the page already open: which sample it draws, from the
// progress, which gives each sample half (its condition, then its
// sampling).
func checkSampleStatus(t *testing.T, ctx context.Context) {
	t.Helper()
	for _, c := range []struct {
		stage    string
		progress float64
		want     string
	}{
		{"", 0, "Sample 1 of 2: Working…"},
		{"condition", 0.05, "Sample 1 of 2: Preparing the input… 5%"},
		{"sampling", 0.05, "Sample 1 of 2: Sampling… 5%"},
		{"sampling", 0.5, "Sample 1 of 2: Sampling… 50%"},
		{"", 0.5, "Sample 2 of 2: Working… 50%"},
		{"condition", 0.5, "Sample 2 of 2: Preparing the input… 50%"},
		{"sampling", 0.75, "Sample 2 of 2: Sampling… 75%"},
		{"sampling", 1, "Sample 2 of 2: Sampling… 100%"},
		{"encoding", 1, "Rendering the result…"},
	} {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`describe({state: 'running', stage: %q, progress: %v}, 2)`, c.stage, c.progress)))
		if err != nil || got != c.want {
			t.Errorf("stage %q at %v: status %q (%v), want %q", c.stage, c.progress, got, err, c.want)
		}
	}
}

// uploadFor picks file in the form, waits until the page can send it and
// chooses method, as a user does before pressing Upscale.
func uploadFor(file, method string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}),
		pollTrue(`!document.getElementById('go').disabled`, 20*time.Second),
		chromedp.SetValue(chromedp.ID("method"), method),
		pollTrue(`document.getElementById('method').dispatchEvent(new Event('change'))`, 5*time.Second),
	)
}

// pollTrue waits until a JavaScript expression is truthy.
func pollTrue(expr string, timeout time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(timeout))(ctx, t)
		return err
	})
}
