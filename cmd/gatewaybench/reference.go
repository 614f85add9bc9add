package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// referenceCmd is the reference pipeline of the performance targets
// (docs/performance.md): the plain Go pipeline a team writes first, which
// the targets' "15–20 µs of CPU per event" describes. kafka-go's consumer
// group reads the events; each is decoded with encoding/json, its
// free-form fields (trigger_properties) into maps; recipients are
// batched 50 to a request per campaign, the body encoded with
// encoding/json; 8 requests are in flight; offsets are committed in order
// once their request succeeded. It validates nothing, keeps no per-key
// order, budgets, retries, dead letters or results: it is what the
// gateway must beat while doing all of that. It consumes n events, then
// prints the times of the first fetch and of the last commit as
// "first=<unix ns> last=<unix ns>".
func referenceCmd(args []string, stdout, stderr io.Writer) int {
	var a childArgs
	fs := a.flags("reference", stderr)
	url := fs.String("url", "", "Braze REST endpoint (the simulator)")
	key := fs.String("key", "", "API key")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !a.valid() || *url == "" || *key == "" {
		fmt.Fprintln(stderr, "reference: -brokers, -topic, -group, -n, -url and -key are required")
		return 2
	}
	r := newChildReader(a.brokers, a.topic, a.group)
	first, last, err := runReference(context.Background(), r, a.n, &refPoster{
		url: strings.TrimSuffix(*url, "/") + "/campaigns/trigger/send", key: *key,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: refInFlight}, Timeout: 30 * time.Second},
	})
	if cerr := r.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "reference: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "first=%d last=%d\n", first.UnixNano(), last.UnixNano())
	return 0
}

// refInFlight is how many requests the reference pipeline has in flight,
// refBatch how many recipients a request carries.
const (
	refInFlight = 8
	refBatch    = 50
)

// refEvent is the reference pipeline's decoding of a trigger event.
type refEvent struct {
	SpecVersion string `json:"specversion"`
	ID          string `json:"id"`
	Source      string `json:"source"`
	Type        string `json:"type"`
	Time        string `json:"time"`
	Data        struct {
		CampaignID string           `json:"campaign_id"`
		Recipients []map[string]any `json:"recipients"`
	} `json:"data"`
}

// refBody is the body of a campaign trigger the reference pipeline sends.
type refBody struct {
	CampaignID string           `json:"campaign_id"`
	Recipients []map[string]any `json:"recipients"`
}

// refRequest is one request of the reference pipeline: its body and the
// messages it settles, numbered in the order the requests were made.
type refRequest struct {
	seq  int
	body []byte
	msgs []kafka.Message
	err  error
}

// refPoster sends a request body to Braze.
type refPoster struct {
	url, key string
	client   *http.Client
}

func (p *refPoster) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", p.url, resp.Status)
	}
	return nil
}

// runReference reads n events from r, sends them in requests of refBatch
// recipients per campaign with refInFlight requests in flight, and
// commits each request's messages once it and every earlier one
// succeeded. It returns when all n are committed, or at the first error
// (the end of parent being one). Requests are ordered as they were made,
// not by offset: with several campaigns a request can be made before an
// earlier record of another campaign is sent, and its commit then passes
// that record (kafka-go keeps the highest offset per partition). The
// bench's events share one campaign, where the two orders agree.
func runReference(parent context.Context, r *kafka.Reader, n int, p *refPoster) (first, last time.Time, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	errc := make(chan error, 1)
	fail := func(err error) {
		select {
		case errc <- err:
		default:
		}
		cancel()
	}
	todo := make(chan *refRequest, refInFlight)
	done := make(chan *refRequest, refInFlight)
	var wg sync.WaitGroup
	for range refInFlight {
		wg.Go(func() {
			for req := range todo {
				req.err = p.post(ctx, req.body)
				select {
				case done <- req:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	// The committer commits requests in the order they were made.
	all := make(chan struct{})
	wg.Go(func() {
		next, held, count := 0, map[int]*refRequest{}, 0
		for {
			var req *refRequest
			select {
			case req = <-done:
			case <-ctx.Done():
				return
			}
			if req.err != nil {
				fail(req.err)
				return
			}
			held[req.seq] = req
			for held[next] != nil {
				req := held[next]
				delete(held, next)
				next++
				if err := r.CommitMessages(ctx, req.msgs...); err != nil {
					fail(fmt.Errorf("commit: %w", err))
					return
				}
				if count += len(req.msgs); count == n {
					last = time.Now()
					close(all)
					return
				}
			}
		}
	})

	open := map[string]*refRequest{} // per campaign
	recipients := map[string][]map[string]any{}
	seq := 0
	flush := func(campaign string) error {
		req := open[campaign]
		body, err := json.Marshal(refBody{CampaignID: campaign, Recipients: recipients[campaign]})
		if err != nil {
			return err
		}
		req.seq, req.body = seq, body
		seq++
		delete(open, campaign)
		recipients[campaign] = nil
		select {
		case todo <- req:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	read := func() error {
		for i := range n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				return err
			}
			if i == 0 {
				first = time.Now()
			}
			var ev refEvent
			if err := json.Unmarshal(m.Value, &ev); err != nil {
				return fmt.Errorf("offset %d: %w", m.Offset, err)
			}
			if ev.SpecVersion != "1.0" || ev.ID == "" || ev.Data.CampaignID == "" || len(ev.Data.Recipients) == 0 {
				return fmt.Errorf("offset %d: not a campaign trigger with recipients", m.Offset)
			}
			c := ev.Data.CampaignID
			req := open[c]
			if req == nil {
				req = &refRequest{}
				open[c] = req
			}
			req.msgs = append(req.msgs, m)
			recipients[c] = append(recipients[c], ev.Data.Recipients...)
			if len(recipients[c]) >= refBatch {
				if err := flush(c); err != nil {
					return err
				}
			}
		}
		for c := range open {
			if err := flush(c); err != nil {
				return err
			}
		}
		return nil
	}
	if err := read(); err != nil {
		fail(err)
	}
	close(todo)
	select {
	case <-all:
	case <-ctx.Done():
	}
	cancel()
	wg.Wait()
	select {
	case err = <-errc:
	case <-all:
	default:
		// Neither done nor failed: the caller's context ended first.
		err = fmt.Errorf("reference: stopped before every event was committed: %w", context.Cause(parent))
	}
	return first, last, err
}
