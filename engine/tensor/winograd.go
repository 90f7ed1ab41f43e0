package tensor

import (
	"github.com/zoomdiff/zoomdiff/engine/blas"
	"github.com/zoomdiff/zoomdiff/engine/cpufeat"
	"github.com/zoomdiff/zoomdiff/engine/vmath"
)

// Winograd's minimal filtering F(2×2, 3×3) (Lavin & Gray 2016) computes a
// 3×3, stride-1, pad-1 convolution in 2×2 output tiles: each 4×4 input
// tile d and each filter g are transformed, V = Bᵀ·d·B and U = G·g·Gᵀ, the
// 16 transformed positions ξ are multiplied channel by channel (for each ξ
// one product of a tiles×Cin matrix with a Cin×Cout one) and the result m
// is transformed back, Y = Aᵀ·m·A. That is 16 multiplies for 4 outputs
// where the direct form takes 36, so the products are 2.25 times smaller;
// the transforms are additions only. With
//
//	Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//	G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//	Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// float32 rounding stays at the direct form's level (the transforms' entries
// are 0, ±½ and ±1).

// winogradMinChannels is the smallest Cin and Cout for which the Winograd
// path runs: with fewer channels the products are too thin to gain on the
// transforms (the 3-channel stem stays on rows). On the auto-encoder's
// 64-channel blocks it is 1.6 times faster than the row-expanded path (a
// 464×464, 64→64 convolution on 2 cores: 112 ms before, 70 ms).
const winogradMinChannels = 32

// winograd reports whether the convolution takes the Winograd path. The
// transforms are vector additions (vmath.WinogradIn and WinogradOut):
// without AVX2 they cost more than the products save.
func (g convGeom) winograd() bool {
	return cpufeat.AVX2FMA && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.pad == 1 && !im2colOnly && !winogradOff &&
		g.cin >= winogradMinChannels && g.cout >= winogradMinChannels
}

// winogradOff sends 3×3 convolutions through the row-expanded path, so that
// tests can compare the two.
var winogradOff = false

// winogradTileBytes bounds one block's transformed input (16 floats per
// tile and input channel), as rowBlockBytes bounds the expanded rows.
const winogradTileBytes = 768 << 10

// winogradFilter returns U = G·g·Gᵀ for every input and output channel,
// laid out as 16 Cin×Cout matrices, one per transformed position.
func winogradFilter(w []float32, cin, cout int) *[]float32 {
	ub := getBuf(16 * cin * cout)
	u := *ub
	var t [4][3][]float32 // G·g, rows i, columns b, a row of Cout values each
	tmp := getBuf(12 * cout)
	for i := range 4 {
		for b := range 3 {
			t[i][b] = (*tmp)[(i*3+b)*cout:][:cout]
		}
	}
	for ci := range cin {
		tap := func(a, b int) []float32 { return w[((a*3+b)*cin+ci)*cout:][:cout] }
		for b := range 3 {
			g0, g1, g2 := tap(0, b), tap(1, b), tap(2, b)
			for co := range cout {
				t[0][b][co] = g0[co]
				t[1][b][co] = 0.5 * (g0[co] + g1[co] + g2[co])
				t[2][b][co] = 0.5 * (g0[co] - g1[co] + g2[co])
				t[3][b][co] = g2[co]
			}
		}
		for i := range 4 {
			row := func(j int) []float32 { return u[((i*4+j)*cin+ci)*cout:][:cout] }
			u0, u1, u2, u3 := row(0), row(1), row(2), row(3)
			r0, r1, r2 := t[i][0], t[i][1], t[i][2]
			for co := range cout {
				u0[co] = r0[co]
				u1[co] = 0.5 * (r0[co] + r1[co] + r2[co])
				u2[co] = 0.5 * (r0[co] - r1[co] + r2[co])
				u3[co] = r2[co]
			}
		}
	}
	putBuf(tmp)
	return ub
}

// winogradConv computes out = conv(x, w) + bias (bias may be nil) for a
// 3×3, stride-1, pad-1 convolution. Blocks of whole tile rows run in
// parallel; each transforms its input tiles, runs the 16 products and
// writes its output rows.
func (g convGeom) winogradConv(x, w, bias, out []float32) {
	cin, cout := g.cin, g.cout
	ub := winogradFilter(w, cin, cout)
	u := *ub
	th, tw := (g.oh+1)/2, (g.ow+1)/2
	rb := min(max(winogradTileBytes/(4*16*tw*cin), 1), th)
	nb := (th + rb - 1) / rb
	rb = (th + nb - 1) / nb
	nb = (th + rb - 1) / rb
	forEach(g.n*nb, func(i int) {
		n, ty0 := i/nb, (i%nb)*rb
		ty1 := min(ty0+rb, th)
		tiles := (ty1 - ty0) * tw
		vb, mb := getBuf(16*tiles*cin), getBuf(16*tiles*cout)
		v, m := *vb, *mb
		g.winogradInput(x, n, ty0, ty1, v)
		for xi := range 16 {
			blas.SgemmSerial(false, false, tiles, cout, cin, 1, v[xi*tiles*cin:], cin, u[xi*cin*cout:], cout, 0, m[xi*tiles*cout:], cout)
		}
		g.winogradOutput(m, bias, n, ty0, ty1, out)
		putBuf(vb)
		putBuf(mb)
	})
	putBuf(ub)
}

// winogradInput writes V = Bᵀ·d·B for the tiles of tile rows ty0..ty1 of
// image n into v, as 16 tiles×Cin matrices. Input outside the image is 0.
func (g convGeom) winogradInput(x []float32, n, ty0, ty1 int, v []float32) {
	c, tw := g.cin, (g.ow+1)/2
	tiles := (ty1 - ty0) * tw
	sb := getBuf(17 * c)
	zero, e := (*sb)[16*c:], *sb // e: d·B, row a, column j at (a*4+j)*c
	clear(zero)
	px := func(y, xx int) []float32 {
		if y < 0 || y >= g.h || xx < 0 || xx >= g.w {
			return zero
		}
		return x[((n*g.h+y)*g.w+xx)*c:][:c]
	}
	row := func(buf []float32, i int) []float32 { return buf[i*c:][:c] }
	for ty := ty0; ty < ty1; ty++ {
		for tx := range tw {
			t := (ty-ty0)*tw + tx
			y, xx := 2*ty-1, 2*tx-1
			for a := range 4 {
				vmath.WinogradIn(row(e, a*4), row(e, a*4+1), row(e, a*4+2), row(e, a*4+3),
					px(y+a, xx), px(y+a, xx+1), px(y+a, xx+2), px(y+a, xx+3))
			}
			for j := range 4 {
				vmath.WinogradIn(row(v, j*tiles+t), row(v, (4+j)*tiles+t), row(v, (8+j)*tiles+t), row(v, (12+j)*tiles+t),
					row(e, j), row(e, 4+j), row(e, 8+j), row(e, 12+j))
			}
		}
	}
	putBuf(sb)
}

// winogradOutput writes Y = Aᵀ·m·A (+ bias) for the tiles of tile rows
// ty0..ty1 of image n into out, dropping the outputs past the image's
// last row or column.
func (g convGeom) winogradOutput(m, bias []float32, n, ty0, ty1 int, out []float32) {
	c, tw := g.cout, (g.ow+1)/2
	tiles := (ty1 - ty0) * tw
	sb := getBuf(11 * c)
	s, zero, spill := *sb, (*sb)[8*c:9*c], (*sb)[9*c:] // s: Aᵀ·m, row dy, column j at (dy*4+j)*c
	clear(zero)
	if bias == nil {
		bias = zero
	}
	row := func(buf []float32, i int) []float32 { return buf[i*c:][:c] }
	for ty := ty0; ty < ty1; ty++ {
		for tx := range tw {
			t := (ty-ty0)*tw + tx
			for j := range 4 {
				vmath.WinogradOut(row(s, j), row(s, 4+j),
					row(m, j*tiles+t), row(m, (4+j)*tiles+t), row(m, (8+j)*tiles+t), row(m, (12+j)*tiles+t), zero)
			}
			y0, x0 := 2*ty, 2*tx
			for dy := range min(2, g.oh-y0) {
				o := out[((n*g.oh+y0+dy)*g.ow+x0)*c:]
				o0, o1 := o[:c], spill[:c] // the second column may lie past the edge
				if x0+1 < g.ow {
					o1 = o[c : 2*c]
				}
				vmath.WinogradOut(o0, o1, row(s, dy*4), row(s, dy*4+1), row(s, dy*4+2), row(s, dy*4+3), bias)
			}
		}
	}
	putBuf(sb)
}
