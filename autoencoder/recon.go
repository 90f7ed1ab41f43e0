package autoencoder

import (
	"fmt"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/imageio"
)

// EncodeImage encodes an image of any size. The image is padded by edge
// replication to a multiple of the encoder's factor; the returned decoder
// is restricted to the image's own extent, so rendering at W×H gives the
// image back at its size.
func (m *Model) EncodeImage(img *imageio.Image) (*Decoder, error) {
	if err := img.Check(); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	f := m.Config.Factor()
	ph, pw := (img.H+f-1)/f*f, (img.W+f-1)/f*f
	x := tensor.New(1, ph, pw, 3)
	for y := 0; y < ph; y++ {
		sy := min(y, img.H-1)
		for xx := 0; xx < pw; xx++ {
			sx := min(xx, img.W-1)
			copy(x.Data[(y*pw+xx)*3:(y*pw+xx+1)*3], img.Pix[(sy*img.W+sx)*3:(sy*img.W+sx+1)*3])
		}
	}
	d, err := m.NewDecoder(m.Encode(nil, x))
	if err != nil {
		return nil, err
	}
	d.SetView(0, 0, float32(img.H)/float32(ph), float32(img.W)/float32(pw))
	return d, nil
}

// RenderImage renders the decoder's latent as a w×h image.
func (d *Decoder) RenderImage(w, h int) *imageio.Image {
	return &imageio.Image{W: w, H: h, Pix: d.Render(h, w)}
}
