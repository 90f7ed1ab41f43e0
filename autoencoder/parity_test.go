package autoencoder

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/dataset/datatest"
	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
	"github.com/zoomdiff/zoomdiff/implicit"
)

// TestOverfitParity is the Go half of bench/ae_overfit_peer.py: both fit
// the same four 48×48 crops with the same architecture (C = 32) and print
// the L1 loss every 20 steps, so the learning speed of the engine can be
// compared with PyTorch's; the loss must fall at both learning rates. It
// takes about a minute, so it runs only with ZOOMDIFF_PARITY=FILE, and
// writes the crops to FILE for the Python side:
//
//	ZOOMDIFF_PARITY=/tmp/crops.bin go test -run OverfitParity -v ./autoencoder
//	python3 bench/ae_overfit_peer.py /tmp/crops.bin
func TestOverfitParity(t *testing.T) {
	cropsFile := os.Getenv("ZOOMDIFF_PARITY")
	if cropsFile == "" {
		t.Skip("set ZOOMDIFF_PARITY=FILE to run the PyTorch parity experiment (the crops go to FILE)")
	}
	set, err := dataset.LoadDirs([]string{datatest.Path(t, "train", "skimage")}, 64)
	if err != nil {
		t.Fatal(err)
	}
	const B, P = 4, 48
	rng := rand.New(rand.NewPCG(1, 1))
	x := tensor.New(B, P, P, 3)
	for i := 0; i < B; i++ {
		set.Crop(rng, P, x.Data[i*P*P*3:(i+1)*P*P*3])
	}
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, x.Data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cropsFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ys, xs := implicit.Grid(P, P)
	for i := 1; i < B; i++ {
		ys = append(ys, ys[:P*P]...)
		xs = append(xs, xs[:P*P]...)
	}
	target := tensor.FromData(append([]float32(nil), x.Data...), B*P*P, 3)
	for _, lr := range []float64{1e-3, 1e-4} {
		cfg := DefaultConfig()
		cfg.Channels = 32
		m, _ := New(cfg, 1)
		adam := optim.NewAdam(m.Params.Tensors(), optim.AdamConfig())
		tp := tensor.NewTape()
		var first, last float32
		for step := 0; step <= 80; step++ {
			z := m.Encode(tp, x)
			loss := tp.L1Loss(m.Query(tp, z, m.Features(tp, z), ys, xs, 2.0/P, 2.0/P), target)
			tp.Backward(loss)
			if step%20 == 0 {
				t.Logf("go lr%g step %d loss %.5f", lr, step, loss.Data[0])
			}
			if step == 0 {
				first = loss.Data[0]
			}
			last = loss.Data[0]
			tp.Reset()
			adam.Step(lr)
			adam.ZeroGrad()
		}
		if !(last < first) {
			t.Errorf("lr %g: L1 loss went from %.5f to %.5f in 80 steps", lr, first, last)
		}
	}
}
