package tensor

import (
	"github.com/zoomdiff/zoomdiff/engine/blas"
	"github.com/zoomdiff/zoomdiff/engine/cpufeat"
	"github.com/zoomdiff/zoomdiff/engine/vmath"
)

// Winograd's minimal filtering F(4×4, 3×3) (Lavin & Gray 2016) computes a
// 3×3, stride-1, pad-1 convolution in 4×4 output tiles: each 6×6 input
// tile d and each filter g are transformed, V = Bᵀ·d·B and U = G·g·Gᵀ, the
// 36 transformed positions ξ are multiplied channel by channel (for each ξ
// one product of a tiles×Cin matrix with a Cin×Cout one) and the result m
// is transformed back, Y = Aᵀ·m·A. That is 36 multiplies for 16 outputs
// where the direct form takes 144, so the products are 4 times smaller;
// the transforms are a few additions and FMAs a value. With
//
//	Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//	G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
//	Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
//
// The larger entries cost float32 some accuracy: on sums of 9·Cin products
// the error is a few times the direct form's (winograd_test.go measures
// it), far below what a trained network's outputs notice.

// winogradMinChannels is the smallest Cin and Cout for which the Winograd
// path runs: with fewer channels the products are too thin to gain on the
// transforms (the 3-channel stem stays on rows).
const winogradMinChannels = 32

// winogradMinPixels is the smallest output (height × width) for which the
// Winograd path runs. Below it the filter transform, 36·Cin·Cout values
// made on every call, and the thin products cost what the 4-times-fewer
// multiplies save: BenchmarkConv3x3Shapes on 2 cores, Winograd against the
// row-expanded path, 116×116 64→64 (an encoder window) 3.8 ms against 7.5,
// 64×64 64→64 (the U-Net's first level) 1.5 against 2.7, but 32×32 128→128
// 2.4–2.6 against 2.6–2.8 and 16×16 256→128 2.8–3.3 against 1.2. A
// variable, so that tests can send small images through the tiles' edges.
var winogradMinPixels = 48 * 48

// winograd reports whether the convolution takes the Winograd path. The
// transforms are vector additions and FMAs (vmath.WinogradIn and Out):
// without AVX2 they cost more than the products save.
func (g convGeom) winograd() bool {
	return cpufeat.AVX2FMA && g.kh == 3 && g.kw == 3 && g.stride == 1 && g.pad == 1 && !im2colOnly && !winogradOff &&
		g.cin >= winogradMinChannels && g.cout >= winogradMinChannels && g.oh*g.ow >= winogradMinPixels
}

// winogradOff sends 3×3 convolutions through the row-expanded path, so that
// tests can compare the two.
var winogradOff = false

// winogradTileBytes bounds one block's transformed input (36 floats per
// tile and input channel), as rowBlockBytes bounds the expanded rows.
const winogradTileBytes = 768 << 10

// winogradMinTiles is the fewest tiles a block takes (the rows of its
// products) when the image has that many.
const winogradMinTiles = 96

// winogradFilter returns U = G·g·Gᵀ for every input and output channel,
// laid out as 36 Cin×Cout matrices, one per transformed position.
func winogradFilter(w []float32, cin, cout int) *[]float32 {
	ub := getBuf(36 * cin * cout)
	u := *ub
	// filterG writes G·(g0, g1, g2) to the six q, one Cout row each.
	filterG := func(q [6][]float32, g0, g1, g2 []float32) {
		const sixth, twelfth, twentyfourth = 1.0 / 6, 1.0 / 12, 1.0 / 24
		for co := range q[0] {
			a, b, c := g0[co], g1[co], g2[co]
			ac := a + c
			q[0][co] = a * 0.25
			q[1][co] = -(ac + b) * sixth
			q[2][co] = (b - ac) * sixth
			q[3][co] = a*twentyfourth + b*twelfth + c*sixth
			q[4][co] = a*twentyfourth - b*twelfth + c*sixth
			q[5][co] = c
		}
	}
	// In parallel over the input channels: it runs on every call, and on a
	// 64×64 image it is a tenth of the convolution's time.
	forEach(cin, func(ci int) {
		tmp := getBuf(18 * cout)
		var t [6][3][]float32 // G·g: rows i, columns b, a row of Cout values each
		for i := range 6 {
			for b := range 3 {
				t[i][b] = (*tmp)[(i*3+b)*cout:][:cout]
			}
		}
		tap := func(a, b int) []float32 { return w[((a*3+b)*cin+ci)*cout:][:cout] }
		for b := range 3 {
			filterG([6][]float32{t[0][b], t[1][b], t[2][b], t[3][b], t[4][b], t[5][b]}, tap(0, b), tap(1, b), tap(2, b))
		}
		for i := range 6 {
			var q [6][]float32
			for j := range 6 {
				q[j] = u[((i*6+j)*cin+ci)*cout:][:cout]
			}
			filterG(q, t[i][0], t[i][1], t[i][2])
		}
		putBuf(tmp)
	})
	return ub
}

// winogradConv computes out = conv(x, w) + bias (bias may be nil) for a
// 3×3, stride-1, pad-1 convolution. Blocks of whole tile rows run in
// parallel; each transforms its input tiles, runs the 36 products and
// writes its output rows.
func (g convGeom) winogradConv(x, w, bias, out []float32) {
	cin, cout := g.cin, g.cout
	ub := winogradFilter(w, cin, cout)
	u := *ub
	th, tw := (g.oh+3)/4, (g.ow+3)/4
	// Blocks of at least winogradMinTiles tiles where the image has them:
	// thinner products run far below the GEMM's speed.
	rb := min(max(winogradTileBytes/(4*36*tw*cin), (winogradMinTiles+tw-1)/tw), th)
	nb := (th + rb - 1) / rb
	rb = (th + nb - 1) / nb
	nb = (th + rb - 1) / rb
	forEach(g.n*nb, func(i int) {
		n, ty0 := i/nb, (i%nb)*rb
		ty1 := min(ty0+rb, th)
		tiles := (ty1 - ty0) * tw
		vb, mb := getBuf(36*tiles*cin), getBuf(36*tiles*cout)
		v, m := *vb, *mb
		g.winogradInput(x, n, ty0, ty1, v)
		for xi := range 36 {
			blas.SgemmSerial(false, false, tiles, cout, cin, 1, v[xi*tiles*cin:], cin, u[xi*cin*cout:], cout, 0, m[xi*tiles*cout:], cout)
		}
		g.winogradOutput(m, bias, n, ty0, ty1, out)
		putBuf(vb)
		putBuf(mb)
	})
	putBuf(ub)
}

// winogradInput writes V = Bᵀ·d·B for the tiles of tile rows ty0..ty1 of
// image n into v, as 36 tiles×Cin matrices. Input outside the image is 0:
// a tile that crosses the edge is copied into a zero-padded 6×6 first;
// the others are read in place, each of their rows six pixels in a row.
func (g convGeom) winogradInput(x []float32, n, ty0, ty1 int, v []float32) {
	c, tw := g.cin, (g.ow+3)/4
	tiles := (ty1 - ty0) * tw
	sb := getBuf(72 * c)
	e, pad := (*sb)[:36*c], (*sb)[36*c:] // e: Bᵀ along x, row a, column j at (a*6+j)*c
	for ty := ty0; ty < ty1; ty++ {
		for tx := range tw {
			t := (ty-ty0)*tw + tx
			y, xx := 4*ty-1, 4*tx-1
			inside := y >= 0 && y+6 <= g.h && xx >= 0 && xx+6 <= g.w
			if !inside {
				clear(pad)
				for a := max(-y, 0); a < min(6, g.h-y); a++ {
					x0, x1 := max(xx, 0), min(xx+6, g.w)
					copy(pad[(a*6+x0-xx)*c:], x[((n*g.h+y+a)*g.w+x0)*c:((n*g.h+y+a)*g.w+x1)*c])
				}
			}
			for a := range 6 {
				src := pad[a*6*c:]
				if inside {
					src = x[((n*g.h+y+a)*g.w+xx)*c:]
				}
				vmath.WinogradIn(e[a*6*c:], c, src, c, c)
			}
			for j := range 6 {
				vmath.WinogradIn(v[(j*tiles+t)*c:], 6*tiles*c, e[j*c:], 6*c, c)
			}
		}
	}
	putBuf(sb)
}

// winogradOutput writes Y = Aᵀ·m·A (+ bias) for the tiles of tile rows
// ty0..ty1 of image n into out, dropping the outputs past the image's
// last row or column.
func (g convGeom) winogradOutput(m, bias []float32, n, ty0, ty1 int, out []float32) {
	c, tw := g.cout, (g.ow+3)/4
	tiles := (ty1 - ty0) * tw
	sb := getBuf(29 * c)
	s, zero, spill := (*sb)[:24*c], (*sb)[24*c:25*c], (*sb)[25*c:] // s: Aᵀ·m, row dy, column j at (dy*6+j)*c
	clear(zero)
	if bias == nil {
		bias = zero
	}
	for ty := ty0; ty < ty1; ty++ {
		for tx := range tw {
			t := (ty-ty0)*tw + tx
			for j := range 6 {
				vmath.WinogradOut(s[j*c:], 6*c, m[(j*tiles+t)*c:], 6*tiles*c, zero, c)
			}
			y0, x0 := 4*ty, 4*tx
			cols := min(4, g.ow-x0)
			for dy := range min(4, g.oh-y0) {
				o := out[((n*g.oh+y0+dy)*g.ow+x0)*c:]
				if cols < 4 { // the tile crosses the right edge
					vmath.WinogradOut(spill, c, s[dy*6*c:], c, bias, c)
					copy(o[:cols*c], spill)
					continue
				}
				vmath.WinogradOut(o, c, s[dy*6*c:], c, bias, c)
			}
		}
	}
	putBuf(sb)
}
