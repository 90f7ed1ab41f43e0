package dataset

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/zoomdiff/zoomdiff/imageio"
)

// TarOptions tunes LoadTar.
type TarOptions struct {
	// MinSide skips images narrower or shorter than this, as LoadDirs does.
	MinSide int
	// MaxPixels bounds each image's width×height (0: imageio's default), so
	// that a crafted member cannot make the loader allocate gigabytes.
	MaxPixels int64
	// MaxMemberBytes bounds the compressed size of one image member
	// (0: 64 MiB); larger members are an error rather than an allocation.
	MaxMemberBytes int64
	// Limit stops after this many images (0: all), in archive order, for
	// quick experiments; the result is still sorted by class and name.
	Limit int
}

// defaultMaxMember is TarOptions.MaxMemberBytes when left at zero.
const defaultMaxMember = 64 << 20

// Labeled is a Set whose photos carry a class: the name of the folder each
// image sat in inside the archive (".../bird/0338.jpg" is class "bird").
// Photos are sorted by class then name, so the order, and any split made
// from it, does not depend on how the archive happened to be written.
type Labeled struct {
	Set
	// Classes are the distinct class names, sorted. An image at the archive
	// root has the class "".
	Classes []string
	// Labels[i] is the index in Classes of Photos[i].
	Labels []int
}

// LoadTar reads every image (PNG, JPEG, WebP, BMP by extension) in a .tar
// or .tar.gz archive without unpacking it; gzip is recognised by its magic
// bytes, not by the file name. Directories, links and other non-image
// members are skipped. A member that does not decode, or an archive that
// ends early or fails its gzip checksum, is an error naming the member.
func LoadTar(file string, opt TarOptions) (*Labeled, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("tar data: %w", err)
	}
	defer f.Close()
	l, err := ReadTar(f, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return l, nil
}

// ReadTar is LoadTar on a stream.
func ReadTar(r io.Reader, opt TarOptions) (*Labeled, error) {
	src, err := decompressed(r)
	if err != nil {
		return nil, err
	}
	items, err := readMembers(src, opt)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errors.New(noImages(opt.MinSide))
	}
	return labeled(items), nil
}

// decompressed is r, read through gzip when it starts with gzip's magic
// bytes.
func decompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip header: %w", err)
	}
	// A gzip stream is one member; concatenated streams are not how
	// archives are written and would only hide trailing garbage.
	zr.Multistream(false)
	return zr, nil
}

// tarItem is one image read from an archive, with its class.
type tarItem struct {
	class string
	photo Photo
}

// readMembers decodes the image members of the tar stream src, in archive
// order, up to opt.Limit of them, and checks that the archive is whole.
func readMembers(src io.Reader, opt TarOptions) ([]tarItem, error) {
	maxMember := opt.MaxMemberBytes
	if maxMember <= 0 {
		maxMember = defaultMaxMember
	}
	var items []tarItem
	tail := &tailReader{r: src}
	tr := tar.NewReader(tail)
	last := "" // the last member read, to place a truncation
	for opt.Limit <= 0 || len(items) < opt.Limit {
		h, err := tr.Next()
		if err == io.EOF {
			if !tail.ended() {
				return nil, fmt.Errorf("after member %q: archive is truncated (no end-of-archive marker)", last)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the member after %q: %w", last, describeTarErr(err))
		}
		last = h.Name
		if h.Typeflag != tar.TypeReg || !imageio.HasImageExt(h.Name) {
			continue
		}
		m, err := decodeMember(tr, h, maxMember, opt.MaxPixels)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", h.Name, err)
		}
		if m.W < opt.MinSide || m.H < opt.MinSide {
			continue
		}
		items = append(items, tarItem{class: classOf(h.Name), photo: photoOf(h.Name, m)})
	}
	// The gzip checksum is only checked at the end of the stream, and the
	// tar reader stops at the end-of-archive blocks before reaching it, so
	// drain the rest: a corrupt tail must not pass silently.
	if opt.Limit <= 0 {
		if _, err := io.Copy(io.Discard, src); err != nil {
			return nil, fmt.Errorf("after member %q: %w", last, describeTarErr(err))
		}
	}
	return items, nil
}

// decodeMember reads the member h from tr, refusing one over maxMember
// bytes, and decodes it with at most maxPixels pixels.
func decodeMember(tr *tar.Reader, h *tar.Header, maxMember, maxPixels int64) (*imageio.Image, error) {
	if h.Size > maxMember {
		return nil, fmt.Errorf("%d bytes is over the limit of %d", h.Size, maxMember)
	}
	data := make([]byte, h.Size)
	if _, err := io.ReadFull(tr, data); err != nil {
		return nil, describeTarErr(err)
	}
	return imageio.Decode(data, imageio.ReadOptions{MaxPixels: maxPixels})
}

// labeled sorts items by class then name and numbers the classes.
func labeled(items []tarItem) *Labeled {
	sort.SliceStable(items, func(i, j int) bool {
		if items[i].class != items[j].class {
			return items[i].class < items[j].class
		}
		return items[i].photo.Name < items[j].photo.Name
	})
	l := &Labeled{Labels: make([]int, len(items))}
	l.Photos = make([]Photo, len(items))
	for i, it := range items {
		if len(l.Classes) == 0 || l.Classes[len(l.Classes)-1] != it.class {
			l.Classes = append(l.Classes, it.class)
		}
		l.Photos[i] = it.photo
		l.Labels[i] = len(l.Classes) - 1
		l.Photos[i].Class = l.Labels[i]
	}
	return l
}

// tailReader counts the bytes the tar reader consumes and how many zero
// bytes they end with. archive/tar reports a stream that stops at a member
// boundary, or inside a member's padding, as a normal io.EOF; a complete
// archive instead ends with two 512-byte zero blocks, which is what ended
// checks for.
type tailReader struct {
	r     io.Reader
	n     int64
	zeros int64 // trailing zero bytes of what was read so far
}

// Read passes the read through, counting and watching for zeros.
func (t *tailReader) Read(p []byte) (int, error) {
	k, err := t.r.Read(p)
	t.n += int64(k)
	i := k
	for i > 0 && p[i-1] == 0 {
		i--
	}
	if i == 0 {
		t.zeros += int64(k)
	} else {
		t.zeros = int64(k - i)
	}
	return k, err
}

// ended reports whether the bytes read so far end with the end-of-archive
// marker on a block boundary.
func (t *tailReader) ended() bool { return t.n%512 == 0 && t.zeros >= 1024 }

// describeTarErr names the usual archive failures in words: the readers
// report a truncated file as a bare "unexpected EOF".
func describeTarErr(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("archive is truncated: %w", err)
	case errors.Is(err, gzip.ErrChecksum):
		return fmt.Errorf("archive is corrupt: %w", err)
	}
	return err
}

// classOf is the name of the folder holding a member, "" at the root.
func classOf(name string) string {
	d := path.Dir(path.Clean(strings.TrimPrefix(name, "./")))
	if d == "." || d == "/" {
		return ""
	}
	return path.Base(d)
}

func photoOf(name string, m *imageio.Image) Photo {
	p := Photo{Name: name, W: m.W, H: m.H, Pix: make([]uint8, len(m.Pix))}
	for i, v := range m.Pix {
		p.Pix[i] = imageio.To8(v)
	}
	return p
}

// Image converts the photo to float32 pixels.
func (p *Photo) Image() *imageio.Image {
	m := imageio.New(p.W, p.H)
	for i, v := range p.Pix {
		m.Pix[i] = float32(v) / 255
	}
	return m
}

// Images converts every photo of the set to float32 pixels.
func (s *Set) Images() []*imageio.Image {
	out := make([]*imageio.Image, len(s.Photos))
	for i := range s.Photos {
		out[i] = s.Photos[i].Image()
	}
	return out
}

// Split holds back perClass images of every class for evaluation and
// returns the rest as train. The held-back images are spread evenly
// through each class's name order (not its first or last names, which
// some exports sort by source or date), and the choice depends only on
// the names, so the same archive always gives the same split. A class
// with no more than perClass images is an error: it would leave nothing
// to train on.
func (l *Labeled) Split(perClass int) (train, held *Labeled, err error) {
	if perClass < 0 {
		return nil, nil, fmt.Errorf("split: negative hold-out %d", perClass)
	}
	count := make([]int, len(l.Classes))
	for _, c := range l.Labels {
		count[c]++
	}
	for c, n := range count {
		if perClass > 0 && n <= perClass {
			return nil, nil, fmt.Errorf("split: class %q has %d images, cannot hold back %d", l.Classes[c], n, perClass)
		}
	}
	train = &Labeled{Classes: l.Classes}
	held = &Labeled{Classes: l.Classes}
	seen := make([]int, len(l.Classes))
	for i, c := range l.Labels {
		k, n := seen[c], count[c]
		seen[c]++
		// Image k of n is held when ⌊(k+1)·K/n⌋ steps past ⌊k·K/n⌋: exactly
		// K of them, one every n/K.
		dst := train
		if (k+1)*perClass/n > k*perClass/n {
			dst = held
		}
		dst.Photos = append(dst.Photos, l.Photos[i])
		dst.Labels = append(dst.Labels, c)
	}
	return train, held, nil
}

// PerClass returns up to n images of every class, spread evenly through
// each class like Split, e.g. a balanced subset for a quick measurement.
func (l *Labeled) PerClass(n int) *Labeled {
	count := make([]int, len(l.Classes))
	for _, c := range l.Labels {
		count[c]++
	}
	out := &Labeled{Classes: l.Classes}
	seen := make([]int, len(l.Classes))
	for i, c := range l.Labels {
		k, m := seen[c], count[c]
		seen[c]++
		if n >= m || (k+1)*n/m > k*n/m {
			out.Photos = append(out.Photos, l.Photos[i])
			out.Labels = append(out.Labels, c)
		}
	}
	return out
}
