package evaluate

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"github.com/zoomdiff/zoomdiff/dataset/datatest"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/zoomdiff/zoomdiff/degrade"
	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/render"
	"github.com/zoomdiff/zoomdiff/resample"
)

// published holds the bicubic PSNR-Y / SSIM-Y of the SR literature
// (MISSION.md §3).
var published = map[string]map[float64][2]float64{
	"Set5":  {2: {33.66, 0.9299}, 3: {30.39, 0.8682}, 4: {28.42, 0.8104}},
	"Set14": {2: {30.24, 0.8688}, 3: {27.55, 0.7742}, 4: {26.00, 0.7027}},
}

func TestBicubicReproducesPublishedNumbers(t *testing.T) {
	data := datatest.Path(t)
	for _, set := range []string{"Set5", "Set14"} {
		d, err := LoadDataset(filepath.Join(data, "val", set))
		if err != nil {
			t.Skipf("skipping: %v", err)
		}
		up, err := render.Method(render.Resampler{}), error(nil)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Run(context.Background(), d, up, Config{Scales: []float64{2, 3, 4}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			want := published[set][r.Scale]
			t.Logf("%s ×%v: PSNR-Y %.4f (published %.2f), SSIM-Y %.5f (published %.4f)", set, r.Scale, r.PSNRY, want[0], r.SSIMY, want[1])
			if math.Abs(r.PSNRY-want[0]) > 0.03 || math.Abs(r.SSIMY-want[1]) > 0.003 {
				t.Errorf("%s ×%v: got %.4f / %.5f, published %.2f / %.4f", set, r.Scale, r.PSNRY, r.SSIMY, want[0], want[1])
			}
		}
	}
}

// texture is a colour gradient with a ripple, fine enough that shrinking
// loses some of it, so larger scales must score worse.
func texture(w, h int) *imageio.Image {
	m := imageio.New(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 3 * (y*w + x)
			r := float32(0.2 * math.Sin(float64(x)*0.9) * math.Cos(float64(y)*0.6))
			m.Pix[i], m.Pix[i+1], m.Pix[i+2] = 0.3*float32(x)/float32(w)+0.4+r, 0.3*float32(y)/float32(h)+0.3, 0.5-r
		}
	}
	m.Quantize8()
	return m
}

func TestDegrade(t *testing.T) {
	for _, c := range []struct {
		w, h   int
		s      float64
		lw, lh int
		cw, ch int
	}{
		{11, 7, 3, 3, 2, 9, 6},        // modcrop
		{12, 8, 4, 3, 2, 12, 8},       // already a multiple
		{11, 7, 2.5, 4, 2, 10, 5},     // 4·2.5 = 10, 2·2.5 = 5
		{20, 20, 1.7, 11, 11, 19, 19}, // 11·1.7 = 18.7 → 19
	} {
		crop, lr, err := Degrade(texture(c.w, c.h), c.s)
		if err != nil {
			t.Fatal(err)
		}
		if lr.W != c.lw || lr.H != c.lh || crop.W != c.cw || crop.H != c.ch {
			t.Errorf("%dx%d ×%v: LR %dx%d HR %dx%d, want LR %dx%d HR %dx%d", c.w, c.h, c.s, lr.W, lr.H, crop.W, crop.H, c.lw, c.lh, c.cw, c.ch)
		}
		for _, v := range lr.Pix {
			if q := v * 255; q != float32(math.Round(float64(q))) {
				t.Fatalf("LR value %v is not on the 8-bit grid", v)
			}
		}
	}
	if _, _, err := Degrade(texture(3, 3), 4); err == nil {
		t.Error("degraded a 3×3 image by ×4")
	}
	if _, _, err := Degrade(texture(8, 8), math.NaN()); err == nil {
		t.Error("accepted a NaN scale")
	}
	if ShaveFor(4) != 4 || ShaveFor(2.5) != 3 {
		t.Error("ShaveFor")
	}
}

func writeSet(t *testing.T, n int) Dataset {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i < n; i++ {
		m := texture(40+i, 36)
		if err := imageio.Write(filepath.Join(dir, string(rune('a'+i))+".png"), m); err != nil {
			t.Fatal(err)
		}
	}
	d, err := LoadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type constUpscaler struct{ w, h int }

func (constUpscaler) Name() string { return "const" }
func (c constUpscaler) Upscale(_ context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	if c.w > 0 {
		w, h = c.w, c.h
	}
	return imageio.New(w, h), nil
}

func TestRunAndReports(t *testing.T) {
	d := writeSet(t, 3)
	if len(d.Files) != 3 {
		t.Fatalf("dataset has %d files", len(d.Files))
	}
	up := render.Resampler{}
	rs, err := Run(context.Background(), d, up, Config{Scales: []float64{2, 3.5}, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Images != 3 || rs[1].Scale != 3.5 || len(rs[0].PerImage) != 3 || rs[1].Shave != 4 {
		t.Fatalf("results %+v", rs)
	}
	// Plausible scores, better at ×2 than ×3.5.
	if rs[0].PSNRY < 20 || rs[0].PSNRY <= rs[1].PSNRY+1 || rs[0].SSIMY < 0.5 || rs[0].LRPSNR < 30 {
		t.Errorf("implausible scores %+v", rs)
	}
	bad, err := Run(context.Background(), d, constUpscaler{}, Config{Scales: []float64{2}})
	if err != nil || bad[0].PSNRY > rs[0].PSNRY-10 {
		t.Errorf("a black output scored %+v (%v)", bad, err)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rs); err != nil {
		t.Fatal(err)
	}
	var decoded []map[string]any
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dataset", "method", "scale", "images", "psnr_y", "ssim_y", "psnr_rgb", "lr_psnr"} {
		if _, ok := decoded[0][k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, js.String())
		}
	}
	var tb bytes.Buffer
	if err := WriteTable(&tb, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tb.String(), "×3.5") || strings.Count(tb.String(), "\n") != 3 {
		t.Errorf("table:\n%s", tb.String())
	}
}

func TestRunErrors(t *testing.T) {
	d := writeSet(t, 2)
	if _, err := Run(context.Background(), d, constUpscaler{w: 5, h: 5}, Config{Scales: []float64{2}}); err == nil || !strings.Contains(err.Error(), "returned 5x5") {
		t.Errorf("wrong output size: %v", err)
	}
	if _, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{1}}); err == nil {
		t.Error("accepted scale 1")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, d, render.Resampler{}, Config{Scales: []float64{2}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled run: %v", err)
	}
	if _, err := LoadDataset(t.TempDir()); err == nil {
		t.Error("loaded an empty dataset")
	}
	// A folder with images but none on the held-out list says so.
	if _, err := LoadDataset(filepath.Dir(d.Files[0]) + "@heldout"); err == nil || !strings.Contains(err.Error(), "none of the images in "+filepath.Dir(d.Files[0])+" is on the held-out list") {
		t.Errorf("DIR@heldout of a folder without held-out photos: %v", err)
	}
}

// noisySampler is bicubic plus independent noise per sample: its samples'
// mean must score above a single sample, and its spread is the noise.
type noisySampler struct{ std float64 }

func (noisySampler) Name() string { return "noisy" }
func (n noisySampler) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	outs, err := n.UpscaleSamples(ctx, lr, w, h, 1)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}
func (n noisySampler) UpscaleSamples(_ context.Context, lr *imageio.Image, w, h, k int) ([]*imageio.Image, error) {
	base, err := resample.Image(lr, w, h, resample.Options{Method: resample.Bicubic})
	if err != nil {
		return nil, err
	}
	outs := make([]*imageio.Image, k)
	for s := range outs {
		rng := rand.New(rand.NewPCG(uint64(s), 9))
		o := base.Clone()
		for i := range o.Pix {
			o.Pix[i] += float32(n.std * rng.NormFloat64())
		}
		outs[s] = o
	}
	return outs, nil
}

func TestRunSamples(t *testing.T) {
	d := writeSet(t, 2)
	rs, err := Run(context.Background(), d, noisySampler{0.04}, Config{Scales: []float64{2}, Samples: 8, FloatOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	t.Logf("single %.2f dB, mean of 8 %.2f dB, diversity %.2f grey levels", r.PSNRY, r.MeanPSNRY, r.DiversityStd)
	if r.Samples != 8 || !(r.MeanPSNRY > r.PSNRY+3) {
		t.Errorf("mean of 8 noisy samples %.2f dB against %.2f for one: want 3 dB better", r.MeanPSNRY, r.PSNRY)
	}
	// The population std of 8 draws of σ = 0.04 is about 0.04·√(7/8) = 9.5 grey levels.
	if math.Abs(r.DiversityStd-9.5) > 1 {
		t.Errorf("diversity %.2f grey levels, want the noise's 9.5", r.DiversityStd)
	}
	var buf bytes.Buffer
	if err := WriteTable(&buf, rs); err != nil || !strings.Contains(buf.String(), "mean PSNR-Y") {
		t.Errorf("table without the sample columns: %v\n%s", err, buf.String())
	}
	if _, err := Run(context.Background(), d, constUpscaler{}, Config{Scales: []float64{2}, Samples: 2}); err == nil {
		t.Error("a deterministic method was asked for 2 samples without complaint")
	}
}

// sizeRecorder upscales bicubically and records each request's sizes.
type sizeRecorder struct {
	mu    sync.Mutex
	sizes [][4]int // LR w, h, output w, h
}

func (*sizeRecorder) Name() string { return "recorder" }
func (r *sizeRecorder) Upscale(ctx context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, [4]int{lr.W, lr.H, w, h})
	r.mu.Unlock()
	return render.Resampler{}.Upscale(ctx, lr, w, h)
}

func TestRunCrop(t *testing.T) {
	d := writeSet(t, 2) // 40×36 and 41×36
	rec := &sizeRecorder{}
	rs, err := Run(context.Background(), d, rec, Config{Scales: []float64{4}, Crop: 24})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Crop != 24 || len(rec.sizes) != 2 {
		t.Fatalf("results %+v, calls %v", rs, rec.sizes)
	}
	for _, s := range rec.sizes {
		if s != [4]int{6, 6, 24, 24} {
			t.Errorf("a 24-pixel centre crop at ×4 asked for %v, want LR 6×6 to 24×24", s)
		}
	}
	// The crop is the centre: scoring the cropped file whole gives the same.
	img, err := imageio.Read(d.Files[0])
	if err != nil {
		t.Fatal(err)
	}
	c, err := CenterCrop(img, 24)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := img.Crop(8, 6, 24, 24); !reflect.DeepEqual(c.Pix, want.Pix) {
		t.Error("CenterCrop is not the centre")
	}
	dir := t.TempDir()
	if err := imageio.Write(filepath.Join(dir, "c.png"), c); err != nil {
		t.Fatal(err)
	}
	one, _ := LoadDataset(dir)
	whole, err := Run(context.Background(), one, render.Resampler{}, Config{Scales: []float64{4}, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	cropped, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{4}, Crop: 24, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(whole[0].PSNRY-cropped[0].PerImage[0].PSNRY) > 1e-9 {
		t.Errorf("cropped run %.4f dB, the crop as a file %.4f dB", cropped[0].PerImage[0].PSNRY, whole[0].PSNRY)
	}
	var tb bytes.Buffer
	if err := WriteTable(&tb, cropped); err != nil || !strings.Contains(tb.String(), "(centre 24)") {
		t.Errorf("table does not name the crop (%v):\n%s", err, tb.String())
	}
	// A side beyond the image keeps it whole; a negative side is refused.
	if big, err := CenterCrop(img, 1000); err != nil || big.W != img.W || big.H != img.H {
		t.Errorf("CenterCrop beyond the image: %v", err)
	}
	if _, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{2}, Crop: -1}); err == nil {
		t.Error("accepted a negative crop")
	}
}

// TestRunPerceptual checks the perceptual columns: GMSD everywhere (worse
// for a black output than for bicubic), NIQE only where the shaved output
// holds two 96-pixel blocks, and their JSON fields.
func TestRunPerceptual(t *testing.T) {
	dir := t.TempDir()
	for i, side := range []int{40, 200} {
		if err := imageio.Write(filepath.Join(dir, string(rune('a'+i))+".png"), texture(side, side)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := LoadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	up := render.Resampler{}
	rs, err := Run(context.Background(), d, up, Config{Scales: []float64{2}, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	if r.NIQEImages != 1 || r.PerImage[0].NIQE != 0 || !(r.PerImage[1].NIQE > 0) || r.NIQE != r.PerImage[1].NIQE {
		t.Errorf("NIQE of a 40- and a 200-pixel image: %+v", r)
	}
	black, err := Run(context.Background(), d, constUpscaler{}, Config{Scales: []float64{2}})
	if err != nil {
		t.Fatal(err)
	}
	if !(r.GMSD > 0 && black[0].GMSD > r.GMSD) {
		t.Errorf("GMSD bicubic %v, black %v: want 0 < bicubic < black", r.GMSD, black[0].GMSD)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rs); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"gmsd"`, `"niqe"`, `"niqe_images": 1`} {
		if !strings.Contains(js.String(), k) {
			t.Errorf("JSON lacks %s: %s", k, js.String())
		}
	}
	var cs bytes.Buffer
	if err := WriteCSV(&cs, rs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&cs).ReadAll()
	if err != nil || len(rows) != 2 || len(rows[0]) != len(rows[1]) || rows[0][11] != "niqe" || rows[1][11] != strconv.FormatFloat(r.NIQE, 'f', -1, 64) {
		t.Errorf("CSV %q: %v", rows, err)
	}
}

// TestRunDegradedInput checks Config.Input: the LR of every method is the
// same noisy, compressed image (so two runs agree), scores stay against
// the clean HR (so they fall), and the result names the degradation.
func TestRunDegradedInput(t *testing.T) {
	dir := t.TempDir()
	if err := imageio.Write(filepath.Join(dir, "a.png"), texture(64, 48)); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	up := render.Resampler{}
	run := func(spec string) Result {
		in, err := degrade.ParseInput(spec)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Run(context.Background(), d, up, Config{Scales: []float64{4}, Input: in})
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	clean, noisy, again, jpeg := run(""), run("noise:10"), run("noise:10"), run("jpeg:40")
	if noisy.PSNRY != again.PSNRY {
		t.Errorf("two runs with the same noise disagree: %v, %v", noisy.PSNRY, again.PSNRY)
	}
	if !(noisy.PSNRY < clean.PSNRY-0.1 && jpeg.PSNRY < clean.PSNRY-0.1) {
		t.Errorf("PSNR-Y clean %.3f, noise σ10 %.3f, JPEG q40 %.3f: degraded inputs should score lower", clean.PSNRY, noisy.PSNRY, jpeg.PSNRY)
	}
	if clean.Degradation != "" || noisy.Degradation != "noise:10" || jpeg.Degradation != "jpeg:40" {
		t.Errorf("degradations recorded as %q, %q, %q", clean.Degradation, noisy.Degradation, jpeg.Degradation)
	}
	if _, err := degrade.ParseInput("jpeg:0"); err == nil {
		t.Error("jpeg:0 accepted")
	}
}

// ValidateCrops of bicubic itself scores exactly bicubic's PSNR; images
// smaller than the scale are skipped; none left is an error.
func TestValidateCrops(t *testing.T) {
	imgs := []*imageio.Image{texture(40, 36), texture(3, 3), texture(30, 50)}
	r, err := ValidateCrops(context.Background(), render.Resampler{}, imgs, 4, 32)
	if err != nil {
		t.Fatal(err)
	}
	if r.Crops != 2 || r.PSNRY != r.BicubicPSNRY || !(r.PSNRY > 10) {
		t.Errorf("bicubic against itself: %+v", r)
	}
	if _, err := ValidateCrops(context.Background(), render.Resampler{}, imgs[1:2], 4, 32); err == nil {
		t.Error("no usable image: no error")
	}
}

// bicubicPerImage scores the folder dir ×2 with bicubic, image by image.
func bicubicPerImage(t *testing.T, dir string) []Result {
	t.Helper()
	d, err := LoadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{2}, PerImage: true})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Files of one name in two sub-folders are two images: results name each
// by its path under the dataset's folder, so compare pairs them rightly.
func TestRunNamesImagesByRelativePath(t *testing.T) {
	dir := t.TempDir()
	for i, sub := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := imageio.Write(filepath.Join(dir, sub, "x.png"), texture(40+4*i, 36)); err != nil {
			t.Fatal(err)
		}
	}
	rs := bicubicPerImage(t, dir)
	if n := rs[0].PerImage; n[0].Name != "a/x.png" || n[1].Name != "b/x.png" {
		t.Errorf("images named %q and %q, want a/x.png and b/x.png", n[0].Name, n[1].Name)
	}
	if cs, err := Compare(rs, rs); err != nil || cs[0].Images != 2 {
		t.Errorf("compare paired %+v (%v), want 2 images", cs, err)
	}
	one, err := LoadDataset(filepath.Join(dir, "a", "x.png"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err = Run(context.Background(), one, render.Resampler{}, Config{Scales: []float64{2}, PerImage: true})
	if err != nil || rs[0].PerImage[0].Name != "x.png" {
		t.Errorf("a one-file dataset: %+v (%v), want the image named x.png", rs, err)
	}
}

// The protocol is on colour, as MATLAB's imread and BasicSR read a PNG:
// an image with a (varying) alpha channel scores as the same image
// without one, rather than having its LR made by an alpha-weighted resize.
func TestRunIgnoresAlpha(t *testing.T) {
	opaque, translucent := t.TempDir(), t.TempDir()
	m := texture(48, 40)
	if err := imageio.Write(filepath.Join(opaque, "x.png"), m); err != nil {
		t.Fatal(err)
	}
	m.Alpha = make([]float32, m.W*m.H)
	for i := range m.Alpha {
		m.Alpha[i] = float32(i%m.W) / float32(m.W-1)
	}
	if err := imageio.Write(filepath.Join(translucent, "x.png"), m); err != nil {
		t.Fatal(err)
	}
	var got [2]Scores
	for i, dir := range []string{opaque, translucent} {
		d, err := LoadDataset(dir)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{2}})
		if err != nil {
			t.Fatal(err)
		}
		got[i] = rs[0].Scores
	}
	if got[0] != got[1] {
		t.Errorf("with alpha %+v, without %+v: want the same scores", got[1], got[0])
	}
}

// failUpscaler fails the test if the method is asked for anything.
type failUpscaler struct{ t *testing.T }

func (failUpscaler) Name() string { return "fail" }
func (f failUpscaler) Upscale(_ context.Context, lr *imageio.Image, w, h int) (*imageio.Image, error) {
	f.t.Errorf("upscaled %dx%d to %dx%d: the run should have been refused first", lr.W, lr.H, w, h)
	return imageio.New(w, h), nil
}

// What the border shave leaves must hold one SSIM window: a crop too
// small for the largest scale is refused before any image is read, and
// an image too small before the method runs on it, each saying why.
func TestRunRefusesTooSmallToScore(t *testing.T) {
	d := writeSet(t, 1) // 40×36
	_, err := Run(context.Background(), d, failUpscaler{t}, Config{Scales: []float64{2, 4}, Crop: 18})
	if err == nil || !strings.Contains(err.Error(), "crop 18 at ×4 leaves 8x8") || !strings.Contains(err.Error(), "want a crop of 20 or more") {
		t.Errorf("crop 18 at ×4: %v", err)
	}
	dir := t.TempDir()
	small := filepath.Join(dir, "small.png")
	if err := imageio.Write(small, texture(14, 30)); err != nil {
		t.Fatal(err)
	}
	d, err = LoadDataset(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), d, failUpscaler{t}, Config{Scales: []float64{2}})
	if err == nil || !strings.Contains(err.Error(), small) || !strings.Contains(err.Error(), "14x30 leaves 10x26") {
		t.Errorf("a 14x30 image at ×2: %v", err)
	}
	// 16 pixels leave 12 after a 2-pixel shave, enough; 15 are cut to 14.
	for side, ok := range map[int]bool{15: false, 16: true} {
		if err := imageio.Write(small, texture(side, side)); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), d, render.Resampler{}, Config{Scales: []float64{2}}); (err == nil) != ok {
			t.Errorf("a %dx%[1]d image at ×2: %v", side, err)
		}
	}
	if _, err := Run(context.Background(), writeSet(t, 1), render.Resampler{}, Config{Scales: []float64{2, 4}, Crop: 20}); err != nil {
		t.Errorf("crop 20 at ×2 and ×4: %v", err)
	}
}
