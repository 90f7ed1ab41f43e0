package resample

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A stream taken in bands of any height, top down or not, gives Resize's
// pixels (exactly where Resize too goes along x first; {8 8 → 40 40} it
// does not), and asks for each source row once when taken top down.
func TestStreamMatchesResize(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, c := range []struct{ w, h, ch, dw, dh int }{
		{9, 7, 3, 50, 41}, {16, 16, 3, 16, 64}, {12, 10, 1, 12, 10}, {5, 6, 3, 23, 6}, {8, 8, 3, 40, 40},
	} {
		src := make([]float32, c.w*c.h*c.ch)
		for i := range src {
			src[i] = rng.Float32()
		}
		want, err := Resize(src, c.w, c.h, c.ch, c.dw, c.dh, Options{Method: Bicubic})
		if err != nil {
			t.Fatal(err)
		}
		for _, band := range []int{1, 3, 8, c.dh} {
			made := make([]int, c.h)
			s, err := NewStream(c.w, c.h, c.ch, c.dw, c.dh, Bicubic, func(y0, y1 int) []float32 {
				for y := y0; y < y1; y++ {
					made[y]++
				}
				return src[y0*c.w*c.ch : y1*c.w*c.ch]
			})
			if err != nil {
				t.Fatal(err)
			}
			row := c.dw * c.ch
			for y0 := 0; y0 < c.dh; y0 += band {
				y1 := min(y0+band, c.dh)
				got, err := s.Rows(y0, y1)
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range got {
					if math.Abs(float64(v-want[y0*row+i])) > 1e-6 {
						t.Fatalf("%+v band %d: rows [%d, %d) value %d: %v, want %v", c, band, y0, y1, i, v, want[y0*row+i])
					}
				}
			}
			for y, n := range made {
				if n > 1 {
					t.Fatalf("%+v band %d: source row %d made %d times", c, band, y, n)
				}
			}
			// Out of order: back to the top, then a band in the middle.
			for _, r := range [][2]int{{0, 2}, {c.dh / 2, c.dh/2 + 1}} {
				got, err := s.Rows(r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				for i, v := range got {
					if math.Abs(float64(v-want[r[0]*row+i])) > 1e-6 {
						t.Fatalf("%+v: rows %v out of order: value %d differs", c, r, i)
					}
				}
			}
		}
	}
	s, _ := NewStream(4, 4, 3, 8, 8, Bicubic, func(y0, y1 int) []float32 { return make([]float32, (y1-y0)*12) })
	for _, r := range [][2]int{{-1, 2}, {3, 3}, {7, 9}} {
		if _, err := s.Rows(r[0], r[1]); err == nil {
			t.Fatalf("rows %v of 8: want an error", r)
		}
	}
	bad, _ := NewStream(4, 4, 3, 8, 8, Bicubic, func(y0, y1 int) []float32 { return make([]float32, 5) })
	if _, err := bad.Rows(0, 4); err == nil {
		t.Fatal("a source giving the wrong number of values: want an error")
	}
}
