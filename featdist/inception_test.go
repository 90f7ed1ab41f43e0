package featdist

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/safetensors"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// randomEntries makes random weights for specs: He-scaled convolutions
// and batch norms near the identity, so activations stay in range
// through the whole trunk.
func randomEntries(specs []TensorSpec, seed uint64) []safetensors.Entry {
	rng := rand.New(rand.NewPCG(seed, 9))
	out := make([]safetensors.Entry, len(specs))
	for i, s := range specs {
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		data := make([]float32, n)
		switch {
		case strings.HasSuffix(s.Name, ".conv.weight"):
			std := math.Sqrt(2 / float64(s.Shape[1]*s.Shape[2]*s.Shape[3]))
			for j := range data {
				data[j] = float32(rng.NormFloat64() * std)
			}
		case strings.HasSuffix(s.Name, ".running_var"):
			for j := range data {
				data[j] = float32(0.5 + rng.Float64())
			}
		case strings.HasSuffix(s.Name, ".bn.weight"):
			for j := range data {
				data[j] = float32(1 + 0.1*rng.NormFloat64())
			}
		default:
			for j := range data {
				data[j] = float32(0.1 * rng.NormFloat64())
			}
		}
		out[i] = safetensors.Entry{Name: s.Name, Shape: s.Shape, Data: data}
	}
	return out
}

func encodeFile(t *testing.T, entries []safetensors.Entry) *safetensors.File {
	t.Helper()
	var b bytes.Buffer
	if err := safetensors.Write(&b, entries, nil, safetensors.F32); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadBytes(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestInceptionShapes checks the architecture's tensors at full width
// against torchvision: Inception3 has 27,161,264 parameters, of which the
// classifier (2048·1000 + 1000) and AuxLogits (98,560 + 2,459,136 +
// 769,000) are not part of the pool3 trunk.
func TestInceptionShapes(t *testing.T) {
	specs, err := InceptionTensors(InceptionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	params := 0
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Name] {
			t.Errorf("%s listed twice", s.Name)
		}
		seen[s.Name] = true
		n := 1
		for _, d := range s.Shape {
			n *= d
		}
		// Running statistics are buffers in PyTorch, not parameters.
		if !strings.HasSuffix(s.Name, "running_mean") && !strings.HasSuffix(s.Name, "running_var") {
			params += n
		}
	}
	const want = 27161264 - (2048*1000 + 1000) - (98560 + 2459136 + 769000)
	if params != want {
		t.Errorf("trunk has %d parameters, torchvision's %d", params, want)
	}
	if len(specs) != 94*5 { // 94 BasicConv2d layers in the trunk
		t.Errorf("%d tensors, want %d", len(specs), 94*5)
	}
	for _, name := range []string{"Conv2d_1a_3x3.conv.weight", "Mixed_6b.branch7x7_2.conv.weight", "Mixed_7c.branch3x3dbl_3b.bn.running_var"} {
		if !seen[name] {
			t.Errorf("%s missing from the list", name)
		}
	}
	m := build(&builder{cfg: InceptionConfig{Width: 1, InputSize: 299, Variant: VariantFID}})
	if m.FeatureDim() != 2048 {
		t.Errorf("feature dimension %d, want 2048", m.FeatureDim())
	}
}

// naiveBasicConv is conv → batch norm → ReLU straight from the PyTorch
// layout, in float64.
func naiveBasicConv(x *tensor.Tensor, w []float32, cout, kh, kw, stride, ph, pw int, gamma, beta, mean, vari []float32) []float64 {
	n, h, wd, cin := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	oh, ow := (h+2*ph-kh)/stride+1, (wd+2*pw-kw)/stride+1
	out := make([]float64, n*oh*ow*cout)
	for b := 0; b < n; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for o := 0; o < cout; o++ {
					var s float64
					for i := 0; i < cin; i++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*stride-ph+ky, ox*stride-pw+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.Data[((b*h+iy)*wd+ix)*cin+i]) * float64(w[((o*cin+i)*kh+ky)*kw+kx])
							}
						}
					}
					v := float64(gamma[o])*(s-float64(mean[o]))/math.Sqrt(float64(vari[o])+1e-3) + float64(beta[o])
					out[((b*oh+oy)*ow+ox)*cout+o] = max(v, 0)
				}
			}
		}
	}
	return out
}

// TestBasicConvFolding checks the weight transposition, the batch-norm
// folding and the asymmetric kernels (1×7, 7×1, strided 3×3) against the
// definition.
func TestBasicConvFolding(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	cases := []struct{ kh, kw, stride, ph, pw int }{
		{1, 7, 1, 0, 3}, {7, 1, 1, 3, 0}, {3, 3, 2, 0, 0}, {1, 3, 1, 0, 1}, {3, 1, 1, 1, 0}, {5, 5, 1, 2, 2}, {1, 1, 1, 0, 0},
	}
	for _, c := range cases {
		const cin, cout = 3, 4
		specs := []TensorSpec{
			{"x.conv.weight", []int{cout, cin, c.kh, c.kw}},
			{"x.bn.weight", []int{cout}}, {"x.bn.bias", []int{cout}},
			{"x.bn.running_mean", []int{cout}}, {"x.bn.running_var", []int{cout}},
		}
		es := randomEntries(specs, uint64(c.kh*10+c.kw))
		b := &builder{cfg: InceptionConfig{Width: 1}, file: encodeFile(t, es)}
		bc := b.conv("x", cin, cout, c.kh, c.kw, c.stride, c.ph, c.pw)
		if len(b.errs) > 0 {
			t.Fatal(b.errs)
		}
		x := tensor.New(2, 9, 11, cin)
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		got := bc.forward(x)
		want := naiveBasicConv(x, es[0].Data, cout, c.kh, c.kw, c.stride, c.ph, c.pw, es[1].Data, es[2].Data, es[3].Data, es[4].Data)
		if len(got.Data) != len(want) {
			t.Fatalf("%dx%d: %d outputs, want %d", c.kh, c.kw, len(got.Data), len(want))
		}
		for i := range want {
			if math.Abs(float64(got.Data[i])-want[i]) > 1e-4*(1+math.Abs(want[i])) {
				t.Fatalf("%dx%d stride %d: output %d = %v, want %v", c.kh, c.kw, c.stride, i, got.Data[i], want[i])
			}
		}
	}
}

func TestPools(t *testing.T) {
	// One channel, 3×3 input 1..9.
	x := tensor.FromData([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 3, 3, 1)
	if got := maxPool(x, 3, 2, 0).Data; len(got) != 1 || got[0] != 9 {
		t.Errorf("max 3/2/0: %v", got)
	}
	if got := maxPool(x, 3, 1, 1).Data; got[0] != 5 || got[4] != 9 || got[8] != 9 || got[2] != 6 {
		t.Errorf("max 3/1/1: %v", got)
	}
	neg := tensor.FromData([]float32{-1, -2, -3, -4}, 1, 2, 2, 1)
	if got := maxPool(neg, 3, 1, 1).Data; got[3] != -1 {
		t.Errorf("padding took part in the max: %v", got)
	}
	ex := avgPool3(x, false).Data
	in := avgPool3(x, true).Data
	// Corner (0,0) averages 1,2,4,5: 3 without the padding, 12/9 with it.
	if math.Abs(float64(ex[0])-3) > 1e-6 || math.Abs(float64(in[0])-12.0/9) > 1e-6 || math.Abs(float64(ex[4])-5) > 1e-6 {
		t.Errorf("avg pools: exclusive %v, inclusive %v", ex, in)
	}
}

// tinyInception writes random weights for a toy-width network under a
// "module." prefix, plus tensors the loader must ignore.
func tinyInception(t *testing.T, cfg InceptionConfig, drop string, reshape string) *safetensors.File {
	t.Helper()
	specs, err := InceptionTensors(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var es []safetensors.Entry
	for _, e := range randomEntries(specs, 1) {
		if e.Name == drop {
			continue
		}
		if e.Name == reshape {
			e.Shape = []int{len(e.Data), 1}
		}
		e.Name = "module." + e.Name
		es = append(es, e)
	}
	es = append(es,
		safetensors.Entry{Name: "module.fc.weight", Shape: []int{3, 2}, Data: make([]float32, 6)},
		safetensors.Entry{Name: "module.Conv2d_1a_3x3.bn.num_batches_tracked", Shape: []int{1}, Data: []float32{1}})
	return encodeFile(t, es)
}

func randomImages(seed uint64, n, w, h int) []*imageio.Image {
	rng := rand.New(rand.NewPCG(seed, 3))
	out := make([]*imageio.Image, n)
	for i := range out {
		m := imageio.New(w, h)
		base := rng.Float32()
		for j := range m.Pix {
			m.Pix[j] = min(1, base*0.5+0.5*rng.Float32())
		}
		out[i] = m
	}
	return out
}

func TestInceptionTiny(t *testing.T) {
	for _, variant := range []string{VariantFID, VariantTorchvision} {
		cfg := InceptionConfig{Width: 1.0 / 16, InputSize: 75, Variant: variant, Batch: 3}
		m, err := NewInception(tinyInception(t, cfg, "", ""), cfg)
		if err != nil {
			t.Fatal(err)
		}
		// 320+768+768+192 = 2048 at width 1; every count rounds at 1/16.
		if m.FeatureDim() != 20+48+48+12 {
			t.Errorf("feature dimension %d", m.FeatureDim())
		}
		a := randomImages(1, 7, 40, 30)
		f, err := m.Features(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != 7*m.FeatureDim() {
			t.Fatalf("%d feature values", len(f))
		}
		var spread float64
		for i, v := range f {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("feature %d is %v", i, v)
			}
			spread += math.Abs(v - f[i%m.FeatureDim()])
		}
		if spread == 0 {
			t.Error("all images have the same features")
		}
		// A batch boundary must not change an image's features.
		one, _ := m.Features(a[4:5])
		for j, v := range one {
			if math.Abs(v-f[4*m.FeatureDim()+j]) > 1e-5*(1+math.Abs(v)) {
				t.Fatalf("features depend on the batch: %v vs %v", v, f[4*m.FeatureDim()+j])
			}
		}
		self, err := FrechetDistance(m, a, a)
		if err != nil {
			t.Fatal(err)
		}
		other, err := FrechetDistance(m, a, randomImages(2, 7, 40, 30))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: FID self %.3g, other %.4g", variant, self, other)
		if math.Abs(self) > 1e-5*max(1, other) || other <= 0 {
			t.Errorf("%s: FID self %g, other %g", variant, self, other)
		}
	}
}

func TestInceptionLoadErrors(t *testing.T) {
	cfg := InceptionConfig{Width: 1.0 / 16, InputSize: 75}
	_, err := NewInception(tinyInception(t, cfg, "Mixed_6c.branch7x7dbl_4.bn.running_var", ""), cfg)
	if err == nil || !strings.Contains(err.Error(), "missing module.Mixed_6c.branch7x7dbl_4.bn.running_var") {
		t.Errorf("missing tensor: %v", err)
	}
	_, err = NewInception(tinyInception(t, cfg, "", "Mixed_5b.branch5x5_2.conv.weight"), cfg)
	if err == nil || !strings.Contains(err.Error(), "module.Mixed_5b.branch5x5_2.conv.weight has shape") {
		t.Errorf("misshapen tensor: %v", err)
	}
	// Weights for the full network do not fit the toy one.
	_, err = NewInception(tinyInception(t, cfg, "", ""), InceptionConfig{InputSize: 75})
	if err == nil || !strings.Contains(err.Error(), "problems") {
		t.Errorf("wrong width: %v", err)
	}
	other := encodeFile(t, []safetensors.Entry{{Name: "enc.w", Shape: []int{1}, Data: []float32{1}}})
	if _, err := NewInception(other, cfg); err == nil || !strings.Contains(err.Error(), "Conv2d_1a_3x3") {
		t.Errorf("unrelated file: %v", err)
	}
	if _, err := NewInception(other, InceptionConfig{InputSize: 40}); err == nil {
		t.Error("input below 75: no error")
	}
	if _, err := NewInception(other, InceptionConfig{Variant: "keras"}); err == nil {
		t.Error("unknown variant: no error")
	}
	// And through the file path, which FID uses.
	p := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(p, []byte("not safetensors"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := FID(p, nil, nil); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt file: %v", err)
	}
}

// TestInceptionFullWidth loads random weights of the real size and runs
// the real network on small inputs, which exercises every shape check and
// the F16 path at full width.
func TestInceptionFullWidth(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 22M random weights")
	}
	specs, err := InceptionTensors(InceptionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := safetensors.Write(&b, randomEntries(specs, 2), nil, safetensors.F16); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "inception.safetensors")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadInception(p, InceptionConfig{InputSize: 75})
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Features(randomImages(3, 2, 32, 32))
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 2*2048 {
		t.Fatalf("%d feature values, want 2×2048", len(f))
	}
	for i, v := range f {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("feature %d is %v", i, v)
		}
	}
}
