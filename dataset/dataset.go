// Package dataset loads folders of training photos into memory and draws
// augmented random crops from them.
//
// Photos are kept as 8-bit RGB (a quarter of the float32 size), since a
// few dozen wallpapers at full resolution would otherwise take gigabytes.
package dataset

import (
	_ "embed"
	"errors"
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
	// Class is the photo's label in a labelled archive (an index into
	// Labeled.Classes; see LoadTar), 0 for folders.
	Class int
}

// Set is a collection of photos.
type Set struct {
	Photos []Photo
	// Upright limits Crop's augmentation to left–right mirroring, for
	// generation data, where which way is up is part of what is learned.
	Upright bool
}

// HeldOutSuffix, appended to a data folder ("../shared/data/train/photos@heldout"),
// selects only the folder's held-out photos.
const HeldOutSuffix = "@heldout"

// heldOutList names the fixed validation split, "folder/file" a line: 12
// of train/photos (every 13th by name from the 7th) and 12 of
// train/bsds500test (every 16th from the 9th). No model is trained on them,
// so they measure quality on photos that tuning to Set5/Set14 cannot reach.
//
//go:embed heldout.txt
var heldOutList string

var heldOut = func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Fields(heldOutList) {
		m[l] = true
	}
	return m
}()

// HeldOut reports whether path is one of the held-out validation photos,
// matched on its folder's name and its file name.
func HeldOut(path string) bool {
	return heldOut[filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path)]
}

// ImageFiles lists the image files under dir, recursively, sorted. The
// held-out validation photos (HeldOut) are left out, unless dir ends in
// HeldOutSuffix, which lists only them.
func ImageFiles(dir string) ([]string, error) {
	var files []string
	dir, only := strings.CutSuffix(dir, HeldOutSuffix)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && imageio.HasImageExt(d.Name()) && HeldOut(path) == only {
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

// LoadDirs reads every image under the given folders (as ImageFiles lists
// them: without the held-out photos, or only those). Photos smaller than
// minSide on either axis are skipped (they cannot give a full crop).
func LoadDirs(dirs []string, minSide int) (*Set, error) {
	s := &Set{}
	for _, dir := range dirs {
		if _, err := os.Stat(strings.TrimSuffix(dir, HeldOutSuffix)); err != nil {
			return nil, fmt.Errorf("image folder: %w", err)
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
		return nil, fmt.Errorf("%s in %s", noImages(minSide), strings.Join(dirs, ", "))
	}
	return s, nil
}

// noImages says what a source without one usable image lacked: images of
// at least minSide pixels a side, or with minSide at most 1 any image.
func noImages(minSide int) string {
	if minSide > 1 {
		return fmt.Sprintf("no usable images (%s of at least %d px)", imageio.FormatNames, minSide)
	}
	return fmt.Sprintf("no images (%s)", imageio.FormatNames)
}

// Crop fills dst (size·size·3 floats in [0, 1]) with a random square crop
// of a random photo, randomly flipped and rotated by a multiple of 90°,
// and returns that photo's Class.
//
// Photos smaller than size are passed over (drawn again), so one set can
// serve crops of several sizes. It panics when no photo can give one:
// callers check Fits (LoadDirs's minSide guarantees it up to minSide).
func (s *Set) Crop(rng *rand.Rand, size int, dst []float32) (class int) {
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
	return p.Class
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

// ErrNoData is returned by DataDir when the shared research data is not
// present, which is normal on machines outside the project.
var ErrNoData = errors.New("shared data not found (set ZOOMDIFF_DATA or place it at ../shared/data beside the repository)")

// DataDir locates the project's shared data folder: $ZOOMDIFF_DATA if
// set, else ../shared/data next to the repository root (the nearest folder
// at or above the working directory holding go.mod). Tests use it to skip
// cleanly where the data is absent.
func DataDir() (string, error) {
	if d := os.Getenv("ZOOMDIFF_DATA"); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("ZOOMDIFF_DATA=%s is not a directory: %w", d, ErrNoData)
		}
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return filepath.Clean(d), nil
			}
			return "", ErrNoData
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", ErrNoData
		}
		dir = parent
	}
}
