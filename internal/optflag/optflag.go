// Package optflag turns options structs into one command-line flag of
// KEY=VALUE settings, so that a recipe's defaults are written once, in the
// package that owns it (its Default…() constructor), and a command offers
// exactly the settings of the structs it reads.
//
// A field is a setting when it carries an `opt:"key"` tag; `help:"…"` says
// what it means and `group:"name"` puts it in a group that a command must
// ask for (for example the alignment terms, which only `train align`
// reads). The fields of untagged struct fields count too, embedded or not
// (a model's config holding its U-Net's). Supported field types: int,
// int64, uint64, float64, bool, string, []int (comma-separated) and
// time.Duration. Flags makes one plain flag per field instead.
//
//	opt := diffusion.DefaultTrainOptions()
//	s := optflag.Add(fs, "set", nil, &opt)
//	// zoomdiff train sr --set lr=1e-4 --set steps=400,warmup=20
package optflag

import (
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Settings is the flag holding the tagged fields of one or more structs.
// Set fills the fields in place; the structs' values before parsing are
// the defaults shown by Usage.
type Settings struct {
	name   string
	fields []*field
	byKey  map[string]*field
	given  map[string]bool
}

type field struct {
	key, help string
	v         reflect.Value // the struct field, settable
	def       string        // the default, formatted when the flag was added
}

var durationType = reflect.TypeOf(time.Duration(0))

// Add registers flag name on fs for the tagged fields of each struct the
// pointers in structs point to, leaving out fields of a group not in
// groups. A struct that is not a pointer, a tagged field of an unsupported
// type or a key used twice is a programming error and panics, as
// regexp.MustCompile does: every command's flags are built in its tests.
func Add(fs *flag.FlagSet, name string, groups []string, structs ...any) *Settings {
	s := &Settings{name: name, byKey: map[string]*field{}, given: map[string]bool{}}
	s.addStructs(groups, structs)
	fs.Var(s, name, "a setting KEY=VALUE (repeatable; several may share one flag, comma-separated): see the settings below")
	return s
}

// addStructs adds the tagged fields of the structs the pointers point to.
func (s *Settings) addStructs(groups []string, structs []any) {
	for _, p := range structs {
		rv := reflect.ValueOf(p)
		if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
			panic(fmt.Sprintf("optflag: %T is not a pointer to a struct", p))
		}
		s.addStruct(rv.Elem(), groups)
	}
}

// addStruct adds the tagged fields of st, and those of the untagged
// struct fields within it (embedded or named, as a model config holds its
// U-Net's), depth first.
func (s *Settings) addStruct(st reflect.Value, groups []string) {
	for i := 0; i < st.NumField(); i++ {
		sf := st.Type().Field(i)
		key := sf.Tag.Get("opt")
		if key == "" {
			if sf.IsExported() && sf.Type.Kind() == reflect.Struct {
				s.addStruct(st.Field(i), groups)
			}
			continue
		}
		if g := sf.Tag.Get("group"); g != "" && !slices.Contains(groups, g) {
			continue
		}
		if _, dup := s.byKey[key]; dup {
			panic("optflag: key " + key + " used twice")
		}
		f := &field{key: key, help: sf.Tag.Get("help"), v: st.Field(i)}
		if !supported(f.v.Type()) {
			panic(fmt.Sprintf("optflag: %s (%s) has unsupported type %s", key, sf.Name, f.v.Type()))
		}
		f.def = format(f.v)
		s.fields = append(s.fields, f)
		s.byKey[key] = f
	}
}

func supported(t reflect.Type) bool {
	if t == durationType {
		return true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64, reflect.Bool, reflect.String:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Int
	}
	return false
}

func format(v reflect.Value) string {
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	case reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Float64:
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = strconv.FormatInt(v.Index(i).Int(), 10)
		}
		return strings.Join(parts, ",")
	}
	return v.String()
}

// String lists the settings given so far (flag.Value).
func (s *Settings) String() string {
	if s == nil {
		return ""
	}
	var parts []string
	for _, f := range s.fields {
		if s.given[f.key] {
			parts = append(parts, f.key+"="+format(f.v))
		}
	}
	return strings.Join(parts, ",")
}

// Set parses "key=value[,key=value...]" (flag.Value). A comma starts a new
// setting only when what follows it holds a "=", so list values such as
// ch-mult=1,2,2 need no quoting.
func (s *Settings) Set(arg string) error {
	var pairs []string
	for _, tok := range strings.Split(arg, ",") {
		if strings.Contains(tok, "=") || len(pairs) == 0 {
			pairs = append(pairs, tok)
		} else {
			pairs[len(pairs)-1] += "," + tok
		}
	}
	for _, p := range pairs {
		key, val, ok := strings.Cut(p, "=")
		if !ok || key == "" {
			return fmt.Errorf("%q: want KEY=VALUE", p)
		}
		f, ok := s.byKey[key]
		if !ok {
			return fmt.Errorf("unknown setting %q (have: %s)", key, strings.Join(s.Keys(), ", "))
		}
		if err := parse(f.v, val); err != nil {
			return fmt.Errorf("%s=%s: %w", key, val, err)
		}
		s.given[key] = true
	}
	return nil
}

func parse(v reflect.Value, val string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(val)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(val, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number")
		}
		v.SetInt(n)
	case reflect.Uint64:
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number of at least 0")
		}
		v.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return fmt.Errorf("want a number")
		}
		v.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(val)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		v.SetBool(b)
	case reflect.Slice:
		var list []int
		if val != "" {
			for _, t := range strings.Split(val, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(t))
				if err != nil {
					return fmt.Errorf("want whole numbers separated by commas")
				}
				list = append(list, n)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		v.SetString(val)
	}
	return nil
}

// Flags registers one flag per tagged field of the structs (pointers,
// filled in place, their values the defaults), named by its key, for
// commands whose few settings read best as plain flags (serve's limits).
// Groups and programming errors are as for Add.
func Flags(fs *flag.FlagSet, groups []string, structs ...any) {
	s := &Settings{byKey: map[string]*field{}, given: map[string]bool{}}
	s.addStructs(groups, structs)
	for _, f := range s.fields {
		switch p := f.v.Addr().Interface().(type) {
		case *int:
			fs.IntVar(p, f.key, *p, f.help)
		case *int64:
			fs.Int64Var(p, f.key, *p, f.help)
		case *uint64:
			fs.Uint64Var(p, f.key, *p, f.help)
		case *float64:
			fs.Float64Var(p, f.key, *p, f.help)
		case *bool:
			fs.BoolVar(p, f.key, *p, f.help)
		case *string:
			fs.StringVar(p, f.key, *p, f.help)
		case *time.Duration:
			fs.DurationVar(p, f.key, *p, f.help)
		default: // []int
			fs.Var(listValue{f}, f.key, f.help)
		}
	}
}

// listValue is a []int field as a flag.Value: comma-separated.
type listValue struct{ f *field }

func (v listValue) String() string {
	if v.f == nil {
		return ""
	}
	return format(v.f.v)
}

func (v listValue) Set(val string) error { return parse(v.f.v, val) }

// Keys lists the setting names in the order of their fields.
func (s *Settings) Keys() []string {
	keys := make([]string, len(s.fields))
	for i, f := range s.fields {
		keys[i] = f.key
	}
	return keys
}

// Given reports whether key was set on the command line.
func (s *Settings) Given(key string) bool { return s.given[key] }

// PrintDefaults writes the settings as a table: key, default, meaning.
func (s *Settings) PrintDefaults(w io.Writer) {
	fmt.Fprintf(w, "\nsettings (--%s KEY=VALUE):\n", s.name)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, f := range s.fields {
		def := f.def
		if def == "" {
			def = `""`
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.key, def, f.help)
	}
	tw.Flush()
}

// Usage makes fs's usage message: the synopsis, the flags, then each
// settings table.
func Usage(fs *flag.FlagSet, synopsis string, settings ...*Settings) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage:", synopsis)
		fs.PrintDefaults()
		for _, s := range settings {
			s.PrintDefaults(w)
		}
	}
}
