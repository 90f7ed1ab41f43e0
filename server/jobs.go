package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Job states.
const (
	stateQueued    = "queued"
	stateRunning   = "running"
	stateDone      = "done"
	stateFailed    = "failed"
	stateCancelled = "cancelled"
)

// job is an asynchronous request (async=1). Its fields are guarded by the
// store's mutex.
type job struct {
	id, kind string
	state    string
	stage    string // what a running job does now: a stage* constant, or ""
	progress float64
	errMsg   string
	errCode  int
	created  time.Time
	started  time.Time
	finished time.Time
	method   string
	note     string // the outcome's note, once done
	w, h     int
	seeds    []uint64
	images   [][]byte // PNG files, once done
	bytes    int64
	cancel   context.CancelFunc
	// changed is closed and replaced on every visible change, waking the
	// event streams that watch the job.
	changed chan struct{}
}

func (j *job) terminal() bool {
	return j.state == stateDone || j.state == stateFailed || j.state == stateCancelled
}

// jobView is a job as the API shows it.
type jobView struct {
	ID       string    `json:"id"`
	Kind     string    `json:"kind"`
	State    string    `json:"state"`
	Stage    string    `json:"stage,omitempty"` // while running: condition, sampling or encoding; absent where unknown
	Progress float64   `json:"progress"`
	Error    string    `json:"error,omitempty"`
	Code     int       `json:"code,omitempty"`
	Method   string    `json:"method,omitempty"`
	Note     string    `json:"note,omitempty"`
	Width    int       `json:"width,omitempty"`
	Height   int       `json:"height,omitempty"`
	Seeds    []uint64  `json:"seeds,omitempty"`
	Images   []string  `json:"images,omitempty"`
	Created  time.Time `json:"created"`
	Elapsed  float64   `json:"elapsed_seconds"`
	Expires  time.Time `json:"expires,omitzero"`
}

// jobStore holds jobs, bounded in number and bytes, and expires finished
// ones after a TTL. Expiry is lazy (on every access), so no goroutine
// needs stopping.
type jobStore struct {
	mu       sync.Mutex
	jobs     map[string]*job
	max      int
	ttl      time.Duration
	maxBytes int64
	bytes    int64
	now      func() time.Time // tests move time
}

func newJobStore(max int, ttl time.Duration, maxBytes int64) *jobStore {
	return &jobStore{jobs: map[string]*job{}, max: max, ttl: ttl, maxBytes: maxBytes, now: time.Now}
}

// sweep drops expired jobs, then the oldest finished ones while the store
// is over its byte budget or (with room > 0) has fewer than room free
// places. Called with mu held.
func (st *jobStore) sweep(room int) {
	now := st.now()
	for id, j := range st.jobs {
		if j.terminal() && now.Sub(j.finished) > st.ttl {
			st.remove(id)
		}
	}
	for st.bytes > st.maxBytes || (room > 0 && len(st.jobs)+room > st.max) {
		var oldest *job
		for _, j := range st.jobs {
			if j.terminal() && (oldest == nil || j.finished.Before(oldest.finished)) {
				oldest = j
			}
		}
		if oldest == nil {
			return
		}
		st.remove(oldest.id)
	}
}

func (st *jobStore) remove(id string) {
	if j, ok := st.jobs[id]; ok {
		st.bytes -= j.bytes
		delete(st.jobs, id)
	}
}

// add creates a queued job, or fails when every place holds an unfinished
// job.
func (st *jobStore) add(kind string, cancel context.CancelFunc) (*job, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(1)
	if len(st.jobs) >= st.max {
		return nil, false
	}
	var b [16]byte
	rand.Read(b[:])
	j := &job{id: hex.EncodeToString(b[:]), kind: kind, state: stateQueued, created: st.now(), cancel: cancel, changed: make(chan struct{})}
	st.jobs[j.id] = j
	return j, true
}

// get returns a job and a channel closed at its next change.
func (st *jobStore) get(id string) (jobView, *job, <-chan struct{}, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(0)
	j, ok := st.jobs[id]
	if !ok {
		return jobView{}, nil, nil, false
	}
	return st.view(j), j, j.changed, true
}

// update changes a job under the lock and wakes its watchers.
func (st *jobStore) update(j *job, f func(j *job)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if j.terminal() {
		return // cancelled by DELETE meanwhile: later news is moot
	}
	f(j)
	close(j.changed)
	j.changed = make(chan struct{})
	if j.terminal() {
		j.finished = st.now()
		st.bytes += j.bytes
		st.sweep(0)
	}
}

// delete cancels and forgets a job.
func (st *jobStore) delete(id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	j, ok := st.jobs[id]
	if !ok {
		return false
	}
	if !j.terminal() {
		j.state, j.errMsg, j.finished = stateCancelled, "cancelled by the client", st.now()
		close(j.changed)
		j.changed = make(chan struct{})
	}
	j.cancel()
	st.remove(id)
	return true
}

// counts returns how many jobs are in each state.
func (st *jobStore) counts() map[string]int {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sweep(0)
	c := map[string]int{stateQueued: 0, stateRunning: 0, stateDone: 0, stateFailed: 0, stateCancelled: 0}
	for _, j := range st.jobs {
		c[j.state]++
	}
	return c
}

// viewOf renders a job, stored or no longer.
func (st *jobStore) viewOf(j *job) jobView {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.view(j)
}

// view renders a job; called with mu held.
func (st *jobStore) view(j *job) jobView {
	v := jobView{ID: j.id, Kind: j.kind, State: j.state, Progress: j.progress, Error: j.errMsg, Code: j.errCode,
		Method: j.method, Note: j.note, Width: j.w, Height: j.h, Seeds: j.seeds, Created: j.created}
	if j.state == stateRunning {
		v.Stage = j.stage
	}
	end := st.now()
	if j.terminal() {
		end = j.finished
		v.Expires = j.finished.Add(st.ttl)
	}
	v.Elapsed = end.Sub(j.created).Seconds()
	for i := range j.images {
		v.Images = append(v.Images, fmt.Sprintf("/v1/jobs/%s/images/%d", j.id, i))
	}
	return v
}

// submitJob admits work as a job and answers 202 with its view; the work
// runs in the background under the server's work context, not the
// request's, so the client may disconnect and poll later.
func (s *Server) submitJob(w http.ResponseWriter, kind string, run func(context.Context, reporter) (*outcome, error)) {
	v, err := s.startJob(kind, run)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+v.ID)
	writeJSON(w, http.StatusAccepted, v)
}

// startJob admits and starts a job. It holds jobsMu, which shutdown takes
// to set draining, so that no job starts once shutdown waits for them.
func (s *Server) startJob(kind string, run func(context.Context, reporter) (*outcome, error)) (jobView, *apiError) {
	s.jobsMu.Lock()
	defer s.jobsMu.Unlock()
	if s.draining.Load() {
		return jobView{}, s.errDraining()
	}
	if !s.pool.tryAdmit() {
		return jobView{}, s.errBusy()
	}
	ctx, cancel := s.workContext(s.workCtx)
	j, ok := s.jobs.add(kind, cancel)
	if !ok {
		cancel()
		s.pool.leave()
		return jobView{}, &apiError{Code: http.StatusTooManyRequests,
			Msg:        fmt.Sprintf("all %d job places hold unfinished jobs; retry later", s.cfg.MaxJobs),
			RetryAfter: s.pool.retryAfter()}
	}
	v := s.jobs.viewOf(j)
	s.jobsWG.Add(1)
	go s.runJob(ctx, cancel, j, run)
	return v, nil
}

func (s *Server) runJob(ctx context.Context, cancel context.CancelFunc, j *job, run func(context.Context, reporter) (*outcome, error)) {
	defer s.jobsWG.Done()
	defer s.pool.leave()
	defer cancel()
	// A job deleted by its client is already cancelled in the store, and
	// update ignores it; any other error is a failure.
	fail := func(err error) {
		e := s.classify(ctx, nil, err)
		if e.Code >= 500 && e.Code != http.StatusServiceUnavailable {
			s.log.Error("job failed", "id", j.id, "kind", j.kind, "err", err)
		}
		s.jobs.update(j, func(j *job) { j.state, j.errMsg, j.errCode = stateFailed, e.Msg, e.Code })
	}
	release, err := s.pool.acquire(ctx)
	if err != nil {
		fail(err)
		return
	}
	defer release()
	s.jobs.update(j, func(j *job) { j.state, j.started = stateRunning, time.Now() })
	last, lastStage := 0.0, ""
	report := func(stage string, p float64) {
		// Wake watchers at most once per percent, not at every step, but
		// at every change of stage.
		if stage != lastStage || p-last >= 0.01 || p == 1 {
			last, lastStage = p, stage
			s.jobs.update(j, func(j *job) { j.stage, j.progress = stage, p })
		}
	}
	out, err := safeRun(ctx, report, run)
	if err != nil {
		fail(err)
		return
	}
	s.jobs.update(j, func(j *job) { j.stage = stageEncoding })
	var pngs [][]byte
	var total int64
	for i := range out.outputs {
		var buf bytes.Buffer
		if err := out.encode(ctx, i, &buf, nil); err != nil {
			fail(fmt.Errorf("encoding image %d: %w", i, err))
			return
		}
		pngs = append(pngs, buf.Bytes())
		total += int64(buf.Len())
		out.outputs[i] = nil
	}
	s.jobs.update(j, func(j *job) {
		j.state, j.progress, j.method, j.note, j.w, j.h, j.seeds, j.images, j.bytes = stateDone, 1, out.method, out.note, out.w, out.h, out.seeds, pngs, total
	})
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	v, _, _, ok := s.jobs.get(r.PathValue("id"))
	if !ok {
		writeError(w, errNoJob)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

var errNoJob = errorf(http.StatusNotFound, "no such job (unknown, deleted or expired)")

func (s *Server) handleJobDelete(w http.ResponseWriter, r *http.Request) {
	if !s.jobs.delete(r.PathValue("id")) {
		writeError(w, errNoJob)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleJobImage(w http.ResponseWriter, r *http.Request) {
	v, j, _, ok := s.jobs.get(r.PathValue("id"))
	if !ok {
		writeError(w, errNoJob)
		return
	}
	if v.State != stateDone {
		writeError(w, errorf(http.StatusConflict, "job is %s, not done", v.State))
		return
	}
	i, err := strconv.Atoi(r.PathValue("i"))
	s.jobs.mu.Lock()
	var data []byte
	if err == nil && i >= 0 && i < len(j.images) {
		data = j.images[i]
	}
	s.jobs.mu.Unlock()
	if data == nil {
		writeError(w, errorf(http.StatusNotFound, "job has %d images; no image %q", len(v.Images), r.PathValue("i")))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Header().Set("Cache-Control", "private, max-age="+strconv.Itoa(int(s.cfg.JobTTL.Seconds())))
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="zoomdiff-%s-%d.png"`, v.ID[:8], i))
	if len(v.Seeds) > i {
		w.Header().Set("X-Zoomdiff-Seed", strconv.FormatUint(v.Seeds[i], 10))
	}
	w.Write(data)
}

// handleJobEvents streams the job's view as Server-Sent Events, one event
// per change, until the job ends, the client leaves or the server stops.
func (s *Server) handleJobEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	v, j, changed, ok := s.jobs.get(id)
	if !ok {
		writeError(w, errNoJob)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx would hold events back
	w.WriteHeader(http.StatusOK)
	heartbeat := time.NewTicker(15 * time.Second)
	defer heartbeat.Stop()
	for {
		data, _ := jsonCompact(v)
		rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := fmt.Fprintf(w, "event: job\ndata: %s\n\n", data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
		if v.State == stateDone || v.State == stateFailed || v.State == stateCancelled {
			return
		}
		for waiting := true; waiting; {
			select {
			case <-changed:
				waiting = false
			case <-heartbeat.C:
				// A comment line keeps proxies from timing the stream out.
				rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
					return
				}
			case <-r.Context().Done():
				return
			case <-s.quit:
				return
			}
		}
		nv, nj, nchanged, ok := s.jobs.get(id)
		if !ok {
			// A job its client deleted was cancelled first: watchers get
			// that end, as they would any other, rather than "gone".
			if v = s.jobs.viewOf(j); v.State == stateCancelled {
				continue
			}
			fmt.Fprintf(w, "event: gone\ndata: {\"error\":%q}\n\n", errNoJob.Msg)
			rc.Flush()
			return
		}
		v, j, changed = nv, nj, nchanged
	}
}
