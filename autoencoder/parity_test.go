package autoencoder

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/zoomdiff/zoomdiff/dataset"
	"github.com/zoomdiff/zoomdiff/engine/optim"
	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

// TestOverfitParity is the Go half of bench/ae_overfit_peer.py: both fit
// the same four 48×48 crops with the same architecture (C = 32) and print
// the L1 loss every 20 steps, so the learning speed of the engine can be
// compared with PyTorch's. It runs only with ZOOMDIFF_PARITY=1 and writes
// the crops to /tmp/crops.bin for the Python side.
func TestOverfitParity(t *testing.T) {
	if os.Getenv("ZOOMDIFF_PARITY") == "" {
		t.Skip("set ZOOMDIFF_PARITY=1 to run the PyTorch parity experiment")
	}
	root, err := dataset.DataDir()
	if err != nil {
		t.Skip(err)
	}
	set, err := dataset.LoadDirs([]string{filepath.Join(root, "train", "skimage")}, 64)
	if err != nil {
		t.Fatal(err)
	}
	const B, P = 4, 48
	rng := rand.New(rand.NewPCG(1, 1))
	x := tensor.New(B, P, P, 3)
	for i := 0; i < B; i++ {
		set.Crop(rng, P, x.Data[i*P*P*3:(i+1)*P*P*3])
	}
	f, err := os.Create("/tmp/crops.bin")
	if err != nil {
		t.Fatal(err)
	}
	binary.Write(f, binary.LittleEndian, x.Data)
	f.Close()
	ys, xs := tensor.LIIFGrid(P, P)
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
		for step := 0; step <= 80; step++ {
			z := m.Encode(tp, x)
			loss := tp.L1Loss(m.Query(tp, z, m.Features(tp, z), ys, xs, 2.0/P, 2.0/P), target)
			tp.Backward(loss)
			if step%20 == 0 {
				t.Logf("go lr%g step %d loss %.5f", lr, step, loss.Data[0])
			}
			tp.Reset()
			adam.Step(lr)
			adam.ZeroGrad()
		}
	}
}
