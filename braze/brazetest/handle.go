package brazetest

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/brazegw/gateway/braze/rules"
)

// maxBodyBytes bounds a request body; larger ones are answered 413.
const maxBodyBytes = 32 << 20

// response is the answer to one call, before it is written.
type response struct {
	status int
	rl     rateHeaders
	body   any
	dels   []recipient // delivered to; valid for the call only
	out    outcome
}

// outcome is what the record keeps of an answer.
type outcome struct {
	status     int
	fault      string
	workspace  string
	dispatchID string
	scheduleID string
	sendID     string
}

// envelope is the JSON body of Braze's answers (braze-api.md §1.5).
type envelope struct {
	Message    string `json:"message,omitempty"`
	Errors     []any  `json:"errors,omitempty"`
	DispatchID string `json:"dispatch_id,omitempty"`
	ScheduleID string `json:"schedule_id,omitempty"`
	SendID     string `json:"send_id,omitempty"`
	Notice     string `json:"notice,omitempty"`
}

// minorError is one per-recipient error of a 2xx answer, in the
// type/input_array/index shape Braze uses for item errors.
type minorError struct {
	Type       string `json:"type"`
	InputArray string `json:"input_array"`
	Index      int    `json:"index"`
}

// liveActivityBadJSON is the documented 400 body of the live-activity
// endpoints for a body that is not JSON (braze-api.md §1.4).
const liveActivityBadJSON = "\nProblem:\n  message body does not match declared format\nResolution:\n  when specifying application/json as content-type, you must pass valid application/json in the request's 'body' "

const badJSONDetail = "Error while parsing request body. Please check your syntax. When specifying application/json as content-type, you must pass valid application/json in the request's 'body'."

// decision is what the faults decided for one call.
type decision struct {
	drop     string // "timeout" or "reset"
	status   int    // injected status
	fault    string
	reset    time.Time // X-RateLimit-Reset of an injected 429
	latency  time.Duration
	after    bool // drop after processing
	authFail bool
	minor    recipientSet
	reject   recipientSet
}

// decide draws the faults of one call arriving at now.
func (s *Server) decide(now time.Time) decision {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	f := &s.faults
	d := decision{minor: s.minor, reject: s.reject, after: f.DropAfterProcessing, latency: s.latency(f.Latency)}
	if f.Timeouts > 0 || f.ConnectionResets > 0 {
		switch u := s.rnd.float64(); {
		case u < f.Timeouts:
			d.drop = "timeout"
		case u < f.Timeouts+f.ConnectionResets:
			d.drop = "reset"
		}
	}
	if d.drop != "" && !d.after {
		return d
	}
	if f.AuthFail {
		d.status, d.fault = http.StatusUnauthorized, "auth_fail"
		return d
	}
	for i := 0; i < len(f.Outage5xx); i++ {
		o := &f.Outage5xx[i]
		if !o.Until.IsZero() && !now.Before(o.Until) {
			f.Outage5xx = append(f.Outage5xx[:i], f.Outage5xx[i+1:]...) // over
			i--
			continue
		}
		if !o.From.IsZero() && now.Before(o.From) {
			continue
		}
		d.status, d.fault = o.Status, "outage"
		if d.status == 0 {
			d.status = http.StatusServiceUnavailable
		}
		if o.Calls > 0 {
			if o.Calls--; o.Calls == 0 {
				f.Outage5xx = append(f.Outage5xx[:i], f.Outage5xx[i+1:]...)
			}
		}
		return d
	}
	if st := f.Storm429; st != nil {
		if !st.Until.IsZero() && !now.Before(st.Until) {
			f.Storm429 = nil
		} else {
			d.status, d.fault = http.StatusTooManyRequests, "storm429"
			d.reset = st.Until
			if st.Calls > 0 {
				d.reset = now.Add(time.Second)
				if st.Calls--; st.Calls == 0 {
					f.Storm429 = nil
				}
			}
			return d
		}
	}
	if len(f.ErrorRate) > 0 {
		u := s.rnd.float64()
		for _, st := range sortedStatuses(f.ErrorRate) {
			if u < f.ErrorRate[st] {
				d.status, d.fault = st, "error_rate"
				d.reset = now.Add(time.Second)
				break
			}
			u -= f.ErrorRate[st]
		}
	}
	return d
}

// sortedStatuses orders the statuses of an error rate, so that a seed
// always gives the same draws.
func sortedStatuses(m map[int]float64) []int {
	return slices.Sorted(maps.Keys(m))
}

// latency draws the delay of one answer: Config.Latency plus the fault
// distribution.
func (s *Server) latency(l Latency) time.Duration {
	d := s.cfg.Latency + l.Fixed
	if l.Jitter > 0 {
		d += time.Duration(s.rnd.float64() * float64(l.Jitter))
	}
	if l.P50 > 0 {
		if l.P99 <= l.P50 {
			d += l.P50
		} else {
			// Log-normal with median P50 and 99th percentile P99
			// (z(0.99) ≈ 2.326).
			sigma := math.Log(float64(l.P99)/float64(l.P50)) / 2.326
			d += time.Duration(float64(l.P50) * math.Exp(sigma*s.rnd.normFloat64()))
		}
	}
	return d
}

// serveAPI answers a call to a Braze API path.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	sc := getScratch()
	defer putScratch(sc)
	var buf []byte
	if s.cfg.DropBodies {
		buf = sc.buf // nothing keeps the body: reuse its buffer
	}
	raw, readErr := readBody(w, r, buf)
	if s.cfg.DropBodies {
		sc.buf = raw
	}
	req := s.rec.arrive(r.Method, r.URL.Path, r.URL.RawQuery, raw, now)
	ep := endpointsByPath[r.URL.Path]
	if ep != nil && ep.method != r.Method {
		ep = nil
	}
	label := "other"
	if ep != nil {
		label = ep.path
	}
	d := s.decide(now)
	if d.drop != "" && !d.after {
		s.rec.finish(req, outcome{fault: d.drop}, label, nil)
		s.dropCall(w, r, d.drop)
		return
	}
	var resp response
	if readErr != nil {
		resp = response{status: http.StatusRequestEntityTooLarge, body: envelope{Message: "Payload Too Large"}}
		resp.out.status = resp.status
	} else {
		resp = s.process(ep, r, raw, d, now, sc)
	}
	if d.drop != "" {
		// Processed, but the answer is lost.
		resp.out.status, resp.out.fault = 0, d.drop
		s.rec.finish(req, resp.out, label, resp.dels)
		s.dropCall(w, r, d.drop)
		return
	}
	if !s.wait(r, d.latency) {
		// The client gave up while the answer was delayed: processed, not answered.
		resp.out.status, resp.out.fault = 0, "client_gone"
		s.rec.finish(req, resp.out, label, resp.dels)
		return
	}
	resp.rl.write(w)
	b, err := appendJSON(sc.reply[:0], resp.body)
	if err != nil {
		resp.status = http.StatusInternalServerError
		b = []byte(`{"message":"Internal Server Error"}`)
	} else {
		sc.reply = b
	}
	resp.out.status = resp.status
	s.rec.finish(req, resp.out, label, resp.dels)
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(resp.status)
	_, _ = w.Write(b)
}

// jsonContentType is the Content-Type header of every answer. Header maps
// share it; net/http and Header's methods replace a value, never change it.
var jsonContentType = []string{"application/json"}

// appendJSON appends json.Marshal(v) to dst, encoding the common answers
// without reflection.
func appendJSON(dst []byte, v any) ([]byte, error) {
	if e, ok := v.(envelope); ok && len(e.Errors) == 0 {
		if out, ok := appendEnvelope(dst, &e); ok {
			return out, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

// appendEnvelope appends the encoding of e, which has no errors, when every
// field is a plain string (one json.Marshal copies as is); ok is false
// otherwise.
func appendEnvelope(dst []byte, e *envelope) ([]byte, bool) {
	fields := [...]struct{ name, val string }{
		{`"message":"`, e.Message}, {`"dispatch_id":"`, e.DispatchID}, {`"schedule_id":"`, e.ScheduleID},
		{`"send_id":"`, e.SendID}, {`"notice":"`, e.Notice},
	}
	out := append(dst, '{')
	for _, f := range fields {
		if f.val == "" {
			continue
		}
		if !plainJSONString(f.val) {
			return dst, false
		}
		if len(out) > len(dst)+1 {
			out = append(out, ',')
		}
		out = append(out, f.name...)
		out = append(out, f.val...)
		out = append(out, '"')
	}
	return append(out, '}'), true
}

// plainJSONString reports whether json.Marshal writes s unescaped: printable
// ASCII without quote, backslash and the HTML characters it escapes.
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// wait sleeps for d unless the client gives up or the server closes first;
// it reports whether the answer should still be written.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return true
	}
}

// dropCall answers nothing: for "timeout" it holds the call until the client
// gives up or the server closes, for "reset" it resets the connection.
func (s *Server) dropCall(w http.ResponseWriter, r *http.Request, how string) {
	if how == "timeout" {
		select {
		case <-r.Context().Done():
			return
		case <-s.closed:
		}
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not a hijackable connection (HTTP/2, a recorder): the nearest
		// answer a client can see is a gateway error.
		http.Error(w, `{"message":"connection reset"}`, http.StatusBadGateway)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok && how == "reset" {
		_ = tc.SetLinger(0) // close with RST, not FIN
	}
	_ = conn.Close()
}

// process runs the pipeline of braze-api.md §5 on one call.
func (s *Server) process(ep *endpoint, r *http.Request, raw []byte, d decision, now time.Time, sc *callScratch) response {
	key := s.lookupKey(r)
	wsName := ""
	if key != nil {
		wsName = key.ws.name
	}
	// Without limits the budgets ignore charges: spare classifying them.
	var charges []rules.Charge
	if s.budgets.limited() {
		charges = rules.Classify(r.Method, r.URL.Path, raw)
		if s.cfg.BroadcastPerEndpoint {
			for i := range charges {
				if charges[i].Budget == rules.BudgetBroadcast {
					charges[i].Key = r.URL.Path
				}
			}
		}
	}
	fail := func(status int, fault, label, detail string, rl rateHeaders) response {
		resp := response{status: status, rl: rl, out: outcome{status: status, fault: fault, workspace: wsName}}
		switch {
		case ep != nil && ep.liveActivity() && status < 500:
			msg := label
			if detail != "" {
				msg += ": " + detail
			}
			resp.body = map[string]string{"error": msg}
		case detail != "":
			resp.body = envelope{Message: label, Errors: []any{detail}}
		default:
			resp.body = envelope{Message: label}
		}
		return resp
	}
	if d.status != 0 {
		var rl rateHeaders
		if d.status == http.StatusTooManyRequests {
			rl = s.budgets.exhausted(wsName, charges, now, d.reset)
		} else {
			rl = s.budgets.peek(wsName, charges, now)
		}
		return fail(d.status, d.fault, injectedLabel(d.status), "", rl)
	}
	if ep == nil {
		return fail(http.StatusNotFound, "", "Not Found", "", s.budgets.peek(wsName, charges, now))
	}
	if key == nil {
		return fail(http.StatusUnauthorized, "", "Unauthorized", "", s.budgets.peek("", charges, now))
	}
	if key.perms != nil && !key.perms[ep.permission] {
		return fail(http.StatusForbidden, "", "Access Denied", "key lacks permission "+ep.permission, s.budgets.peek(wsName, charges, now))
	}
	if r.Method == http.MethodPost {
		if !isJSON(r.Header.Get("Content-Type")) {
			return fail(http.StatusUnsupportedMediaType, "", "Unsupported Media Type", "Content-Type must be application/json", s.budgets.peek(wsName, charges, now))
		}
		// The body, trimmed by bytes.TrimSpace, must be an object json.Valid
		// accepts; the scan also notes its fields for decoding below.
		sc.scan.scan(raw)
		if !sc.scan.valid {
			rl := s.budgets.peek(wsName, charges, now)
			if ep.liveActivity() {
				resp := fail(http.StatusBadRequest, "", "", "", rl)
				resp.body = map[string]string{"error": liveActivityBadJSON}
				return resp
			}
			return fail(http.StatusBadRequest, "", labelBadRequest, badJSONDetail, rl)
		}
	}
	rl, ok := s.budgets.charge(wsName, charges, now)
	if !ok {
		return fail(http.StatusTooManyRequests, "", "Rate Limited", "", rl)
	}
	// refund gives back a /sends/id/create charge: only successful
	// creations count (braze-api.md §2.1).
	refund := func() {
		if ep.op != opSendIDCreate {
			return
		}
		for _, c := range charges {
			if c.Budget == rules.BudgetSendIDs {
				rl = s.budgets.refund(wsName, c, now)
			}
		}
	}
	if r.Method == http.MethodPost {
		if err := rules.Check(ep.path, raw, s.cfg.Rules); err != nil {
			refund()
			var v *rules.Violation
			if errors.As(err, &v) {
				return fail(http.StatusBadRequest, "", v.Label, violationDetail(v), rl)
			}
			return fail(http.StatusBadRequest, "", labelBadRequest, err.Error(), rl)
		}
	}
	var b body
	if len(raw) > 0 {
		if !sc.scan.done {
			sc.scan.scan(raw)
		}
		if !sc.scan.decode(&b) {
			b = body{}
			if err := json.Unmarshal(raw, &b); err != nil {
				refund()
				return fail(http.StatusBadRequest, "", labelBadRequest, "request body: "+err.Error(), rl)
			}
		}
	}
	rcpts := sc.recipientsOf(&b)
	if d.reject != nil {
		for _, rc := range rcpts {
			if d.reject.has(rc) {
				refund()
				return fail(http.StatusBadRequest, "reject", labelBadRequest, "the request could not be processed", rl)
			}
		}
	}
	endTime := ""
	if ep.op == opListScheduled {
		endTime = r.URL.Query().Get("end_time")
	}
	res, f := s.apply(ep, key.ws, &b, raw, endTime, now)
	if f != nil {
		refund()
		return fail(f.status, "", f.label, f.detail, rl)
	}
	if res.refund {
		refund()
	}
	resp := response{status: ep.success, rl: rl, out: outcome{
		workspace: wsName, dispatchID: res.env.DispatchID, scheduleID: res.env.ScheduleID, sendID: res.env.SendID,
	}}
	if res.list != nil {
		resp.body = res.list
		return resp
	}
	env := res.env
	env.Message = "success"
	if res.deliver {
		dels := sc.dels[:0]
		for _, rc := range rcpts {
			if d.minor != nil && d.minor.has(rc) {
				env.Errors = append(env.Errors, minorError{Type: "recipient could not be messaged", InputArray: rc.array, Index: rc.index})
				resp.out.fault = "minor_errors"
				continue
			}
			dels = append(dels, rc)
		}
		sc.dels = dels
		resp.dels = dels
	}
	resp.body = env
	return resp
}

func violationDetail(v *rules.Violation) string {
	switch {
	case v.Field != "" && v.Detail != "":
		return v.Field + ": " + v.Detail
	case v.Field != "":
		return v.Field
	}
	return v.Detail
}

// injectedLabel is the message of an injected error status.
func injectedLabel(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "Rate Limited"
	case http.StatusUnauthorized:
		return "Unauthorized"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "Error"
}

// lookupKey returns the key of a well-formed "Authorization: Bearer <key>"
// header, or nil. Anything else (no header, two headers, another scheme,
// an empty or quoted key, extra spaces) is no key.
func (s *Server) lookupKey(r *http.Request) *apiKey {
	vals := r.Header.Values("Authorization")
	if len(vals) != 1 {
		return nil
	}
	k, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || k == "" {
		return nil
	}
	return s.keys[k]
}

// isJSON reports whether a Content-Type header names application/json.
func isJSON(ct string) bool {
	if ct == "application/json" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
