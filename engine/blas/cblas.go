//go:build (linux || darwin) && !android && !faketime && (amd64 || arm64) && !nocblas

package blas

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/ebitengine/purego"
)

// CBLAS enum values from cblas.h.
const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// defaultLibs is the search order for ZOOMDIFF_BLAS=system, or unset on
// a CPU without AVX2 and FMA. OpenBLAS
// comes first because it is the library we tune the threading for; the
// reference-BLAS names are only taken if they carry the CBLAS interface
// (Debian's libblas.so.3 does when the OpenBLAS alternative provides it).
// On macOS, Apple's Accelerate, which every Mac has and which exports the
// same cblas_sgemm, comes after a Homebrew OpenBLAS, so that an Apple
// Silicon Mac (no AVX2 kernel) never falls back to the portable Go kernel
// (this path is not exercised on our Linux machines).
func defaultLibs() []string {
	if runtime.GOOS == "darwin" {
		return []string{
			"libopenblas.0.dylib", "libopenblas.dylib",
			"/opt/homebrew/opt/openblas/lib/libopenblas.dylib",
			"/usr/local/opt/openblas/lib/libopenblas.dylib",
			"/System/Library/Frameworks/Accelerate.framework/Accelerate",
		}
	}
	return []string{"libopenblas.so.0", "libopenblas.so", "libcblas.so.3", "libblas.so.3"}
}

// cblasImpl calls cblas_sgemm in a shared library.
type cblasImpl struct {
	desc string
	// setThreads is openblas_set_num_threads, nil for other libraries.
	// Only the benchmarks change it after loading.
	setThreads func(int32)
	fn         func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
}

func (l *cblasImpl) name() string { return l.desc }

func (l *cblasImpl) sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if !fitsInt32(m, n, k, lda, ldb, ldc) {
		goBest.sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	ta, tb := int32(cblasNoTrans), int32(cblasNoTrans)
	if transA {
		ta = cblasTrans
	}
	if transB {
		tb = cblasTrans
	}
	l.fn(cblasRowMajor, ta, tb, int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}

// fitsInt32 reports whether CBLAS's int arguments can carry these sizes;
// bigger problems go to the pure-Go code rather than being truncated.
func fitsInt32(xs ...int) bool {
	for _, x := range xs {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

// loadSystem picks the CBLAS implementation according to ZOOMDIFF_BLAS
// (see the package comment). It returns nil, with a note saying why when
// that is worth telling the user, if pure Go should be used instead.
func loadSystem() (impl, string) {
	env := os.Getenv("ZOOMDIFF_BLAS")
	switch {
	case env == "" && asmKernel != nil:
		// The AVX2+FMA kernel outruns OpenBLAS 0.3.21 (one thread a call,
		// as Sgemm drives it) on every shape measured, conv and square, on
		// AVX2 and AVX-512 machines alike (bench/README.md): a library is
		// only worth loading where that kernel cannot run.
		return nil, ""
	case env == "" || env == "system":
		if l := searchDefault(); l != nil {
			return l, ""
		}
		if env == "system" {
			return nil, "ZOOMDIFF_BLAS=system: no CBLAS library found (" + strings.Join(defaultLibs(), ", ") + ")"
		}
		return nil, ""
	case env == "go":
		return nil, ""
	default:
		l, err := openCBLAS(env)
		if err != nil {
			return nil, "ZOOMDIFF_BLAS=" + env + " not usable: " + err.Error()
		}
		return l, ""
	}
}

// searchDefault returns the first library in defaultLibs that loads and
// has cblas_sgemm, or nil.
func searchDefault() impl {
	for _, lib := range defaultLibs() {
		if l, err := openCBLAS(lib); err == nil {
			return l
		}
	}
	return nil
}

// openCBLAS loads lib and binds cblas_sgemm. Failure is an error, never a
// panic: a machine without the library must still run, just slower.
func openCBLAS(lib string) (l *cblasImpl, err error) {
	defer func() {
		// RegisterFunc panics on signature problems; turn that into an
		// error rather than taking the program down over an optional speedup.
		if r := recover(); r != nil {
			l, err = nil, fmt.Errorf("binding %s: %v", lib, r)
		}
	}()
	h, err := purego.Dlopen(lib, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, err
	}
	sym, err := purego.Dlsym(h, "cblas_sgemm")
	if err != nil || sym == 0 {
		_ = purego.Dlclose(h)
		return nil, fmt.Errorf("%s has no cblas_sgemm", lib)
	}
	l = &cblasImpl{}
	purego.RegisterFunc(&l.fn, sym)

	kind, threads := "cblas", ""
	// Our goroutines already use every core; OpenBLAS's own pool on top
	// would oversubscribe them when several goroutines call at once.
	if p, err := purego.Dlsym(h, "openblas_set_num_threads"); err == nil && p != 0 {
		purego.RegisterFunc(&l.setThreads, p)
		l.setThreads(1)
		kind, threads = "openblas", ", 1 thread per call"
		if p, err := purego.Dlsym(h, "openblas_get_config"); err == nil && p != 0 {
			var config func() string
			purego.RegisterFunc(&config, p)
			// "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
			if f := strings.Fields(config()); len(f) > 1 {
				kind += " " + f[1]
			}
		}
		if p, err := purego.Dlsym(h, "openblas_get_corename"); err == nil && p != 0 {
			var core func() string
			purego.RegisterFunc(&core, p)
			if c := core(); c != "" {
				kind += " " + c
			}
		}
	}
	path := lib
	if p := mappedFile(sym); p != "" {
		path = p
	}
	l.desc = kind + " (" + path + threads + ")"
	return l, nil
}

// mappedFile returns the file mapped at addr in this process, so Name can
// say which library a soname actually resolved to. Best effort: "" off Linux
// or on any error.
func mappedFile(addr uintptr) string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "7f12a000-7f12b000 r-xp 00000000 08:01 1234   /usr/lib/libx.so"
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err := errors.Join(err1, err2); err != nil {
			continue
		}
		if uint64(addr) >= l && uint64(addr) < h {
			return strings.Join(fields[5:], " ")
		}
	}
	return ""
}
