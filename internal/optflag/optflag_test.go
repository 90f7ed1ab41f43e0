package optflag

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Wait time.Duration `opt:"wait"`
}

type Base struct {
	Steps int `opt:"steps" help:"total steps"`
}

type recipe struct {
	Base
	LR      float64 `opt:"lr" help:"peak learning rate"`
	Seed    uint64  `opt:"seed"`
	EMA     bool    `opt:"ema"`
	Name    string  `opt:"name"`
	Mult    []int   `opt:"ch-mult" help:"width per level"`
	In      inner
	Queries int `opt:"queries" group:"align"`
	hidden  int
	Untaged int
}

func parseRecipe(t *testing.T, groups []string, args ...string) (*recipe, *Settings, error) {
	t.Helper()
	r := &recipe{Base: Base{Steps: 100}, LR: 5e-4, Mult: []int{1, 2, 2}, Queries: 7}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s := Add(fs, "set", groups, r)
	return r, s, fs.Parse(args)
}

func TestSetParsesEveryKind(t *testing.T) {
	r, s, err := parseRecipe(t, []string{"align"}, "--set", "steps=7,lr=1e-3,ch-mult=1,2,4,8", "--set", "seed=9", "--set=ema=true,name=x,wait=1m30s,queries=5")
	if err != nil {
		t.Fatal(err)
	}
	want := &recipe{Base: Base{Steps: 7}, LR: 1e-3, Seed: 9, EMA: true, Name: "x", Mult: []int{1, 2, 4, 8}, In: inner{Wait: 90 * time.Second}, Queries: 5}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if !s.Given("lr") || s.Given("hidden") {
		t.Fatal("Given wrong")
	}
	if got := s.String(); got != "steps=7,lr=0.001,seed=9,ema=true,name=x,ch-mult=1,2,4,8,wait=1m30s,queries=5" {
		t.Fatalf("String %q", got)
	}
}

func TestDefaultsStayWhenNotSet(t *testing.T) {
	r, s, err := parseRecipe(t, nil, "--set", "ch-mult=")
	if err != nil {
		t.Fatal(err)
	}
	if r.Steps != 100 || r.LR != 5e-4 || r.Mult != nil || r.Queries != 7 {
		t.Fatalf("%+v", r)
	}
	if strings.Join(s.Keys(), " ") != "steps lr seed ema name ch-mult wait" {
		t.Fatalf("keys %v (the align group and untagged fields must be left out)", s.Keys())
	}
}

func TestBadSettingsAreErrors(t *testing.T) {
	for _, arg := range []string{"steps", "=3", "steps=x", "lr=fast", "seed=-1", "ema=maybe", "ch-mult=1,a", "wait=soon", "queries=3", "nosuch=1"} {
		if _, _, err := parseRecipe(t, nil, "--set", arg); err == nil {
			t.Errorf("--set %s accepted", arg)
		}
	}
	_, _, err := parseRecipe(t, nil, "--set", "nosuch=1")
	if !strings.Contains(err.Error(), "have: steps, lr") {
		t.Errorf("unknown key error does not list the keys: %v", err)
	}
}

func TestUsageListsDefaults(t *testing.T) {
	r := &recipe{Base: Base{Steps: 100}, LR: 5e-4, Mult: []int{1, 2, 2}}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	fs.String("out", "", "file to write")
	s := Add(fs, "set", nil, r)
	Usage(fs, "t --out F", s)()
	for _, want := range []string{"usage: t --out F", "-out", "settings (--set KEY=VALUE)", "lr", "0.0005", "peak learning rate", "1,2,2", `""`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestProgrammingErrorsPanic(t *testing.T) {
	type dup struct {
		A int `opt:"a"`
		B int `opt:"a"`
	}
	type odd struct {
		M map[string]int `opt:"m"`
	}
	for _, v := range []any{recipe{}, &dup{}, &odd{}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%T: no panic", v)
				}
			}()
			Add(flag.NewFlagSet("t", flag.ContinueOnError), "set", nil, v)
		}()
	}
}

func TestFlagsMakesOneFlagPerField(t *testing.T) {
	type limits struct {
		Workers int           `opt:"workers" help:"requests at once"`
		Upload  int64         `opt:"max-upload" help:"largest body"`
		Timeout time.Duration `opt:"timeout" help:"deadline"`
		Verbose bool          `opt:"v" help:"log more"`
	}
	l := limits{Workers: 2, Upload: 32 << 20, Timeout: time.Minute}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	Flags(fs, nil, &l)
	if f := fs.Lookup("max-upload"); f == nil || f.DefValue != "33554432" || f.Usage != "largest body" {
		t.Fatalf("max-upload flag %+v", f)
	}
	if err := fs.Parse([]string{"-workers", "4", "-max-upload", "1024", "-timeout", "2s", "-v"}); err != nil {
		t.Fatal(err)
	}
	if l != (limits{Workers: 4, Upload: 1024, Timeout: 2 * time.Second, Verbose: true}) {
		t.Fatalf("%+v", l)
	}
	if err := fs.Parse([]string{"-workers", "many"}); err == nil {
		t.Error("-workers many accepted")
	}
}

func TestFlagsListField(t *testing.T) {
	type shape struct {
		Mult []int `opt:"ch-mult" help:"widths"`
	}
	sh := shape{Mult: []int{1, 2}}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	Flags(fs, nil, &sh)
	if f := fs.Lookup("ch-mult"); f == nil || f.DefValue != "1,2" {
		t.Fatalf("ch-mult flag %+v", f)
	}
	if err := fs.Parse([]string{"-ch-mult", "1,2,4"}); err != nil || !reflect.DeepEqual(sh.Mult, []int{1, 2, 4}) {
		t.Fatalf("%v %v", sh.Mult, err)
	}
}
