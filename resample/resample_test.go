package resample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// refWeights is an independent float64 rendering of imresize's algorithm as
// a dense out×in matrix: every tap's weight is added into the column of the
// source pixel it mirrors to. Kernels are written with MATLAB's own
// formulas (including the eps guards of its lanczos3), not shared with the
// package.
func refWeights(in, out int, scale float64, method string, antialias bool) [][]float64 {
	k, width := refKernel(method)
	antialias = antialias && method != "nearest"
	h := k
	if scale < 1 && antialias {
		h = func(x float64) float64 { return scale * k(scale*x) }
		width /= scale
	}
	aux := make([]int, 0, 2*in) // [1..in, in..1] as 0-based indices
	for i := 0; i < in; i++ {
		aux = append(aux, i)
	}
	for i := in - 1; i >= 0; i-- {
		aux = append(aux, i)
	}
	p := int(math.Ceil(width)) + 2
	m := make([][]float64, out)
	for x := 1; x <= out; x++ {
		u := float64(x)/scale + 0.5*(1-1/scale)
		left := int(math.Floor(u - width/2))
		ws := make([]float64, p)
		sum := 0.0
		for j := 0; j < p; j++ {
			ws[j] = h(u - float64(left+j))
			sum += ws[j]
		}
		row := make([]float64, in)
		for j := 0; j < p; j++ {
			idx := ((left+j-1)%len(aux) + len(aux)) % len(aux)
			row[aux[idx]] += ws[j] / sum
		}
		m[x-1] = row
	}
	return m
}

// refKernel is imresize's kernel of a method and its width in input
// pixels at scale 1.
func refKernel(method string) (k func(float64) float64, width float64) {
	const eps = 2.220446049250313e-16
	switch method {
	case "bicubic":
		width = 4
		k = func(x float64) float64 {
			a := math.Abs(x)
			a2, a3 := a*a, a*a*a
			var f float64
			if a <= 1 {
				f += 1.5*a3 - 2.5*a2 + 1
			}
			if 1 < a && a <= 2 {
				f += -0.5*a3 + 2.5*a2 - 4*a + 2
			}
			return f
		}
	case "bilinear":
		width = 2
		k = func(x float64) float64 {
			var f float64
			if -1 <= x && x < 0 {
				f += x + 1
			}
			if 0 <= x && x <= 1 {
				f += 1 - x
			}
			return f
		}
	case "nearest", "area": // imresize's 'box'; nearest is its unantialiased use
		width = 1
		k = func(x float64) float64 {
			if -0.5 <= x && x < 0.5 {
				return 1
			}
			return 0
		}
	case "lanczos3":
		width = 6
		k = func(x float64) float64 {
			f := (math.Sin(math.Pi*x)*math.Sin(math.Pi*x/3) + eps) / (math.Pi*math.Pi*x*x/3 + eps)
			if math.Abs(x) < 3 {
				return f
			}
			return 0
		}
	}
	return k, width
}

// refResize resizes one h×w plane with the reference matrices, rows first
// when the vertical scale is not larger (imresize's order).
func refResize(src []float64, w, h, dw, dh int, sx, sy float64, method string) []float64 {
	wx := refWeights(w, dw, sx, method, true)
	wy := refWeights(h, dh, sy, method, true)
	if sy <= sx {
		return refAxis(wx, refAxis(wy, src, 1, w), dh, 1)
	}
	return refAxis(wy, refAxis(wx, src, h, 1), 1, dw)
}

// refAxis applies the weight matrix wts (one row of input weights per
// output) along the middle axis of s, laid out as outer×len(wts[0])×inner:
// the vertical pass has outer 1 and inner the row length, the horizontal
// one outer the row count and inner 1.
func refAxis(wts [][]float64, s []float64, outer, inner int) []float64 {
	n, m := len(wts[0]), len(wts)
	d := make([]float64, outer*m*inner)
	for a := 0; a < outer; a++ {
		for o := 0; o < m; o++ {
			for i := 0; i < n; i++ {
				for b := 0; b < inner; b++ {
					d[(a*m+o)*inner+b] += wts[o][i] * s[(a*n+i)*inner+b]
				}
			}
		}
	}
	return d
}

func TestAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type tc struct {
		w, h, dw, dh int
		sx, sy       float64 // 0: from sizes
	}
	cases := []tc{
		{7, 5, 14, 10, 2, 2}, {9, 6, 27, 18, 3, 3}, {8, 8, 4, 4, 0.5, 0.5}, {12, 9, 4, 3, 1.0 / 3, 1.0 / 3},
		{10, 10, 17, 17, 1.7, 1.7}, {20, 11, 8, 5, 0, 0}, {13, 7, 5, 19, 0, 0}, {6, 6, 6, 6, 1, 1},
		{5, 3, 11, 7, 2.15, 2.15}, {31, 17, 3, 2, 0, 0}, {4, 1, 9, 1, 0, 0}, {1, 4, 1, 13, 0, 0},
	}
	for _, m := range []Method{Bicubic, Bilinear, Nearest, Lanczos3, Area} {
		for _, c := range cases {
			const ch = 3
			src := make([]float32, c.w*c.h*ch)
			for i := range src {
				src[i] = rng.Float32()
			}
			got, err := Resize(src, c.w, c.h, ch, c.dw, c.dh, Options{Method: m, ScaleX: c.sx, ScaleY: c.sy})
			if err != nil {
				t.Fatal(err)
			}
			sx, sy := c.sx, c.sy
			if sx == 0 {
				sx = float64(c.dw) / float64(c.w)
			}
			if sy == 0 {
				sy = float64(c.dh) / float64(c.h)
			}
			worst := 0.0
			for k := 0; k < ch; k++ {
				plane := make([]float64, c.w*c.h)
				for i := range plane {
					plane[i] = float64(src[i*ch+k])
				}
				want := refResize(plane, c.w, c.h, c.dw, c.dh, sx, sy, m.String())
				for i, v := range want {
					worst = max(worst, math.Abs(float64(got[i*ch+k])-v))
				}
			}
			if worst > 2e-6 {
				t.Errorf("%v %dx%d→%dx%d (scale %v,%v): max error %g", m, c.w, c.h, c.dw, c.dh, c.sx, c.sy, worst)
			}
		}
	}
}

func TestIdentityIsExact(t *testing.T) {
	src := []float32{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, -0.2}
	for _, m := range []Method{Bicubic, Bilinear, Nearest, Lanczos3, Area} {
		got, err := Resize(src, 2, 2, 3, 2, 2, Options{Method: m})
		if err != nil {
			t.Fatal(err)
		}
		for i := range src {
			if got[i] != src[i] {
				t.Fatalf("%v identity changed value %d: %v → %v", m, i, src[i], got[i])
			}
		}
	}
	// Bicubic at scale 1 along one axis (the other resized) must also leave
	// that axis alone: the cubic is 1 at 0 and 0 at the other integers.
	col := []float32{3, -1, 4, 1, 5}
	got, _ := Resize(col, 1, 5, 1, 2, 5, Options{})
	for y, v := range col {
		if got[2*y] != v || got[2*y+1] != v {
			t.Fatalf("row %d: %v, want %v twice", y, got[2*y:2*y+2], v)
		}
	}
}

// TestBicubicGoldens checks values worked out by hand from the kernel
// definition (see the comments for the arithmetic).
func TestBicubicGoldens(t *testing.T) {
	// ×2 of an impulse: output x samples u = x/2 + 1/4, so the values are
	// cubic(u − 3) at u − 3 = ±2.25, ±1.75, ±1.25, ±0.75, ±0.25:
	// 0, −0.0234375, −0.0703125, 0.2265625, 0.8671875.
	up, err := Resize([]float32{0, 0, 1, 0, 0}, 5, 1, 1, 10, 1, Options{ScaleX: 2, ScaleY: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantUp := []float32{0, -0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375, 0}
	// ×½ of the ramp 1…8 with antialiasing: weights ½·cubic(d/2) for
	// d = ±0.5 … ±3.5 are 0.43359375, 0.11328125, −0.03515625, −0.01171875;
	// at the left edge the taps mirror to 3 2 1 | 1 2 3 4 5, giving
	// 1.44921875. At u = 3.5 the kernel (width 8) still reaches the edge:
	// tap 0 (weight −0.01171875) mirrors to pixel 1, value 1 instead of the
	// ramp's 0, so 3.5 − 0.01171875; the right half mirrors the left.
	down, err := Resize([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 8, 1, 1, 4, 1, Options{ScaleX: 0.5, ScaleY: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantDown := []float32{1.44921875, 3.48828125, 5.51171875, 7.55078125}
	for _, c := range []struct {
		name      string
		got, want []float32
	}{{"up", up, wantUp}, {"down", down, wantDown}} {
		for i := range c.want {
			if math.Abs(float64(c.got[i]-c.want[i])) > 1e-6 {
				t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
				break
			}
		}
	}
}

func TestSimpleKernels(t *testing.T) {
	for _, c := range []struct {
		m         Method
		src       []float32
		n         int
		want      []float32
		scale     float64
		antialias bool
	}{
		{Nearest, []float32{1, 2, 3}, 6, []float32{1, 1, 2, 2, 3, 3}, 2, true},
		// u = 2x − ½ = 1.5, 3.5, 5.5; the half-open box picks 2, 4, 6.
		{Nearest, []float32{1, 2, 3, 4, 5, 6}, 3, []float32{2, 4, 6}, 0.5, true},
		// u = 0.75, 1.25, …: weights ¼/¾ between neighbours, edges mirror.
		{Bilinear, []float32{0, 1}, 4, []float32{0, 0.25, 0.75, 1}, 2, true},
		// Without antialiasing a ×½ triangle at u = 1.5, 3.5 averages pairs.
		{Bilinear, []float32{0, 2, 4, 6}, 2, []float32{1, 5}, 0.5, false},
		// Area ×¼: the box widened to 4 pixels averages each block of 4.
		{Area, []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2, []float32{2.5, 6.5}, 0.25, true},
		// Enlarging, the box repeats pixels.
		{Area, []float32{1, 2}, 4, []float32{1, 1, 2, 2}, 2, true},
	} {
		got, err := Resize(c.src, len(c.src), 1, 1, c.n, 1, Options{Method: c.m, ScaleX: c.scale, NoAntialias: !c.antialias})
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.want {
			if math.Abs(float64(got[i]-c.want[i])) > 1e-6 {
				t.Errorf("%v ×%v of %v = %v, want %v", c.m, c.scale, c.src, got, c.want)
				break
			}
		}
	}
}

func TestScaledSize(t *testing.T) {
	for _, c := range []struct {
		n    int
		s    float64
		want int
	}{{100, 1.1, 110}, {3, 1.0 / 3, 1}, {255, 1.0 / 3, 85}, {5, 0.5, 3}, {7, 1.7, 12}, {1, 0.01, 1}, {10, 4, 40}} {
		if got := ScaledSize(c.n, c.s); got != c.want {
			t.Errorf("ScaledSize(%d, %v) = %d, want %d", c.n, c.s, got, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	if _, err := Resize(make([]float32, 4), 2, 2, 1, 0, 3, Options{}); err == nil {
		t.Error("accepted a zero output size")
	}
	if _, err := Resize(make([]float32, 4), 2, 2, 1, 4, 4, Options{ScaleX: math.NaN()}); err == nil {
		t.Error("accepted a NaN scale")
	}
	if _, err := Resize(make([]float32, 3), 2, 2, 1, 4, 4, Options{}); err == nil {
		t.Error("accepted a short source")
	}
	if _, err := Scale(imageio.New(2, 2), -1, Bicubic); err == nil {
		t.Error("accepted a negative scale")
	}
	if _, err := ParseMethod("cubic-ish"); err == nil {
		t.Error("parsed an unknown method")
	}
	if m, err := ParseMethod("Lanczos3"); err != nil || m != Lanczos3 {
		t.Errorf("ParseMethod(Lanczos3) = %v, %v", m, err)
	}
}

// TestAlphaDoesNotBleed: a transparent black pixel next to opaque red must
// not darken the red where the result is visible.
func TestAlphaDoesNotBleed(t *testing.T) {
	img := &imageio.Image{W: 2, H: 1, Pix: []float32{1, 0, 0, 0, 0, 0}, Alpha: []float32{1, 0}}
	out, err := Image(img, 8, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Alpha == nil {
		t.Fatal("alpha dropped")
	}
	for i, a := range out.Alpha {
		if a < 0 || a > 1 {
			t.Errorf("alpha[%d] = %v outside [0,1]", i, a)
		}
		if a > 0 && math.Abs(float64(out.Pix[3*i]-1)) > 1e-6 {
			t.Errorf("pixel %d (alpha %v) has red %v, want 1", i, a, out.Pix[3*i])
		}
	}
	if out.Alpha[0] != 1 || out.Alpha[7] != 0 {
		t.Errorf("alpha = %v", out.Alpha)
	}
}

func TestScaleKeepsGrayAndSize(t *testing.T) {
	img := imageio.New(5, 3)
	img.Gray = true
	out, err := Scale(img, 2.5, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	if out.W != 13 || out.H != 8 || !out.Gray {
		t.Errorf("×2.5 of 5×3 gave %dx%d gray=%v, want 13x8 grey", out.W, out.H, out.Gray)
	}
}

func TestPlanConcurrentApply(t *testing.T) {
	p, err := NewPlan(64, 48, 3, 100, 30, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := make([]float32, 64*48*3)
	for i := range src {
		src[i] = float32(i%97) / 97
	}
	want := make([]float32, 100*30*3)
	if err := p.Apply(want, src); err != nil {
		t.Fatal(err)
	}
	done := make(chan []float32)
	for range 4 {
		go func() {
			d := make([]float32, len(want))
			_ = p.Apply(d, src)
			done <- d
		}()
	}
	for range 4 {
		d := <-done
		for i := range d {
			if d[i] != want[i] {
				t.Fatal("concurrent Apply gave a different result")
			}
		}
	}
}

// TestAlphaBands checks that alpha resized band by band equals the whole
// plane, stays in [0, 1] where bicubic overshoots, and agrees with Resize
// (columns first) wherever that stays in range.
func TestAlphaBands(t *testing.T) {
	const w, h, dw, dh = 7, 5, 23, 16
	src := make([]float32, w*h)
	for i := range src {
		src[i] = float32(i%3) / 2 // 0, ½, 1: sharp steps make bicubic overshoot
	}
	whole, err := ResizeAlpha(src, w, h, dw, dh)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := NewAlpha(src, w, h, dw, dh)
	var banded []float32
	for y := 0; y < dh; y += 6 {
		banded = append(banded, a.Rows(y, min(y+6, dh))...)
	}
	if !slices.Equal(banded, whole) {
		t.Fatal("bands differ from the whole plane")
	}
	ref, _ := Resize(src, w, h, 1, dw, dh, Options{Method: Bicubic})
	clamped := 0
	for i, v := range whole {
		if v < 0 || v > 1 {
			t.Fatalf("alpha %v out of [0, 1]", v)
		}
		r := min(max(ref[i], 0), 1)
		if r != ref[i] {
			clamped++
		}
		if math.Abs(float64(v-r)) > 1e-6 {
			t.Fatalf("value %d: %v, clamped bicubic %v", i, v, r)
		}
	}
	if clamped == 0 {
		t.Error("the test image should make bicubic overshoot somewhere")
	}
	if _, err := NewAlpha(src[:3], w, h, dw, dh); err == nil {
		t.Error("a short plane accepted")
	}
}
