package featdist

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zoomdiff/zoomdiff/imageio"
	"github.com/zoomdiff/zoomdiff/metrics"
)

// Group is one set of generated images, e.g. all samples rendered at one
// size.
type Group struct {
	// Name is the subfolder the images came from ("" for a flat folder).
	Name string
	// Keys name the samples (file name without extension), parallel to
	// Images: the same key in two groups is the same sample rendered twice.
	Keys   []string
	Images []*imageio.Image
}

// LoadGenerated reads a folder of generated images. When it has
// subfolders holding images, each subfolder is one group, conventionally
// one output size ("32/0001.png", "64/0001.png", …) so that files with the
// same name are the same sample at different sizes; otherwise the folder's
// own images form a single group. Groups are sorted by name, numerically
// when the names are numbers.
func LoadGenerated(dir string) ([]Group, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("generated images: %w", err)
	}
	var groups []Group
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		g, err := loadGroup(filepath.Join(dir, e.Name()), e.Name())
		if err != nil {
			return nil, err
		}
		if len(g.Images) > 0 {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		g, err := loadGroup(dir, "")
		if err != nil {
			return nil, err
		}
		if len(g.Images) == 0 {
			return nil, fmt.Errorf("generated images: no images in %s or its subfolders", dir)
		}
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return lessName(groups[i].Name, groups[j].Name) })
	return groups, nil
}

// lessName orders "32" before "128" and otherwise compares as text.
func lessName(a, b string) bool {
	var x, y int
	if _, err := fmt.Sscanf(a, "%d", &x); err == nil {
		if _, err := fmt.Sscanf(b, "%d", &y); err == nil && x != y {
			return x < y
		}
	}
	return a < b
}

// loadGroup reads the images directly inside dir (not its subfolders).
func loadGroup(dir, name string) (Group, error) {
	g := Group{Name: name}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return g, fmt.Errorf("generated images: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() || !imageio.HasImageExt(e.Name()) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		m, err := imageio.Read(p)
		if err != nil {
			return g, fmt.Errorf("generated image %s: %w", p, err)
		}
		g.Keys = append(g.Keys, strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())))
		g.Images = append(g.Images, m)
	}
	return g, nil
}

// SelfSSIM measures how consistent the groups' renderings of each sample
// are: for every key present in all groups, metrics.SelfSSIM of its
// images (compared at the smallest size), averaged over the keys. It
// returns the mean and the number of keys used.
func SelfSSIM(groups []Group) (float64, int, error) {
	if len(groups) < 2 {
		return 0, 0, errors.New("self-SSIM needs images at two or more sizes (one subfolder per size)")
	}
	index := make([]map[string]*imageio.Image, len(groups))
	for i, g := range groups {
		index[i] = make(map[string]*imageio.Image, len(g.Keys))
		for j, k := range g.Keys {
			index[i][k] = g.Images[j]
		}
	}
	var sum float64
	n := 0
	for _, k := range groups[0].Keys {
		outs := []*imageio.Image{}
		for _, idx := range index {
			if m, ok := idx[k]; ok {
				outs = append(outs, m)
			}
		}
		if len(outs) != len(groups) {
			continue
		}
		s, err := metrics.SelfSSIM(outs, 0, 0)
		if err != nil {
			return 0, 0, fmt.Errorf("sample %s: %w", k, err)
		}
		sum += s
		n++
	}
	if n == 0 {
		return 0, 0, errors.New("self-SSIM: no sample name appears in every size folder")
	}
	return sum / float64(n), n, nil
}
