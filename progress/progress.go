// Package progress reports the progress of long work (training, sampling,
// decoding, evaluation): a bar redrawn in place on a terminal, plain lines
// at intervals otherwise (logs, CI), or nothing when quiet.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Bar tracks done/total units of work. The zero value (or a nil *Bar)
// reports nothing.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	label    string
	total    int
	start    time.Time
	tty      bool
	lastLine time.Time
	every    time.Duration
	done     int
	base     int // work already done before this process started (a resumed run)
}

// New returns a bar writing to w (usually os.Stderr). When quiet it
// reports nothing. Plain-line mode (w not a terminal) prints at most one
// line per `every` (10 s when 0).
func New(w io.Writer, label string, total int, quiet bool) *Bar {
	if quiet || w == nil {
		return nil
	}
	b := &Bar{w: w, label: label, total: total, start: time.Now(), every: 10 * time.Second}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			b.tty = true
		}
	}
	return b
}

// Resume says that done units were finished before this bar started, so
// that rate and ETA count only the work done since.
func (b *Bar) Resume(done int) {
	if b != nil {
		b.base = done
	}
}

// SetInterval changes how often plain lines are printed.
func (b *Bar) SetInterval(d time.Duration) {
	if b != nil {
		b.every = d
	}
}

// Update sets the amount done and an optional status (e.g. "loss 0.031").
func (b *Bar) Update(done int, status string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = done
	now := time.Now()
	if !b.tty && now.Sub(b.lastLine) < b.every && done < b.total {
		return
	}
	b.lastLine = now
	line := b.line(now, status)
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(b.w, line)
	}
}

// Finish ends the bar's line on a terminal.
func (b *Bar) Finish() {
	if b != nil && b.tty {
		fmt.Fprintln(b.w)
	}
}

// Printf prints a message on its own line without breaking the bar.
func (b *Bar) Printf(format string, args ...any) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty {
		fmt.Fprint(b.w, "\r\033[K")
	}
	fmt.Fprintf(b.w, format, args...)
	if !strings.HasSuffix(format, "\n") {
		fmt.Fprintln(b.w)
	}
}

func (b *Bar) line(now time.Time, status string) string {
	el := now.Sub(b.start)
	var sb strings.Builder
	sb.WriteString(b.label)
	if b.total > 0 {
		frac := float64(b.done) / float64(b.total)
		run := float64(b.done-b.base) / float64(max(b.total-b.base, 1))
		if b.tty {
			const width = 24
			n := int(frac * width)
			sb.WriteString(" [" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]")
		}
		fmt.Fprintf(&sb, " %d/%d", b.done, b.total)
		if b.done > b.base && b.done < b.total {
			eta := time.Duration(float64(el) / run * (1 - run))
			fmt.Fprintf(&sb, " eta %s", eta.Round(time.Second))
		}
	} else {
		fmt.Fprintf(&sb, " %d", b.done)
	}
	if el > 0 && b.done > b.base {
		fmt.Fprintf(&sb, " %.2f/s", float64(b.done-b.base)/el.Seconds())
	}
	if status != "" {
		sb.WriteString(" " + status)
	}
	return sb.String()
}
