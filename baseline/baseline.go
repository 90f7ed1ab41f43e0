// Package baseline holds what the two comparison methods share: their
// model files and the "random:" names for untrained weights (they train
// with trainloop.Trainer, as the condition network does). The methods
// themselves live below it:
//
//   - baseline/liif: LIIF (Chen et al., CVPR 2021), regression with an
//     EDSR-baseline encoder and an implicit MLP decoder;
//   - baseline/idm: an image-space implicit diffusion model after IDM
//     (Gao et al., CVPR 2023), whose U-Net runs at the output resolution.
//
// Both are built on the same engine as our model, register themselves as
// upscaling methods ("liif", "idm") and train with the same loop, so the
// comparisons of issue #8 measure the methods, not their implementations.
package baseline

import (
	"fmt"
	"strings"
)

// RandomPrefix starts a model name that asks for freshly initialised
// weights instead of a file, e.g. "random:liif". A method's time and
// memory do not depend on its training, so `zoomdiff bench scales` can
// measure a baseline that nobody has trained yet; its outputs are noise.
const RandomPrefix = "random:"

// IsRandom reports whether model asks for random weights of kind
// ("random:KIND"). Any other "random:" name is an error, so a typo is not
// mistaken for a file name.
func IsRandom(model, kind string) (bool, error) {
	rest, ok := strings.CutPrefix(model, RandomPrefix)
	switch {
	case !ok:
		return false, nil
	case rest != kind:
		return false, fmt.Errorf("model %q: want %s%s for freshly initialised %s weights", model, RandomPrefix, kind, kind)
	}
	return true, nil
}
