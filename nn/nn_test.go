package nn

import (
	"math/rand/v2"
	"testing"

	"github.com/zoomdiff/zoomdiff/engine/tensor"
)

func TestParamsNamesAndSeeds(t *testing.T) {
	p := NewParams(7)
	NewResBlock(p.Sub("enc"), "res0", 4, 8, 16)
	var names []string
	for _, q := range p.List() {
		names = append(names, q.Name)
	}
	want := []string{"enc.res0.norm1.gamma", "enc.res0.norm1.beta", "enc.res0.conv1.w", "enc.res0.conv1.b",
		"enc.res0.norm2.gamma", "enc.res0.norm2.beta", "enc.res0.conv2.w", "enc.res0.conv2.b",
		"enc.res0.skip.w", "enc.res0.skip.b", "enc.res0.emb.w", "enc.res0.emb.b"}
	if len(names) != len(want) {
		t.Fatalf("names %v", names)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("parameter %d is %s, want %s", i, names[i], want[i])
		}
	}
	// The same seed gives the same weights; another seed does not.
	q := NewParams(7)
	NewResBlock(q.Sub("enc"), "res0", 4, 8, 16)
	r := NewParams(8)
	NewResBlock(r.Sub("enc"), "res0", 4, 8, 16)
	a, b, c := p.List()[2].T.Data, q.List()[2].T.Data, r.List()[2].T.Data
	if a[0] != b[0] || a[0] == c[0] {
		t.Fatal("initialisation is not determined by the seed")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("defining a parameter twice must panic")
		}
	}()
	NewConv(p.Sub("enc"), "res0.conv1", 3, 1, 1, 1, false)
}

// A fresh residual block (its last conv at zero) is the identity, and a
// fresh attention block too: new blocks do not disturb a network.
func TestNewBlocksAreIdentity(t *testing.T) {
	p := NewParams(1)
	res := NewResBlock(p, "res", 8, 8, 4)
	att := NewAttnBlock(p, "att", 8, 2)
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(2, 3, 3, 8)
	for i := range x.Data {
		x.Data[i] = rng.Float32()
	}
	emb := tensor.New(2, 4)
	for _, y := range []*tensor.Tensor{res.Forward(nil, x, emb), att.Forward(nil, x)} {
		for i := range x.Data {
			if y.Data[i] != x.Data[i] {
				t.Fatalf("element %d: %g, want %g", i, y.Data[i], x.Data[i])
			}
		}
	}
	if g := NewGroupNorm(p, "gn", 48); g.Groups != 24 {
		t.Fatalf("48 channels: %d groups, want 24", g.Groups)
	}
}
