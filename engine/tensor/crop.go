package tensor

import "fmt"

// Crop returns the h×w window of x [N,H,W,C] whose top-left pixel is
// (top, left); the gradient flows back into that window.
func (tp *Tape) Crop(x *Tensor, top, left, h, w int) *Tensor {
	if len(x.Shape) != 4 || top < 0 || left < 0 || h < 1 || w < 1 || top+h > x.Shape[1] || left+w > x.Shape[2] {
		panic(fmt.Sprintf("tensor.Crop: window %d,%d %dx%d outside %v", top, left, h, w, x.Shape))
	}
	n, ih, iw, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	out := tp.newOut([]int{n, h, w, c}, x)
	row := func(b, y int) (src, dst int) {
		return ((b*ih+top+y)*iw + left) * c, (b*h + y) * w * c
	}
	for b := 0; b < n; b++ {
		for y := 0; y < h; y++ {
			s, d := row(b, y)
			copy(out.Data[d:d+w*c], x.Data[s:s+w*c])
		}
	}
	tp.record(out, func() {
		gx := tp.grad(x)
		for b := 0; b < n; b++ {
			for y := 0; y < h; y++ {
				s, d := row(b, y)
				for i, v := range out.Grad[d : d+w*c] {
					gx[s+i] += v
				}
			}
		}
	})
	return out
}
