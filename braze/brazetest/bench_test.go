package brazetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/internal/cputime"
)

// BenchmarkTriggerSend measures trigger sends of 1 and 50 recipients through
// a real client over loopback, with Braze's default limits and bodies
// recorded.
func BenchmarkTriggerSend(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			benchTriggerSend(b, NewServer(DevConfig(testKey)), n, recipientsFrom)
		})
	}
}

// BenchmarkTriggerSendUnlimited measures trigger sends through a real client
// over loopback against a simulator configured as cmd/gatewaybench runs it:
// no rate limits, bodies dropped, records capped, unknown ids accepted, and
// recipients shaped like the gateway's.
func BenchmarkTriggerSendUnlimited(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			benchTriggerSend(b, NewServer(throughputConfig()), n, gatewayRecipients)
		})
	}
}

// BenchmarkServeTriggerSend measures the simulator's handler alone (no
// client, no socket, no HTTP parsing) on the throughput case of
// BenchmarkTriggerSendUnlimited: the server-side share of a call.
func BenchmarkServeTriggerSend(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			s := NewUnstartedServer(throughputConfig())
			defer s.Close()
			benchServe(b, s.Handler(), n)
		})
	}
}

// throughputConfig is the simulator of cmd/gatewaybench (see its env.go).
func throughputConfig() Config {
	return Config{
		Workspaces: []Workspace{{Name: "default", APIKeys: []APIKey{{Key: testKey}}, AcceptUnknownIDs: true}},
		DropBodies: true, MaxRequests: 1, MaxDeliveries: 1,
	}
}

func benchTriggerSend(b *testing.B, s *Server, recipients int, gen func(int64, int) string) {
	hc := &http.Client{Transport: braze.NewTransport()}
	client, err := braze.New(braze.Config{BaseURL: s.URL, APIKey: testKey}, hc)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"campaign_id":%q,"recipients":%s}`, DevTriggerCampaignID, gen(i*int64(recipients), recipients))
			if _, err := client.Post(context.Background(), "/campaigns/trigger/send", []byte(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	// Close is not part of the measure: http.Server.Shutdown waits up to
	// 5 s for connections the client dialled but never used.
	b.StopTimer()
	cpu.report()
	hc.CloseIdleConnections()
	s.Close()
}

// benchServe calls h directly with trigger sends of the given size, as the
// sink of cmd/gatewaybench does (a body already read into memory).
func benchServe(b *testing.B, h http.Handler, recipients int) {
	bodies := make([][]byte, 64)
	for i := range bodies {
		bodies[i] = fmt.Appendf(nil, `{"campaign_id":%q,"recipients":%s}`, DevTriggerCampaignID,
			gatewayRecipients(int64(i*recipients), recipients))
	}
	u := &url.URL{Path: "/campaigns/trigger/send"}
	hdr := http.Header{
		"Authorization": {"Bearer " + testKey},
		"Content-Type":  {"application/json"},
		"Accept":        {"application/json"},
		"User-Agent":    {"braze-gateway"},
	}
	var n atomic.Int64
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU(b)
	defer cpu.report()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		rd := new(bytes.Reader)
		for pb.Next() {
			body := bodies[n.Add(1)%int64(len(bodies))]
			rd.Reset(body)
			r := &http.Request{Method: http.MethodPost, URL: u, Header: hdr, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Body: io.NopCloser(rd), ContentLength: int64(len(body)), Host: "sim", RequestURI: u.Path}
			clear(w.h)
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != http.StatusCreated {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
}

// cpuMeter reports the process's CPU time per operation as "cpu-ns/op":
// on a busy machine wall time per operation varies with the load, the CPU
// a call costs much less.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
	ok    bool
}

func startCPU(b *testing.B) cpuMeter {
	t, ok := cputime.Process()
	return cpuMeter{b, t, ok}
}

func (m cpuMeter) report() {
	t, ok := cputime.Process()
	if m.ok && ok && m.b.N > 0 {
		m.b.ReportMetric(float64(t-m.start)/float64(m.b.N), "cpu-ns/op")
	}
}

// discardWriter is an http.ResponseWriter that keeps the status only.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.h }

func (w *discardWriter) WriteHeader(status int) { w.status = status }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

func recipientsFrom(start int64, n int) string {
	out := []byte{'['}
	for i := range int64(n) {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"external_user_id":"u%d","trigger_properties":{"k":"v"}}`, start+i)
	}
	return string(append(out, ']'))
}

// gatewayRecipients are recipients as the gateway sends them in
// cmd/gatewaybench: an external id from a pool of a million users and the
// event's trigger properties.
func gatewayRecipients(start int64, n int) string {
	out := []byte{'['}
	for i := range int64(n) {
		if i > 0 {
			out = append(out, ',')
		}
		k := start + i
		out = fmt.Appendf(out, `{"external_user_id":"user-%07d","trigger_properties":{"otp":"%d","first_name":"Ann","sent_ns":`, k%1_000_000, 100000+k%900000)
		out = strconv.AppendInt(out, 1772366400123456789+k, 10)
		out = append(out, "}}"...)
	}
	return string(append(out, ']'))
}
