package tensor

import (
	"math/rand/v2"
	"testing"
)

// Golden values worked by hand from PyTorch's F.interpolate definitions.
func TestResizeGolden(t *testing.T) {
	var tp *Tape
	x := FromData([]float32{1, 2, 3, 4}, 1, 2, 2, 1)

	// align_corners=False, 2→4: sources −0.25 (clamped to 0), 0.25, 0.75,
	// 1.25 (upper neighbour clamped), in both directions.
	bl := tp.ResizeBilinear(x, 4, 4)
	wantShape(t, "bilinear 2→4", bl, 1, 4, 4, 1)
	wantClose(t, "bilinear 2→4", bl.Data, []float32{
		1, 1.25, 1.75, 2,
		1.5, 1.75, 2.25, 2.5,
		2.5, 2.75, 3.25, 3.5,
		3, 3.25, 3.75, 4,
	}, 1e-6)

	nn := tp.ResizeNearest(x, 4, 4)
	wantClose(t, "nearest 2→4", nn.Data, []float32{
		1, 1, 2, 2,
		1, 1, 2, 2,
		3, 3, 4, 4,
		3, 3, 4, 4,
	}, 0)

	// A non-integer scale along one axis: 3→5 has scale 0.6, sources
	// −0.2→0, 0.4, 1.0, 1.6, 2.2 (clamped).
	row := FromData([]float32{0, 10, 20}, 1, 1, 3, 1)
	wantClose(t, "bilinear 3→5", tp.ResizeBilinear(row, 1, 5).Data, []float32{0, 4, 10, 16, 20}, 1e-5)
	// nearest: floor(o·0.6) = 0, 0, 1, 1, 2.
	wantClose(t, "nearest 3→5", tp.ResizeNearest(row, 1, 5).Data, []float32{0, 0, 10, 10, 20}, 0)
	// Shrinking: 3→2 bilinear sources 0.25 and 1.75; nearest floor(o·1.5).
	wantClose(t, "bilinear 3→2", tp.ResizeBilinear(row, 1, 2).Data, []float32{2.5, 17.5}, 1e-5)
	wantClose(t, "nearest 3→2", tp.ResizeNearest(row, 1, 2).Data, []float32{0, 10}, 0)
	// 4→2 bilinear averages pairs (sources 0.5 and 2.5).
	four := FromData([]float32{1, 3, 10, 20}, 1, 4, 1, 1)
	wantClose(t, "bilinear 4→2", tp.ResizeBilinear(four, 2, 1).Data, []float32{2, 15}, 1e-6)
	// Same size is the identity; 1×1 spreads its value everywhere.
	wantClose(t, "bilinear same", tp.ResizeBilinear(x, 2, 2).Data, x.Data, 0)
	wantClose(t, "bilinear 1×1→1×2", tp.ResizeBilinear(FromData([]float32{7, -1}, 1, 1, 1, 2), 1, 2).Data, []float32{7, -1, 7, -1}, 0)

	// Channels and batch are carried along untouched.
	xc := FromData([]float32{1, -1, 2, -2, 3, -3, 4, -4, 10, 0, 20, 0, 30, 0, 40, 0}, 2, 2, 2, 2)
	bc := tp.ResizeBilinear(xc, 4, 4)
	for i := range 16 {
		if bc.Data[2*i+1] != -bl.Data[i] || bc.Data[32+2*i] != 10*bl.Data[i] || bc.Data[32+2*i+1] != 0 {
			t.Fatalf("bilinear batch/channels: pixel %d: %v %v %v", i, bc.Data[2*i+1], bc.Data[32+2*i], bc.Data[32+2*i+1])
		}
	}

	ap := tp.AvgPool2(FromData([]float32{
		1, 2, 3, 4, 100,
		5, 6, 7, 8, 100,
		100, 100, 100, 100, 100,
	}, 1, 3, 5, 1))
	wantShape(t, "AvgPool2 odd", ap, 1, 1, 2, 1)
	wantClose(t, "AvgPool2 odd", ap.Data, []float32{3.5, 5.5}, 0)

	p := tp.Pad(x, 0, 1, 0, 1)
	wantShape(t, "Pad", p, 1, 3, 3, 1)
	wantClose(t, "Pad", p.Data, []float32{1, 2, 0, 3, 4, 0, 0, 0, 0}, 0)
	p = tp.Pad(FromData([]float32{1, 2}, 1, 1, 1, 2), 1, 0, 2, 0)
	wantClose(t, "Pad top-left", p.Data, []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2}, 0)

	wantPanic(t, "resize rank", func() { tp.ResizeBilinear(New(2, 2), 4, 4) })
	wantPanic(t, "resize size", func() { tp.ResizeNearest(x, 0, 4) })
	wantPanic(t, "AvgPool2 small", func() { tp.AvgPool2(New(1, 1, 4, 1)) })
	wantPanic(t, "Pad negative", func() { tp.Pad(x, -1, 0, 0, 0) })
}

func TestResizeGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 9))
	x := randTensor(rng, -1, 1, 2, 3, 5, 2)
	for _, s := range [][2]int{{7, 4}, {2, 3}, {6, 10}, {3, 5}, {1, 1}, {5, 13}} {
		h, w := s[0], s[1]
		gradCheck(t, "ResizeBilinear", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.ResizeBilinear(x, h, w) })
		gradCheck(t, "ResizeNearest", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.ResizeNearest(x, h, w) })
	}
	one := randTensor(rng, -1, 1, 1, 1, 1, 3)
	gradCheck(t, "ResizeBilinear/1×1", []*Tensor{one}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.ResizeBilinear(one, 3, 2) })

	even := randTensor(rng, -1, 1, 2, 4, 6, 3)
	gradCheck(t, "AvgPool2", []*Tensor{even}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.AvgPool2(even) })
	gradCheck(t, "AvgPool2/odd", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.AvgPool2(x) })
	gradCheck(t, "Pad/ldm", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Pad(x, 0, 1, 0, 1) })
	gradCheck(t, "Pad/any", []*Tensor{x}, 1e-2, 1e-3, func(tp *Tape) *Tensor { return tp.Pad(x, 2, 1, 0, 3) })
}

// The parallel backward must give the serial answer bit for bit, so
// training is reproducible whatever GOMAXPROCS is.
func TestResizeParallelDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 10))
	// Big enough that both the forward and the backward loops split.
	x := randTensor(rng, -1, 1, 2, 48, 40, 16)
	for _, c := range []struct {
		name string
		f    func(tp *Tape) *Tensor
	}{
		{"bilinear down", func(tp *Tape) *Tensor { return tp.ResizeBilinear(x, 37, 45) }},
		{"bilinear up", func(tp *Tape) *Tensor { return tp.ResizeBilinear(x, 75, 90) }},
		{"nearest", func(tp *Tape) *Tensor { return tp.ResizeNearest(x, 75, 45) }},
	} {
		name, f := c.name, c.f
		seed := randTensor(rng, -1, 1, f(nil).Len()).Data
		var serial, parallel [][]float32
		var out1, out2 []float32
		withProcs(1, func() {
			serial = tapeGrads([]*Tensor{x}, seed, f)
			out1 = f(nil).Data
		})
		withProcs(4, func() {
			parallel = tapeGrads([]*Tensor{x}, seed, f)
			out2 = f(nil).Data
		})
		if !bitEqual(serial[0], parallel[0]) || !bitEqual(out1, out2) {
			t.Fatalf("%s: serial and parallel results differ", name)
		}
	}
}
