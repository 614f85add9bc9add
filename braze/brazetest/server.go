package brazetest

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Server is a simulated Braze REST API. Create one with NewServer (started
// on a loopback port, for tests) or NewUnstartedServer (then Start, StartOn
// or Handler). A Server is safe for concurrent use; Close must be called to
// release its listener.
type Server struct {
	// URL is the base URL of the running server, e.g. http://127.0.0.1:41234,
	// with no trailing slash; empty until started.
	URL string

	cfg      Config
	now      func() time.Time
	keys     map[string]*apiKey
	wsNames  []string
	budgets  *budgets
	store    *store
	rec      *recorder
	rnd      *lockedRand
	handler  http.Handler
	closed   chan struct{}
	closeMu  sync.Mutex
	srv      *http.Server
	serveErr chan error

	fmu    sync.Mutex
	faults Faults
	minor  recipientSet
	reject recipientSet
}

// apiKey is a configured key: its workspace and permissions (nil = all).
type apiKey struct {
	ws    *workspace
	perms map[string]bool
}

// NewServer starts a Server for cfg on 127.0.0.1 with a random port. Like
// httptest.NewServer it is meant for tests and panics if no port can be
// bound; programs use NewUnstartedServer and StartOn, which return the error.
func NewServer(cfg Config) *Server {
	s := NewUnstartedServer(cfg)
	s.Start()
	return s
}

// NewUnstartedServer returns a Server for cfg that is not listening yet.
// The configuration is used as given; see Config.Validate.
func NewUnstartedServer(cfg Config) *Server {
	s := &Server{
		cfg:     cfg,
		now:     cfg.Now,
		keys:    map[string]*apiKey{},
		budgets: newBudgets(cfg.Limits),
		store:   newStore(),
		rec:     newRecorder(cfg),
		rnd:     newLockedRand(cfg.Seed),
		closed:  make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.Rules.Now == nil {
		// Time-dependent rules (a local-time schedule already past) follow
		// the simulator's clock.
		s.cfg.Rules.Now = s.now
	}
	for _, wc := range cfg.Workspaces {
		ws := newWorkspace(wc)
		s.wsNames = append(s.wsNames, ws.name)
		for _, k := range wc.APIKeys {
			if _, dup := s.keys[k.Key]; dup || k.Key == "" {
				continue // the first definition wins; Validate reports it
			}
			ak := &apiKey{ws: ws}
			if k.Permissions != nil {
				ak.perms = map[string]bool{}
				for _, p := range k.Permissions {
					ak.perms[p] = true
				}
			}
			s.keys[k.Key] = ak
		}
	}
	s.SetFaults(cfg.Faults)
	mux := http.NewServeMux()
	mux.Handle("/_sim/", http.HandlerFunc(s.serveAdmin))
	mux.Handle(apiPattern, http.HandlerFunc(s.serveAPI))
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isEndpointPath(r) {
			r.Pattern = apiPattern // what mux would set
			s.serveAPI(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s
}

// apiPattern is the ServeMux pattern of the Braze API paths.
const apiPattern = "/"

// isEndpointPath reports whether r calls the exact path of a simulated
// endpoint, one ServeMux would route to serveAPI unchanged (no cleaning or
// redirect): such calls skip the mux, which allocates on every match.
func isEndpointPath(r *http.Request) bool {
	return r.URL.RawPath == "" && r.Method != http.MethodConnect && r.RequestURI != "*" &&
		endpointsByPath[r.URL.Path] != nil
}

// Handler returns the simulator's HTTP handler (Braze API paths and the
// /_sim/ admin API), for embedding in another server.
func (s *Server) Handler() http.Handler { return s.handler }

// Start starts the server on 127.0.0.1 with a random port. Like
// httptest.Server.Start it panics when already started or when no port can
// be bound.
func (s *Server) Start() {
	if err := s.StartOn("127.0.0.1:0"); err != nil {
		panic(fmt.Sprintf("brazetest: %v", err))
	}
}

// StartOn starts the server on addr (host:port) and sets URL.
func (s *Server) StartOn(addr string) error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.srv != nil {
		return errors.New("brazetest: server already started")
	}
	select {
	case <-s.closed:
		return errors.New("brazetest: server closed")
	default:
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("brazetest: listen on %s: %w", addr, err)
	}
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Injected resets and timeouts make clients hang up mid-request;
		// the standard library would log each of them.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.URL = "http://" + l.Addr().String()
	s.serveErr = make(chan error, 1)
	go func(srv *http.Server) {
		err := srv.Serve(l)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.serveErr <- err
	}(s.srv)
	return nil
}

// Close stops the server: calls held by a timeout fault or a latency are
// released, the listener is closed and Close waits (at most 5 s) for calls
// in flight to finish. It is safe to call more than once.
func (s *Server) Close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	select {
	case <-s.closed:
		return
	default:
		close(s.closed)
	}
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.serveErr
}

// Requests returns every call received on a Braze API path (capped by
// Config.MaxRequests), in arrival order.
func (s *Server) Requests() []Request { return s.rec.requests() }

// Deliveries returns every recipient accepted for sending (capped by
// Config.MaxDeliveries), in the order the calls completed.
func (s *Server) Deliveries() []Delivery { return s.rec.deliveries() }

// DeliveryCount returns how many times recipient (a canonical id such as
// "external_user_id:u1") was accepted for sending since start or Reset.
func (s *Server) DeliveryCount(recipient string) int { return s.rec.deliveryCount(recipient) }

// Reset forgets the recorded requests and deliveries. State (schedules,
// send ids), rate budgets, faults and Stats counters are kept.
func (s *Server) Reset() { s.rec.reset() }

// Schedules returns the live schedules of every workspace (created, not
// deleted, not yet due), ordered by due time.
func (s *Server) Schedules() []Schedule { return s.store.liveSchedules("", s.now()) }

// SetFaults replaces the injected faults. Out-of-range values are used as
// given (a probability above 1 always strikes); Faults.Validate checks them.
func (s *Server) SetFaults(f Faults) {
	f = f.clone()
	s.fmu.Lock()
	defer s.fmu.Unlock()
	s.faults = f
	s.minor = newRecipientSet(f.MinorErrors)
	s.reject = newRecipientSet(f.Reject)
}

// Faults returns the injected faults, with counted faults showing the
// calls they have left.
func (s *Server) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults.clone()
}

// Stats is a snapshot of the simulator's counters, for metrics.
type Stats struct {
	// Requests counts calls by endpoint path ("other" for unknown paths) and
	// answered status (0 for calls dropped by a fault). Never reset.
	Requests []RequestStat
	// Deliveries counts recipients accepted for sending, by endpoint. Never reset.
	Deliveries []DeliveryStat
	// Budgets is the state of every rate budget of every workspace (nil
	// without rate limiting).
	Budgets []BudgetState
	// Schedules counts the live schedules of every workspace.
	Schedules []ScheduleStat
}

// ScheduleStat is the number of live schedules of one workspace.
type ScheduleStat struct {
	Workspace string
	Live      int
}

// RequestStat is a count of calls to one endpoint answered with one status.
type RequestStat struct {
	Endpoint string
	Status   int
	Count    uint64
}

// DeliveryStat is a count of deliveries through one endpoint.
type DeliveryStat struct {
	Endpoint string
	Count    uint64
}

// Stats returns a snapshot of the counters, sorted by endpoint and status.
func (s *Server) Stats() Stats {
	var st Stats
	s.rec.mu.Lock()
	for k, n := range s.rec.reqCount {
		st.Requests = append(st.Requests, RequestStat{Endpoint: k.endpoint, Status: k.status, Count: n})
	}
	for ep, n := range s.rec.delCount {
		st.Deliveries = append(st.Deliveries, DeliveryStat{Endpoint: ep, Count: n})
	}
	s.rec.mu.Unlock()
	sort.Slice(st.Requests, func(i, j int) bool {
		a, b := st.Requests[i], st.Requests[j]
		if a.Endpoint != b.Endpoint {
			return a.Endpoint < b.Endpoint
		}
		return a.Status < b.Status
	})
	sort.Slice(st.Deliveries, func(i, j int) bool { return st.Deliveries[i].Endpoint < st.Deliveries[j].Endpoint })
	now := s.now()
	st.Budgets = s.budgets.snapshot(s.wsNames, now)
	live := map[string]int{}
	for _, sc := range s.store.liveSchedules("", now) {
		live[sc.Workspace]++
	}
	for _, ws := range s.wsNames {
		st.Schedules = append(st.Schedules, ScheduleStat{Workspace: ws, Live: live[ws]})
	}
	return st
}

// lockedRand is a seeded random source safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed uint64) *lockedRand {
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:]) // never fails (crypto/rand documents it)
		seed = binary.LittleEndian.Uint64(b[:]) | 1
	}
	return &lockedRand{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (l *lockedRand) float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) normFloat64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.NormFloat64()
}

// hex returns n random bytes as lower-case hex.
func (l *lockedRand) hex(n int) string {
	const digits = "0123456789abcdef"
	var sb strings.Builder
	sb.Grow(2 * n)
	l.mu.Lock()
	defer l.mu.Unlock()
	for range n {
		b := byte(l.r.Uint32())
		sb.WriteByte(digits[b>>4])
		sb.WriteByte(digits[b&15])
	}
	return sb.String()
}

// uuid returns a random RFC 4122 version-4 UUID.
func (l *lockedRand) uuid() string {
	h := []byte(l.hex(16))
	h[12] = '4'
	h[16] = "89ab"[strings.IndexByte("0123456789abcdef", h[16])%4]
	return string(h[0:8]) + "-" + string(h[8:12]) + "-" + string(h[12:16]) + "-" + string(h[16:20]) + "-" + string(h[20:32])
}
