// Package dataset loads folders of training photos into memory and draws
// augmented random crops from them.
//
// Photos are kept as 8-bit RGB (a quarter of the float32 size), since a
// few dozen wallpapers at full resolution would otherwise take gigabytes.
package dataset

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// Photo is an 8-bit RGB image.
type Photo struct {
	Name string
	W, H int
	Pix  []uint8 // RGB interleaved, row-major
}

// Set is a collection of photos.
type Set struct {
	Photos []Photo
	// Upright limits Crop's augmentation to left–right mirroring, for
	// generation data, where which way is up is part of what is learned.
	Upright bool
}

// IsImage reports whether a file name has an extension the readers accept.
func IsImage(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".png", ".jpg", ".jpeg", ".webp", ".bmp":
		return true
	}
	return false
}

// ImageFiles lists the image files under dir, recursively, sorted.
func ImageFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && IsImage(d.Name()) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	sort.Strings(files)
	return files, nil
}

// LoadDirs reads every image under the given folders. Photos smaller than
// minSide on either axis are skipped (they cannot give a full crop).
func LoadDirs(dirs []string, minSide int) (*Set, error) {
	s := &Set{}
	for _, dir := range dirs {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("data folder: %w", err)
		}
		files, err := ImageFiles(dir)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			m, err := imageio.Read(f)
			if err != nil {
				return nil, err
			}
			if m.W < minSide || m.H < minSide {
				continue
			}
			p := Photo{Name: f, W: m.W, H: m.H, Pix: make([]uint8, len(m.Pix))}
			for i, v := range m.Pix {
				p.Pix[i] = imageio.To8(v)
			}
			s.Photos = append(s.Photos, p)
		}
	}
	if len(s.Photos) == 0 {
		return nil, fmt.Errorf("no usable images (png, jpeg, webp of at least %d px) in %s", minSide, strings.Join(dirs, ", "))
	}
	return s, nil
}

// Crop fills dst (size·size·3 floats in [0, 1]) with a random square crop
// of a random photo, randomly flipped and rotated by a multiple of 90°.
//
// Photos smaller than size are passed over (drawn again), so one set can
// serve crops of several sizes. It panics when no photo can give one:
// callers check Fits (LoadDirs's minSide guarantees it up to minSide).
func (s *Set) Crop(rng *rand.Rand, size int, dst []float32) {
	p := &s.Photos[rng.IntN(len(s.Photos))]
	if p.W < size || p.H < size {
		if !s.Fits(size) {
			panic(fmt.Sprintf("dataset: no photo can give a %d-pixel crop", size))
		}
		for p.W < size || p.H < size {
			p = &s.Photos[rng.IntN(len(s.Photos))]
		}
	}
	x0 := rng.IntN(p.W - size + 1)
	y0 := rng.IntN(p.H - size + 1)
	flip, rot := rng.IntN(2) == 1, rng.IntN(4)
	if s.Upright {
		rot = 0
	}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			sx, sy := x, y
			for r := 0; r < rot; r++ {
				sx, sy = size-1-sy, sx
			}
			if flip {
				sx = size - 1 - sx
			}
			src := p.Pix[((y0+sy)*p.W+x0+sx)*3:]
			d := dst[(y*size+x)*3:]
			d[0] = float32(src[0]) / 255
			d[1] = float32(src[1]) / 255
			d[2] = float32(src[2]) / 255
		}
	}
}

// Fits reports whether at least one photo can give a crop of side size.
func (s *Set) Fits(size int) bool {
	for _, p := range s.Photos {
		if p.W >= size && p.H >= size {
			return true
		}
	}
	return false
}

// Pixels is the total pixel count, for reporting.
func (s *Set) Pixels() int {
	n := 0
	for _, p := range s.Photos {
		n += p.W * p.H
	}
	return n
}
