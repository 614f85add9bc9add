package brazetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/brazegw/gateway/braze"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// scanCorpus are bodies whose reading by the fast path must match
// encoding/json's: valid and invalid JSON, keys encoding/json matches
// case-insensitively, escapes, invalid UTF-8, duplicates, wrong types.
var scanCorpus = []string{
	``, ` `, `{}`, ` {} `, "\t{}\r\n", "\v{}", "\u00a0{}\u0085", "{}\v", `[]`, `null`, `"x"`, `{`, `}`, `{}}`, `{} {}`, `{},`,
	`{"a":1}`, `{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{'a':1}`, `{"a":1 "b":2}`,
	`{"a":-}`, `{"a":-0}`, `{"a":01}`, `{"a":1.}`, `{"a":1.5e}`, `{"a":1.5e+3}`, `{"a":1E-3}`, `{"a":.5}`, `{"a":+1}`,
	`{"a":-1.25e10}`, `{"a":0e0}`, `{"a":1x}`, `{"a":tru}`, `{"a":true}`, `{"a":falsey}`, `{"a":nul}`, `{"a":null}`,
	`{"a":"\u00e9\n\t\"\\\/\b\f\r"}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\x7f\"}",
	"{\"a\":\"\xff\xfe\"}", "{\"a\":\"é\"}", `{"a":"unterminated}`, `{"a":[1,2,]}`, `{"a":[,]}`, `{"a":[]}`, `{"a":[[[]]]}`,
	`{"a":{"b":{"c":[1,{"d":null}]}}}`, `{"a":[1 2]}`, `{"a":{"b" "c"}}`,
	`{"campaign_id":"c1","recipients":[{"external_user_id":"u1","trigger_properties":{"k":"v"}}]}`,
	`{"campaign_id":"c1","recipients":[]}`, `{"campaign_id":"c1","recipients":null}`, `{"campaign_id":"c1","recipients":{}}`,
	`{"campaign_id":"c1","recipients":"u1"}`, `{"campaign_id":null}`, `{"campaign_id":5}`, `{"campaign_id":"c\u00e91"}`,
	"{\"campaign_id\":\"c\xff1\"}", `{"campaign_id":"a","campaign_id":"b"}`, `{"campaign_id":"a","campaign_id":null}`,
	`{"Campaign_ID":"c1"}`, `{"CAMPAIGN_ID":"c1","campaign_id":"c2"}`, `{"campaignid":"c1"}`, `{"campaign-id":"c1"}`,
	`{"campaign\u005fid":"c1"}`, "{\"\u212aey\":1}", "{\"\u017fend_id\":\"s\"}", "{\"\u017fegment_id\":\"s\"}",
	`{"broadcast":true}`, `{"broadcast":"true"}`, `{"broadcast":null}`, `{"broadcast": true }`, `{"broadcast":{"a" : [1, 2]}}`,
	`{"schedule":{"time":"2030-01-01T00:00:00Z","in_local_time":true}}`, `{"schedule":null}`, `{"tag_names":["a","b"]}`,
	`{"tag_names":"a"}`, `{"messages":{"email":{"message_variation_id":"email-1"}}}`, `{"messages":null}`, `{"messages":[1]}`,
	`{"messages":{"a":1,"a":2}}`, `{"messages":{"\u0061":1}}`, `{"messages":"x"}`,
	`{"external_user_ids":["u1","u2","u1"],"user_aliases":[{"alias_name":"n","alias_label":"l"}]}`,
	`{"external_user_ids":["u1",5,null,"","u\u00e9",{"a":1},["x"],true]}`, `{"external_user_ids":["a"],"external_user_ids":["b","c"]}`,
	`{"user_aliases":[{"alias_name":"n"},{"Alias_Name":"m","alias_label":"l"},null,5,{"alias_name":5}]}`,
	`{"recipients":[null,5,"x",[],{},{"external_user_id":null},{"external_user_id":5},{"email":"a@b"},{"braze_id":"b1"}]}`,
	`{"recipients":[{"external_user_id":"u1","external_user_id":"u2"},{"external_user_id":"u1","external_user_id":null}]}`,
	`{"recipients":[{"External_User_ID":"u1"},{"externaluserid":"u2"},{"user_alias":{"alias_name":"n","alias_label":"l"}}]}`,
	`{"recipients":[{"user_alias":null,"email":"e"},{"user_alias":5},{"user_alias":{"alias_name":"n"},"external_user_id":"u"}]}`,
	`{"recipients":[{"external_user_id":"u\n1"},{"external_user_id":"u\"1"},{"email":"\u003cx\u003e"}]}`,
	"{\"recipients\":[{\"external_user_id\":\"u\xff\"},{\"\u212axternal_user_id\":\"u\"}]}",
	`{"recipients":[{"email":"a","email":"b"},{"braze_id":"x","trigger_properties":{"email":"no"}}]}`,
	`{"recipients":[{"external_user_id":"u1"}],"recipients":[{"external_user_id":"u2"}]}`,
	`{ "recipients" : [ { "external_user_id" : "u1" , "trigger_properties" : { } } , { "email" : "e" } ] , "campaign_id" : "c" }`,
	`{"recipients":[{"external_user_id":"u1","trigger_properties":{"otp":"100123","first_name":"Ann","sent_ns":1772366400123456789}}]}`,
	`{"send_id":"s","schedule_id":"x","segment_id":"g","canvas_id":"v","other":{"recipients":[{"x":1}]}}`,
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	`{"a":` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `}`,
	`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}`,
	`{"recipients":[` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + `]}`,
	`{"recipients":[` + strings.Repeat("[", 9999) + strings.Repeat("]", 9999) + `]}`,
}

// wantValid is the API's check of a POST body before the scanner.
func wantValid(raw []byte) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{' && json.Valid(t)
}

// refRecipientsOf is recipientsOf as it was written with encoding/json,
// the reference the fast path must match.
func refRecipientsOf(b *body) []recipient {
	var all []recipient
	for i, raw := range b.ExternalUserIDs {
		var id string
		if json.Unmarshal(raw, &id) == nil && id != "" {
			all = append(all, recipient{id: "external_user_id:" + id, bare: id, body: raw, array: "external_user_ids", index: i})
		}
	}
	for i, raw := range b.UserAliases {
		var a userAlias
		if json.Unmarshal(raw, &a) == nil && a.AliasName != "" {
			all = append(all, recipient{id: aliasID(a), body: raw, array: "user_aliases", index: i})
		}
	}
	for i, raw := range b.Recipients {
		var r recipientObject
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		rc := recipient{body: raw, array: "recipients", index: i}
		switch {
		case r.ExternalUserID != "":
			rc.id, rc.bare = "external_user_id:"+r.ExternalUserID, r.ExternalUserID
		case r.UserAlias != nil:
			rc.id = aliasID(*r.UserAlias)
		case r.Email != "":
			rc.id = "email:" + r.Email
		case r.BrazeID != "":
			rc.id = "braze_id:" + r.BrazeID
		default:
			continue
		}
		all = append(all, rc)
	}
	last := make(map[string]int, len(all))
	for i, r := range all {
		last[r.id] = i
	}
	out := make([]recipient, 0, len(last))
	seen := make(map[string]bool, len(last))
	for _, r := range all {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		out = append(out, all[last[r.id]])
	}
	return out
}

// checkScan compares the fast reading of raw with encoding/json's.
func checkScan(t *testing.T, raw []byte) {
	t.Helper()
	sc := getScratch()
	defer putScratch(sc)
	sc.scan.scan(raw)
	if want := wantValid(raw); sc.scan.valid != want {
		t.Fatalf("%.200q: scan says valid=%v, json.Valid %v", raw, sc.scan.valid, want)
	}
	var want body
	wantErr := json.Unmarshal(raw, &want)
	var got body
	fast := sc.scan.decode(&got)
	if fast {
		if wantErr != nil {
			t.Fatalf("%.200q: fast decode succeeded, json.Unmarshal: %v", raw, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%.200q: fast decode\n%+v\nwant\n%+v", raw, got, want)
		}
	}
	if wantErr != nil {
		return
	}
	// The recipients, whether the body was read by the fast path or not.
	ref := refRecipientsOf(&want)
	// With the body decoded by the scan, recipients are read while
	// validating; with encoding/json's, by decodeRecipientObject.
	for _, b := range []*body{&got, &want} {
		if b == &got && !fast {
			continue
		}
		sc.scan.decoded = b == &got
		rcpts := sc.recipientsOf(b)
		if len(rcpts) != len(ref) || (len(ref) > 0 && !reflect.DeepEqual(rcpts, ref)) {
			t.Fatalf("%.200q: recipients\n%+v\nwant\n%+v", raw, rcpts, ref)
		}
	}
}

func TestScanMatchesEncodingJSON(t *testing.T) {
	for _, s := range scanCorpus {
		checkScan(t, []byte(s))
	}
	// Every prefix of a realistic body: truncated JSON of every kind.
	full := fmt.Sprintf(`{"campaign_id":%q,"recipients":%s,"broadcast":false}`, DevTriggerCampaignID, gatewayRecipients(7, 3))
	for i := range len(full) + 1 {
		checkScan(t, []byte(full[:i]))
	}
}

// refScanString is scanString one byte at a time.
func refScanString(b []byte, i int) (end int, esc, high, ok bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, high, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(b) || !jsonbytes.IsHex(b[i+2]) || !jsonbytes.IsHex(b[i+3]) || !jsonbytes.IsHex(b[i+4]) || !jsonbytes.IsHex(b[i+5]) {
					return 0, false, false, false
				}
				i += 5
			default:
				return 0, false, false, false
			}
		case c < 0x20:
			return 0, false, false, false
		case c >= 0x80:
			high = true
		}
	}
	return 0, false, false, false
}

// TestScanStringEveryByte puts every byte value at every position of
// strings around the 8-byte steps of scanString, with and without the
// closing quote, and escapes across the steps.
func TestScanStringEveryByte(t *testing.T) {
	check := func(b []byte) {
		t.Helper()
		e1, s1, h1, o1 := scanString(b, 0)
		e2, s2, h2, o2 := refScanString(b, 0)
		if e1 != e2 || s1 != s2 || h1 != h2 || o1 != o2 {
			t.Fatalf("scanString(%q) = %d %v %v %v, want %d %v %v %v", b, e1, s1, h1, o1, e2, s2, h2, o2)
		}
	}
	for n := range 20 {
		for p := range n {
			for c := range 256 {
				b := append([]byte{'"'}, bytes.Repeat([]byte{'a'}, n)...)
				b[1+p] = byte(c)
				check(b)
				check(append(b, '"'))
				check(append(b, '"', 'x', 'y'))
			}
		}
	}
	for _, s := range []string{`"abcdefg\"`, `"abcdefgh\u00e9ijklmnop"`, `"abcdefg\u00"`, `"abcdefghijklmno\`, `"abcdefghijklmnop\"q"`,
		"\"abcdefgh\u2028ijklmnop\"", "\"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\"", `"\"\"\"\"\"\"\"\"\""`} {
		check([]byte(s))
	}
}

func TestScanFastPathTaken(t *testing.T) {
	raw := []byte(fmt.Sprintf(`{"campaign_id":%q,"recipients":%s}`, DevTriggerCampaignID, gatewayRecipients(0, 50)))
	sc := getScratch()
	defer putScratch(sc)
	sc.scan.scan(raw)
	var b body
	if !sc.scan.valid || !sc.scan.decode(&b) {
		t.Fatal("a gateway body left the fast path")
	}
	for _, el := range b.Recipients {
		var r recipientFields
		if decodeRecipientObject(el, &r) != fieldOK || r.externalUserID.empty() {
			t.Fatalf("recipient %s left the fast path", el)
		}
	}
	if n := len(sc.recipientsOf(&b)); n != 50 {
		t.Fatalf("%d recipients", n)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range scanCorpus {
		if len(s) < 1000 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) { checkScan(t, raw) })
}

func TestAppendJSONMatchesMarshal(t *testing.T) {
	for _, v := range []any{
		envelope{}, envelope{Message: "success", DispatchID: "0123abcd"},
		envelope{Message: "success", DispatchID: "d", ScheduleID: "s", SendID: "x", Notice: noticeCanvasPaused},
		envelope{Message: "success", SendID: `a"b`}, envelope{Message: "success", SendID: `a\b`}, envelope{Message: "<&>"},
		envelope{Message: "é"}, envelope{Message: "a\x7fb"}, envelope{Message: "a\nb"}, envelope{Message: "x", Errors: []any{}},
		envelope{Message: "x", Errors: []any{minorError{"t", "recipients", 3}}}, map[string]string{"error": "x"},
		map[string]any{"scheduled_broadcasts": []broadcastEntry{}},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON([]byte("prefix"), v)
		if err != nil || string(got) != "prefix"+string(want) {
			t.Errorf("appendJSON(%#v) = %s, %v; want %s", v, got, err, want)
		}
	}
}

// TestDeliveryCapAcrossBatches checks the capped record of deliveries when
// one call delivers more than the cap, and that uncapped counts are exact.
func TestDeliveryCapAcrossBatches(t *testing.T) {
	for _, drop := range []bool{false, true} {
		s := devServer(t, func(c *Config) {
			c.Limits = nil
			c.MaxDeliveries, c.MaxRequests, c.DropBodies = 7, 2, drop
		})
		for call := range 5 {
			var ids []string
			for i := range 5 + call {
				ids = append(ids, fmt.Sprintf(`{"external_user_id":"u%d","trigger_properties":{"c":%d}}`, i, call))
			}
			mustStatus(t, post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","recipients":[`+strings.Join(ids, ",")+`]}`), 201)
		}
		// The calls delivered 5, 6, 7, 8 and 9 recipients; the last 7 are
		// u2…u8 of the last call.
		dels := s.Deliveries()
		if len(dels) != 7 {
			t.Fatalf("drop=%v: %d deliveries", drop, len(dels))
		}
		for i, d := range dels {
			if d.Recipient != fmt.Sprintf("external_user_id:u%d", i+2) || d.Request != 4 || d.Endpoint != "/campaigns/trigger/send" {
				t.Fatalf("drop=%v: delivery %d: %+v", drop, i, d)
			}
			want := fmt.Sprintf(`{"external_user_id":"u%d","trigger_properties":{"c":4}}`, i+2)
			if (drop && d.Body != nil) || (!drop && string(d.Body) != want) {
				t.Fatalf("drop=%v: delivery %d body %s", drop, i, d.Body)
			}
		}
		if reqs := s.Requests(); len(reqs) != 2 || reqs[0].Index != 3 || reqs[1].Index != 4 {
			t.Fatalf("drop=%v: requests %+v", drop, reqs)
		}
		if n := s.DeliveryCount("external_user_id:u0"); n != 5 {
			t.Fatalf("drop=%v: u0 delivered %d times", drop, n)
		}
		if n := s.DeliveryCount("external_user_id:u8"); n != 1 {
			t.Fatalf("drop=%v: u8 delivered %d times", drop, n)
		}
		if st := s.Stats(); len(st.Deliveries) != 1 || st.Deliveries[0].Count != 5+6+7+8+9 {
			t.Fatalf("drop=%v: stats %+v", drop, st.Deliveries)
		}
	}
}

// TestRecordedBodiesAreTheirOwn: appending to a recorded delivery body must
// not change the recorded request body it was read from.
func TestRecordedBodiesAreTheirOwn(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Limits = nil })
	body := `{"campaign_id":"` + trg + `","recipients":[{"external_user_id":"u1"},{"external_user_id":"u2"}]}`
	mustStatus(t, post(t, s, "/campaigns/trigger/send", body), 201)
	d := s.Deliveries()[0]
	_ = append(d.Body, "XXXXXXXX"...)
	if got := string(s.Requests()[0].Body); got != body {
		t.Fatalf("request body changed to %s", got)
	}
	if got := string(s.Deliveries()[1].Body); got != `{"external_user_id":"u2"}` {
		t.Fatalf("second delivery body %s", got)
	}
}

// TestDropBodiesConcurrent sends distinct bodies from many goroutines to a
// server that reuses body buffers (run with -race): every call must be read
// as sent.
func TestDropBodiesConcurrent(t *testing.T) {
	cfg := throughputConfig()
	cfg.MaxDeliveries = 0 // keep every delivery
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	// Closed first: Close would wait for connections dialled but unused.
	hc := &http.Client{Transport: braze.NewTransport()}
	t.Cleanup(hc.CloseIdleConnections)
	client, err := braze.New(braze.Config{BaseURL: s.URL, APIKey: testKey}, hc)
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker, size = 6, 40, 7
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				start := int64((w*perWorker + i) * size)
				body := fmt.Sprintf(`{"campaign_id":%q,"recipients":%s}`, DevTriggerCampaignID, gatewayRecipients(start, size))
				resp, err := client.Post(context.Background(), "/campaigns/trigger/send", []byte(body))
				if err != nil || resp.Status != http.StatusCreated {
					t.Errorf("call: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	byRequest := map[string][]string{}
	for _, d := range s.Deliveries() {
		byRequest[d.DispatchID] = append(byRequest[d.DispatchID], d.Recipient)
	}
	if len(byRequest) != workers*perWorker {
		t.Fatalf("%d calls delivered, want %d", len(byRequest), workers*perWorker)
	}
	for id, rs := range byRequest {
		var first int
		if _, err := fmt.Sscanf(rs[0], "external_user_id:user-%d", &first); err != nil || len(rs) != size {
			t.Fatalf("call %s delivered %v", id, rs)
		}
		for i, r := range rs {
			if want := fmt.Sprintf("external_user_id:user-%07d", first+i); r != want {
				t.Fatalf("call %s delivered %v", id, rs)
			}
		}
	}
	for i := range workers * perWorker * size {
		if n := s.DeliveryCount(fmt.Sprintf("external_user_id:user-%07d", i)); n != 1 {
			t.Fatalf("user %d delivered %d times", i, n)
		}
	}
}

// TestRoutingMatchesServeMux: the shortcut past the ServeMux for exact
// endpoint paths must answer as the mux alone would.
func TestRoutingMatchesServeMux(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Limits = nil; c.Seed = 7 })
	mux := http.NewServeMux()
	mux.Handle("/_sim/", http.HandlerFunc(s.serveAdmin))
	mux.Handle("/", http.HandlerFunc(s.serveAPI))
	body := `{"campaign_id":"` + trg + `","recipients":[{"external_user_id":"u1"}]}`
	for _, tc := range []struct{ method, target string }{
		{"POST", "/campaigns/trigger/send"}, {"GET", "/campaigns/trigger/send"}, {"POST", "//campaigns/trigger/send"},
		{"POST", "/campaigns/trigger/send/"}, {"POST", "/campaigns/./trigger/send"}, {"POST", "/campaigns%2Ftrigger/send"},
		{"POST", "/campaigns/trigger/%73end"}, {"POST", "/campaigns/trigger/send?x=1"}, {"POST", "/nope"},
		{"GET", "/messages/scheduled_broadcasts?end_time=2031-01-01"}, {"GET", "/_sim"}, {"GET", "/_sim/faults"},
		{"OPTIONS", "*"},
	} {
		var pattern [2]string
		var status [2]int
		var loc [2]string
		for i, h := range []http.Handler{s.Handler(), mux} {
			r := httptest.NewRequest(tc.method, "http://sim"+strings.TrimPrefix(tc.target, "*"), strings.NewReader(body))
			if tc.target == "*" {
				r.RequestURI, r.URL.Path = "*", "*"
			}
			r.Header.Set("Authorization", "Bearer "+testKey)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			pattern[i], status[i], loc[i] = r.Pattern, w.Code, w.Header().Get("Location")
		}
		if pattern[0] != pattern[1] || status[0] != status[1] || loc[0] != loc[1] {
			t.Errorf("%s %s: handler %q %d %q, mux %q %d %q", tc.method, tc.target,
				pattern[0], status[0], loc[0], pattern[1], status[1], loc[1])
		}
	}
}
