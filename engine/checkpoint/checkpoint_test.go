package checkpoint

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

type encConfig struct {
	Channels int     `json:"channels"`
	Dropout  float64 `json:"dropout"`
}

// model returns a small named parameter set shaped by ch, filled from seed.
func model(ch int, seed uint64) []Named {
	rng := rand.New(rand.NewPCG(seed, 0))
	ps := []Named{
		{"enc.conv_in.w", tensor.Param(3, 3, 3, ch)},
		{"enc.conv_in.b", tensor.Param(ch)},
		{"dec.out.w", tensor.Param(ch, 3)},
	}
	for _, p := range ps {
		for i := range p.T.Data {
			p.T.Data[i] = float32(rng.NormFloat64())
		}
	}
	return ps
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enc.safetensors")
	src := model(8, 1)
	cfg := encConfig{Channels: 8, Dropout: 0.1}
	if err := Save(path, "encoder", cfg, src, map[string]string{"trained_steps": "1000"}, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != "encoder" || c.Meta["format"] != "zoomdiff/encoder" || c.Meta["version"] != Version || c.Meta["trained_steps"] != "1000" {
		t.Fatalf("metadata %v", c.Meta)
	}
	var got encConfig
	dst := model(8, 2)
	if err := Load(path, "encoder", &got, dst); err != nil {
		t.Fatal(err)
	}
	if got != cfg {
		t.Fatalf("config %+v", got)
	}
	for i := range src {
		for j := range src[i].T.Data {
			if src[i].T.Data[j] != dst[i].T.Data[j] {
				t.Fatalf("%s[%d] differs", src[i].Name, j)
			}
		}
	}
}

func TestLoadBytesF16(t *testing.T) {
	src := model(4, 3)
	var buf bytes.Buffer
	if err := Encode(&buf, "decoder", encConfig{Channels: 4}, src, nil, safetensors.F16); err != nil {
		t.Fatal(err)
	}
	dst := model(4, 4)
	var cfg encConfig
	if err := LoadBytes("embedded decoder", buf.Bytes(), "decoder", &cfg, dst); err != nil {
		t.Fatal(err)
	}
	for i := range src {
		for j, v := range src[i].T.Data {
			if d := math.Abs(float64(dst[i].T.Data[j] - v)); d > math.Abs(float64(v))*0x1p-11+1e-7 {
				t.Fatalf("%s[%d]: %g vs %g", src[i].Name, j, dst[i].T.Data[j], v)
			}
		}
	}
}

func TestLoadMismatchErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	if err := Save(path, "enc", encConfig{Channels: 64}, model(64, 1), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}

	// One wrong shape: the message names the layer and both shapes.
	small := model(64, 2)
	small[0].T = tensor.Param(3, 3, 3, 32)
	before := append([]float32(nil), small[1].T.Data...)
	err := Load(path, "enc", nil, small)
	want := "checkpoint " + path + ": layer enc.conv_in.w has shape [3 3 3 64], model expects [3 3 3 32]"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if small[1].T.Data[0] != before[0] {
		t.Fatal("a failed load modified the model")
	}

	// Missing and unexpected layers, reported together.
	renamed := model(64, 2)
	renamed[2].Name = "dec.final.w"
	err = Load(path, "enc", nil, renamed)
	for _, s := range []string{"2 mismatches", "layer dec.final.w is missing", "layer dec.out.w (shape [64 3]) is not in the model"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not mention %q", err, s)
		}
	}

	if err := Load(path, "dec", nil, model(64, 2)); err == nil || !strings.Contains(err.Error(), `holds a model of kind "enc", expected "dec"`) {
		t.Errorf("kind mismatch: %v", err)
	}
	var strict struct{ Channels int }
	if err := Load(path, "enc", &strict, model(64, 2)); err == nil || !strings.Contains(err.Error(), "dropout") {
		t.Errorf("unknown config field: %v", err)
	}
	dup := model(64, 2)
	dup[1].Name = dup[0].Name
	if err := Load(path, "enc", nil, dup); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("duplicate names: %v", err)
	}
}

func TestOpenRejectsForeignFiles(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.safetensors")
	entries := []safetensors.Entry{{Name: "w", Shape: []int{1}, Data: []float32{1}}}
	if err := safetensors.WriteFile(plain, entries, nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(plain); err == nil || !strings.Contains(err.Error(), "not a zoomdiff checkpoint") {
		t.Errorf("plain safetensors: %v", err)
	}
	newer := filepath.Join(dir, "newer.safetensors")
	if err := safetensors.WriteFile(newer, entries, map[string]string{"format": "zoomdiff/enc", "version": "7"}, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(newer); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer version: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file opened")
	}
	if _, err := OpenBytes("junk", []byte("not a checkpoint at all")); err == nil || !strings.Contains(err.Error(), "checkpoint junk") {
		t.Errorf("junk bytes: %v", err)
	}
	if err := Save(filepath.Join(dir, "r"), "enc", nil, model(2, 1), map[string]string{"format": "x"}, safetensors.F32); err == nil {
		t.Error("reserved extra key accepted")
	}
}

// run is a tiny but complete training loop — random minibatches, gradient
// clipping, AdamW on a schedule, EMA — used to check that stopping and
// resuming from a checkpoint changes nothing.
type run struct {
	w, b  *tensor.Tensor
	named []Named
	adam  *optim.Adam
	ema   *optim.EMA
	clip  *optim.Clipper
	pcg   *rand.PCG
	rng   *rand.Rand
	sched optim.WarmupCosine
	step  int
}

func newRun() *run {
	r := &run{w: tensor.Param(4, 3), b: tensor.Param(4)}
	r.pcg = rand.NewPCG(42, 7)
	r.rng = rand.New(r.pcg)
	for i := range r.w.Data {
		r.w.Data[i] = float32(r.rng.NormFloat64() * 0.1)
	}
	r.named = []Named{{"lin.w", r.w}, {"lin.b", r.b}}
	ps := []*tensor.Tensor{r.w, r.b}
	r.adam = optim.NewAdam(ps, optim.AdamWConfig(0.01))
	r.adam.SetDecay(1, false)
	r.ema = optim.NewEMA(ps, 0.9)
	r.clip = optim.NewClipper(ps)
	r.sched = optim.WarmupCosine{Peak: 0.05, Floor: 0.001, Warmup: 5, Total: 40}
	return r
}

// train runs until step n, fitting y = A·x + c on fresh random samples.
func (r *run) train(n int) {
	for ; r.step < n; r.step++ {
		for range 8 {
			var x [3]float64
			for j := range x {
				x[j] = r.rng.NormFloat64()
			}
			for i := range 4 {
				y := float64(i) - 1.5 + x[0]*float64(i) - x[2]
				pred := float64(r.b.Data[i])
				for j := range 3 {
					pred += float64(r.w.Data[i*3+j]) * x[j]
				}
				d := float32(2 * (pred - y) / 8)
				r.b.Grad[i] += d
				for j := range 3 {
					r.w.Grad[i*3+j] += d * float32(x[j])
				}
			}
		}
		if _, ok := r.clip.Clip(1); ok {
			r.adam.Step(r.sched.LR(r.step))
			r.ema.Update()
		}
		r.adam.ZeroGrad()
	}
}

func (r *run) state() *TrainState {
	return &TrainState{Kind: "lin", Config: &encConfig{Channels: 3}, Params: r.named, Optim: r.adam, EMA: r.ema}
}

func TestTrainResumeIsExact(t *testing.T) {
	const total, stop = 40, 17
	straight := newRun()
	straight.train(total)

	path := filepath.Join(t.TempDir(), "train.safetensors")
	first := newRun()
	first.train(stop)
	s := first.state()
	s.Step = first.step
	rngState, err := first.pcg.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	s.RNG = rngState
	s.Extra = map[string]string{"note": "resume test"}
	if err := SaveTrain(path, s, true); err != nil {
		t.Fatal(err)
	}

	// A new process: build everything as for a fresh run, then load.
	resumed := newRun()
	rs := resumed.state()
	var cfg encConfig
	rs.Config = &cfg
	if err := LoadTrain(path, rs); err != nil {
		t.Fatal(err)
	}
	if rs.Step != stop || cfg.Channels != 3 || rs.Extra["note"] != "resume test" || len(rs.Extra) != 1 {
		t.Fatalf("restored step %d config %+v extra %v", rs.Step, cfg, rs.Extra)
	}
	if err := resumed.pcg.UnmarshalBinary(rs.RNG); err != nil {
		t.Fatal(err)
	}
	resumed.step = rs.Step
	resumed.train(total)

	for i, p := range straight.named {
		q := resumed.named[i]
		for j := range p.T.Data {
			if math.Float32bits(p.T.Data[j]) != math.Float32bits(q.T.Data[j]) {
				t.Fatalf("%s[%d]: %g without stopping, %g after resuming", p.Name, j, p.T.Data[j], q.T.Data[j])
			}
		}
		m1, v1 := straight.adam.Moments(i)
		m2, v2 := resumed.adam.Moments(i)
		e1, e2 := straight.ema.Shadow(i), resumed.ema.Shadow(i)
		for j := range m1 {
			if m1[j] != m2[j] || v1[j] != v2[j] || e1[j] != e2[j] {
				t.Fatalf("%s[%d]: optimiser or EMA state diverged", p.Name, j)
			}
		}
	}
	if straight.adam.Steps() != resumed.adam.Steps() || straight.ema.Updates() != resumed.ema.Updates() {
		t.Fatal("step counters diverged")
	}
	// Sanity: the run did learn something, so the comparison is not vacuous.
	if math.Abs(float64(straight.b.Data[0])) < 0.05 {
		t.Fatalf("bias barely moved: %v", straight.b.Data)
	}
}

func TestSaveTrainBackupAndFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.safetensors")
	r := newRun()
	r.train(3)
	s := r.state()
	s.Step = 3
	if err := SaveTrain(path, s, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(BackupPath(path)); !os.IsNotExist(err) {
		t.Fatalf("backup made on first save: %v", err)
	}
	firstBytes, _ := os.ReadFile(path)
	r.train(5)
	s.Step = 5
	if err := SaveTrain(path, s, true); err != nil {
		t.Fatal(err)
	}
	bak, _ := os.ReadFile(BackupPath(path))
	if !bytes.Equal(bak, firstBytes) {
		t.Fatal("backup does not hold the previous checkpoint")
	}
	secondBytes, _ := os.ReadFile(path)

	// A save that fails leaves the last good checkpoint in place.
	bad := r.state()
	bad.Params = bad.Params[:1] // the optimiser's second parameter is now unnamed
	if err := SaveTrain(path, bad, true); err == nil || !strings.Contains(err.Error(), "not among the named parameters") {
		t.Fatalf("bad state: %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, secondBytes) {
		t.Fatal("failed save changed the checkpoint")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("stray files: %v", ents)
	}
}

func TestLoadTrainMismatches(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.safetensors")
	r := newRun()
	r.train(2)
	if err := SaveTrain(path, r.state(), false); err != nil {
		t.Fatal(err)
	}

	fresh := newRun()
	before := append([]float32(nil), fresh.w.Data...)

	noOpt := fresh.state()
	noOpt.Optim = nil
	if err := LoadTrain(path, noOpt); err == nil || !strings.Contains(err.Error(), "optimiser state") {
		t.Errorf("missing optimiser: %v", err)
	}
	wrongKind := fresh.state()
	wrongKind.Kind = "other"
	if err := LoadTrain(path, wrongKind); err == nil || !strings.Contains(err.Error(), `expected "other"`) {
		t.Errorf("kind: %v", err)
	}
	reshaped := fresh.state()
	reshaped.Params = []Named{{"lin.w", tensor.Param(3, 4)}, {"lin.b", fresh.b}}
	reshaped.Optim, reshaped.EMA = nil, nil
	reshaped.Kind = "lin"
	// The file still has optimiser state, so that is reported first.
	if err := LoadTrain(path, reshaped); err == nil {
		t.Error("reshaped model accepted")
	}
	rs := newRun()
	w2 := tensor.Param(3, 4)
	rs.named[0].T = w2
	st := &TrainState{Kind: "lin", Params: rs.named, Optim: optim.NewAdam([]*tensor.Tensor{w2, rs.b}, optim.AdamConfig()), EMA: optim.NewEMA([]*tensor.Tensor{w2, rs.b}, 0.9)}
	err := LoadTrain(path, st)
	if err == nil || !strings.Contains(err.Error(), "layer param/lin.w has shape [4 3], model expects [3 4]") {
		t.Errorf("shape mismatch: %v", err)
	}
	if fresh.w.Data[0] != before[0] {
		t.Error("failed loads modified the model")
	}
	if err := Load(path, "lin", nil, fresh.named); err == nil || !strings.Contains(err.Error(), "training state") {
		t.Errorf("training file opened as a model: %v", err)
	}
	swapped := newRun()
	swapped.ema.Swap()
	if err := SaveTrain(filepath.Join(dir, "s"), swapped.state(), false); err == nil {
		t.Error("saved while EMA swapped")
	}
}

// A file that is no whole checkpoint (truncated, missing, a folder) is an
// error naming it once and saying what is wrong, for a model and for a
// training state alike.
func TestUnreadableFilesNamedOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "m.safetensors")
	if err := Save(file, "enc", nil, model(2, 1), nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "m.safetensors.train")
	if err := SaveTrain(state, newRun().state(), false); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{file, state} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b[:len(b)-8], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	folder := filepath.Join(dir, "f.train")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "none.train")
	for _, c := range []struct {
		path, want string
		load       func(string) error
	}{
		{file, "truncated", func(p string) error { _, err := Open(p); return err }},
		{state, "truncated", func(p string) error { return LoadTrain(p, newRun().state()) }},
		{folder, "is a folder", func(p string) error { return LoadTrain(p, newRun().state()) }},
		{missing, "no such file", func(p string) error { _, err := Open(p); return err }},
	} {
		err := c.load(c.path)
		if err == nil || strings.Count(err.Error(), c.path) != 1 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming the file once and saying %q", c.path, err, c.want)
		}
	}
	if _, err := Open(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}
