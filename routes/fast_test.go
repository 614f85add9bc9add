package routes

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/event"
)

// fastExprs have a fast form (fast.go); each is checked against CEL on
// every input of fastInputs.
var fastExprs = []string{
	// variables and selections
	`data`, `type`, `id`, `source`, `subject`, `key`, `topic`, `time`, `extensions`, `headers`,
	`data.a`, `data.n`, `data.b.c`, `data.b.c.d`, `data.user.id`, `data.user.x.y`, `data.flag`,
	// optional selections with a default
	`data.?a.orValue(null)`, `data.?a.orValue("dflt")`, `data.b.?c.orValue(1)`, `data.?b.?c.?d.orValue(false)`,
	`data.user.?x.?y.orValue("z")`, `data.?user.?id.orValue(0.5)`,
	// (in)equalities, strings and others, either way round
	`type == "t"`, `"t" == type`, `type != "t"`, `key == "k1"`, `topic == "in"`, `subject == ""`, `id != "e1"`,
	`data.a == "x"`, `"x" == data.a`, `data.a != "x"`, `data.a == 1`, `data.n == 1.0`, `data.n == 1`, `1u == data.n`,
	`data.a == null`, `null != data.b`, `data.flag == true`, `data.b == data.user`, `data.b.c == "y"`,
	`data.?a.orValue("x") == "x"`, `data.user.?flag.orValue(true) == true`,
	// logic
	`data.flag`, `!data.flag`, `data.flag && data.a == "x"`, `data.flag || data.n == 2.0`,
	`type == "t" && data.flag && data.b.c == "y"`, `type == "u" || data.a == "x" || data.flag`,
	`data.n == 1.0 ? data.a : data.b`, `data.region == "eu" ? "eu" : "default"`, `data.flag ? 1 : 2`,
	`!(data.a == "x") ? data.?b.?c.orValue(null) : type`,
}

// slowExprs have no fast form: CEL evaluates them.
var slowExprs = []string{
	`has(data.a)`, `data.a + "x"`, `data["a"]`, `data.?a`, `data.?a.orValue(data.b)`, `size(data)`,
	`data.n > 1.0`, `data.a.startsWith("x")`, `[data.a][0]`, `extensions.tenant`, `headers.h`,
	`int(data.n) == 1`, `data.b.c.?d.orValue(1) == 1 && has(data.b)`, `data.b == {"c": "y"}`,
}

// fastData are the data of fastInputs: missing members, nulls, numbers
// against strings, nested maps, lists, escapes, duplicates, and data that
// is not an object.
var fastData = []string{
	`{"a":"x","b":{"c":"y","d":[1,2]},"n":1,"flag":true,"user":{"id":"u1","x":{"y":"deep"},"flag":false},"region":"eu"}`,
	`{"a":"z","b":{"c":"w"},"n":2.5,"flag":false,"user":{"id":"","x":{}},"region":"us"}`,
	`{}`,
	`{"b":{},"user":{}}`,
	`{"a":null,"b":null,"n":null,"flag":null,"user":null,"region":null}`,
	`{"b":{"c":null,"d":null},"user":{"id":null,"x":null}}`,
	`{"a":1,"n":"1","flag":"true","b":{"c":1.0},"region":1,"user":{"id":7}}`,
	`{"a":1e400,"n":-0,"b":{"c":1e2}}`,
	`{"n":1.0,"a":"1"}`,
	`{"n":123456789012345,"a":-999999999999999,"b":{"c":1234567890123456},"user":{"id":9007199254740993}}`,
	`{"b":{"c":{"d":{"e":1}},"x":1},"user":{"x":{"y":{"z":1}}}}`,
	`{"a":["x"],"b":[{"c":1}],"user":[1,2],"flag":[true],"n":[]}`,
	`{"a":"\u0078","b":{"c":"a\"b","d":"\ud83d\ude00"},"user":{"id":"\/u"}}`,
	"{\"a\":\"\xff\",\"b\":{\"c\":\"caf\xc3\xa9\"}}",
	`{"a":"1","a":"x","b":{"c":"1"},"b":{"c":"y"}}`,
	`{"\u0061":"x","b":{"\u0063":"y"},"fl\u0061g":true}`,
	`{ "a" : "x" , "b" : { "c" : "y" } , "n" : 1 }`,
	`"str"`, `[1,2]`, `5`, `null`, `true`,
}

// fastInputs are the records the expressions are evaluated on: each data
// as a structured-mode and a binary-mode CloudEvent and as a plain record.
func fastInputs() []*event.Record {
	var out []*event.Record
	for i, d := range fastData {
		typ := []string{"t", "u"}[i%2]
		out = append(out,
			&event.Record{Topic: "in", Key: []byte("k1"), Headers: []event.Header{{Key: "h", Value: []byte("v")}},
				Value: []byte(`{"specversion":"1.0","id":"e1","source":"/s","type":"` + typ + `","subject":"s",` +
					`"time":"2025-01-02T03:04:05Z","tenant":"acme","data":` + d + `}`)},
			&event.Record{Topic: "in", Value: []byte(d), Headers: []event.Header{{Key: "ce_specversion", Value: []byte("1.0")},
				{Key: "ce_id", Value: []byte("e2")}, {Key: "ce_source", Value: []byte("/b")}, {Key: "ce_type", Value: []byte(typ)},
				{Key: "ce_tenant", Value: []byte("acme")}}},
			&event.Record{Topic: "in", Key: []byte("k2"), Partition: 1, Offset: int64(i), Value: []byte(d)},
		)
	}
	// Attributes with escapes, a time written otherwise than derived events
	// write it.
	out = append(out, &event.Record{Topic: "in", Value: []byte(`{"specversion":"1.0","id":"e\u0031","source":"\/s",` +
		`"type":"\u0074","subject":"s\"","time":"2025-01-02T03:04:05.500Z","data":` + fastData[0] + `}`)})
	return out
}

// compileOne compiles an expression as the routes file's fields are.
func compileOne(t testing.TB, src string) (*program, []pathNode) {
	t.Helper()
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	c := &compiler{file: "t.yaml", env: env}
	p := c.expr(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: src, Line: 1, Column: 1}, "test", "expr", exprAny)
	if p == nil {
		t.Fatalf("%s: %v", src, c.errs)
	}
	return p, c.paths.nodes
}

func newInput(t testing.TB, paths []pathNode, rec *event.Record) *input {
	t.Helper()
	in, err := new(input).forTable(paths).parse(rec)
	if err != nil {
		t.Fatalf("%q: %v", rec.Value, err)
	}
	return in
}

// sameValue reports whether two CEL values are the same: of one type,
// and written the same as JSON, or equal when they cannot be written.
func sameValue(a, b ref.Val) bool {
	if a.Type() != b.Type() {
		return false
	}
	ja, errA := appendJSON(nil, a)
	jb, errB := appendJSON(nil, b)
	if errA == nil && errB == nil {
		return string(ja) == string(jb)
	}
	return types.Equal(a, b) == types.True
}

// TestFastMatchesCEL checks that when the fast form of an expression
// answers, CEL gives the same value, and that it never answers where CEL
// fails; on a fresh event, and on one the other way has read already.
func TestFastMatchesCEL(t *testing.T) {
	inputs := fastInputs()
	for _, src := range fastExprs {
		p, paths := compileOne(t, src)
		if p.fast == nil {
			t.Errorf("%s: no fast form", src)
			continue
		}
		answered := 0
		for _, rec := range inputs {
			want, _, celErr := p.prg.Eval(newInput(t, paths, rec))
			check := func(order string, got ref.Val, ok bool) {
				t.Helper()
				switch {
				case !ok:
				case celErr != nil:
					t.Errorf("%s on %q (%s): fast %v, CEL fails: %v", src, rec.Value, order, got, celErr)
				case !sameValue(got, want):
					t.Errorf("%s on %q (%s): fast %v (%s), CEL %v (%s)", src, rec.Value, order, got, got.Type(), want, want.Type())
				}
			}
			got, ok := p.fast.eval(newInput(t, paths, rec))
			check("fresh", got, ok)
			if ok {
				answered++
			}
			// fast, then CEL, then fast again on one event
			in := newInput(t, paths, rec)
			got, ok = p.fast.eval(in)
			check("fast first", got, ok)
			again, _, err := p.prg.Eval(in)
			if (err == nil) != (celErr == nil) || (err == nil && !sameValue(again, want)) {
				t.Errorf("%s on %q: CEL after fast %v %v, alone %v %v", src, rec.Value, again, err, want, celErr)
			}
			got, ok = p.fast.eval(in)
			check("after CEL", got, ok)
		}
		if answered == 0 {
			t.Errorf("%s: the fast form never answered", src)
		}
	}
	for _, src := range slowExprs {
		if p, _ := compileOne(t, src); p.fast != nil {
			t.Errorf("%s: unexpected fast form", src)
		}
	}
}

// withoutFast returns p evaluated by CEL alone.
func withoutFast(p *program) *program {
	if p == nil {
		return nil
	}
	q := *p
	q.fast = nil
	return &q
}

// TestFastRawMatchesCEL checks the paths that copy members of the event as
// they were read: string fields (str) and body values (appendExpr), in an
// object, in an array and as the whole body.
func TestFastRawMatchesCEL(t *testing.T) {
	inputs := fastInputs()
	for _, src := range fastExprs {
		p, paths := compileOne(t, src)
		slow := withoutFast(p)
		for _, rec := range inputs {
			in, ref := newInput(t, paths, rec), newInput(t, paths, rec)
			s1, err1 := p.str(in)
			s2, err2 := slow.str(ref)
			if string(s1.appendTo(nil)) != string(s2.appendTo(nil)) || s1.empty() != s2.empty() || fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Errorf("%s on %q: str %q %v, CEL %q %v", src, rec.Value, s1.appendTo(nil), err1, s2.appendTo(nil), err2)
			}
			for _, ctx := range []struct{ top, member bool }{{false, true}, {false, false}, {true, false}} {
				b1, omit1, err1 := (&node{kind: exprNode, expr: p}).appendExpr([]byte("x"), in, ctx.top, ctx.member)
				b2, omit2, err2 := (&node{kind: exprNode, expr: slow}).appendExpr([]byte("x"), ref, ctx.top, ctx.member)
				if string(b1) != string(b2) || omit1 != omit2 || fmt.Sprint(err1) != fmt.Sprint(err2) {
					t.Errorf("%s on %q (top %v, member %v): %q %v %v, CEL %q %v %v", src, rec.Value, ctx.top, ctx.member,
						b1, omit1, err1, b2, omit2, err2)
				}
			}
		}
	}
}

// fastRoutes uses fast forms in every field.
const fastRoutes = `
routes:
  - name: r1
    topics: [in]
    when: type == "t" || data.kind == "k"
    emit:
      - type: braze.campaigns.trigger.send
        partition_key: data.user.id
        workspace: 'data.region == "eu" ? "eu" : "default"'
        body:
          campaign_id: '"c"'
          recipients:
            - external_user_id: data.user.id
              trigger_properties:
                a: data.a
                b: data.b.c
                opt: data.?o.orValue(null)
                opt2: data.user.?x.?y.orValue("dflt")
                n: data.n
                eq: data.a == "x"
                eqn: data.n == 1
                ne: data.n != 1
                not: '!data.flag'
                and: data.flag && data.a == "x"
                or: data.flag || data.n == 2.0
                id: id
                key: key
                whole: data.b
  - name: r2
    topics: [in]
    when: data.flag
    emit:
      - type: braze.sends.id.create
        schedule_key: data.a
        deliver_by: data.when
        body: data.b
  - name: r3
    topics: [in]
    emit:
      - type: braze.sends.id.create
        when: data.?flag.orValue(false) == true
        partition_key: subject
        workspace: data.?region.orValue(null)
        body:
          campaign_id: data.a
          list: [data.a, data.n, 'data.?z.orValue(null)', data.o]
          cond: 'data.n == 1.0 ? data.a : data.b'
          typ: type
          ext: extensions
          sz: 'has(data.b) ? 1 : 0'
  - name: r4
    topics: [in]
    when: data.user.id != "" && data.user.?flag.orValue(true) == true
    emit:
      - type: braze.sends.id.create
        partition_key: data.user.id
        schedule_key: data.b
        body:
          campaign_id: '"c"'
          u: data.user
          x: data.user.x
          y: data.user.x.y
`

// tablePair parses src twice: as loaded, and with every fast form removed.
func tablePair(t testing.TB, src string) (fast, slow *Table) {
	t.Helper()
	fast, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	slow, _ = Parse("t.yaml", []byte(src))
	var strip func(n *node)
	strip = func(n *node) {
		if n == nil {
			return
		}
		n.expr = withoutFast(n.expr)
		for _, f := range n.fields {
			strip(f.node)
		}
		for _, item := range n.items {
			strip(item)
		}
	}
	for _, r := range slow.routes {
		r.when = withoutFast(r.when)
		for _, op := range r.ops {
			op.when, op.workspace, op.partitionKey = withoutFast(op.when), withoutFast(op.workspace), withoutFast(op.partitionKey)
			op.scheduleKey, op.deliverBy = withoutFast(op.scheduleKey), withoutFast(op.deliverBy)
			strip(op.body)
		}
	}
	return fast, slow
}

// describe writes down everything a Result says.
func describe(res *Result) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "version %s format %s err %v matched %q\n", res.Version, res.Format, res.Err, res.Matched)
	for _, op := range res.Ops {
		fmt.Fprintf(&sb, "op %s/%s %s %s id %s source %s body %s\n  record %s/%d/%d key %q value %s err %v\n",
			op.Route, op.Key, op.Type, op.Endpoint, op.ID, op.Source, op.Body,
			op.Record.Topic, op.Record.Partition, op.Record.Offset, op.Record.Key, op.Record.Value, op.Err)
	}
	for _, f := range res.Failures {
		fmt.Fprintf(&sb, "failure %s %s %s %v\n", f.Route, f.Op, f.Type, f.Err)
	}
	return sb.String()
}

func compareTables(t testing.TB, fast, slow *Table, rec *event.Record) {
	t.Helper()
	for _, topic := range fast.Topics() {
		r := *rec
		r.Topic = topic
		if got, want := describe(fast.Route(&r, event.Limits{})), describe(slow.Route(&r, event.Limits{})); got != want {
			t.Fatalf("record %q (headers %v):\nwith fast forms:\n%s\nCEL alone:\n%s", r.Value, r.Headers, got, want)
		}
	}
}

// randomData makes data for fastRoutes: mostly of the expected shape, with
// members missing, of other types, duplicated or escaped now and then.
func randomData(r *rand.Rand) string {
	str := func() string {
		return []string{`"x"`, `"u1"`, `""`, `"eu"`, `"k"`, `"a\"b"`, `"é"`, "\"\xff\"", `"\u00e9"`, `"2025-01-02T03:04:05Z"`}[r.Intn(10)]
	}
	var any func(depth int) string
	any = func(depth int) string {
		switch k := r.Intn(9); {
		case k == 0:
			return "null"
		case k == 1:
			return []string{"true", "false"}[r.Intn(2)]
		case k == 2:
			return []string{"1", "1.0", "-0", "2", "1e400", "2.5e-3", "1e21"}[r.Intn(7)]
		case k <= 4 || depth > 2:
			return str()
		case k <= 6:
			return `{"c":` + any(depth+1) + `,"y":` + any(depth+1) + `,"id":` + any(depth+1) + `}`
		}
		return "[" + any(depth+1) + "," + any(depth+1) + "]"
	}
	pick := func(good string) string {
		if r.Intn(6) == 0 {
			return any(1)
		}
		return good
	}
	var ms []string
	add := func(k, v string) {
		if r.Intn(8) > 0 {
			ms = append(ms, `"`+k+`":`+v)
		}
	}
	add("a", pick(str()))
	add("n", pick([]string{"1", "2", "1.0", "2.5"}[r.Intn(4)]))
	add("b", pick(`{"c":`+pick(str())+`,"d":[1,2]}`))
	add("user", pick(`{"id":`+pick(str())+`,"x":`+pick(`{"y":`+pick(str())+`}`)+`,"flag":`+pick("true")+`}`))
	add("region", pick(str()))
	add("kind", pick(str()))
	add("flag", pick([]string{"true", "false"}[r.Intn(2)]))
	add("o", pick(str()))
	add("when", pick(`"2025-01-02T03:04:05Z"`))
	if r.Intn(10) == 0 {
		add("a", str())
	}
	if r.Intn(10) == 0 {
		add("\\u0061", str())
	}
	r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	if r.Intn(20) == 0 {
		return any(0)
	}
	return "{" + strings.Join(ms, ", ") + "}"
}

func randomRecord(r *rand.Rand) *event.Record {
	data := randomData(r)
	typ := []string{"t", "u"}[r.Intn(2)]
	rec := &event.Record{Topic: "in", Partition: r.Intn(3), Offset: int64(r.Intn(100)), Key: []byte("k" + strconv.Itoa(r.Intn(3)))}
	switch r.Intn(3) {
	case 0:
		rec.Value = []byte(data)
	case 1:
		t := []string{"", `,"time":"2025-01-02T03:04:05Z"`, `,"time":"2025-01-02T03:04:05.120Z"`, `,"time":"2025-01-02T03:04:05+01:00"`}[r.Intn(4)]
		rec.Value = []byte(`{"specversion":"1.0","id":"e` + strconv.Itoa(r.Intn(9)) + `","source":"/s","type":"` + typ + `"` + t +
			`,"subject":"s1","tenant":"acme","data":` + data + `}`)
	default:
		rec.Value = []byte(data)
		rec.Headers = []event.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("i")},
			{Key: "ce_source", Value: []byte("/b")}, {Key: "ce_type", Value: []byte(typ)}, {Key: "ce_time", Value: []byte("2025-01-02T03:04:05.5Z")}}
	}
	return rec
}

// TestFastTableMatchesCEL routes events through tables with and without
// their fast forms: the results must be the same in every detail.
func TestFastTableMatchesCEL(t *testing.T) {
	srcs := []string{fastRoutes, benchRoutes, fanOut}
	r := rand.New(rand.NewSource(1))
	n := 3000
	if testing.Short() {
		n = 300
	}
	for _, src := range srcs {
		fast, slow := tablePair(t, src)
		for _, rec := range fastInputs() {
			compareTables(t, fast, slow, rec)
		}
		for i := 0; i < n; i++ {
			compareTables(t, fast, slow, randomRecord(r))
		}
	}
}

// FuzzFastPath routes arbitrary values through fastRoutes with and without
// its fast forms.
func FuzzFastPath(f *testing.F) {
	fast, slow := tablePair(f, fastRoutes)
	for _, d := range fastData {
		f.Add([]byte(d), uint8(0))
		f.Add([]byte(d), uint8(1))
	}
	f.Add([]byte(benchEvent), uint8(0))
	f.Fuzz(func(t *testing.T, value []byte, mode uint8) {
		rec := &event.Record{Topic: "in", Value: value}
		if mode%2 == 1 {
			rec.Headers = []event.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("i")},
				{Key: "ce_source", Value: []byte("s")}, {Key: "ce_type", Value: []byte("t")}}
		}
		compareTables(t, fast, slow, rec)
	})
}

// objectsRoutes reads objects in lists (split when CEL reads them, not
// while validating), more objects than the input keeps in its storage, and
// the extensions view.
const objectsRoutes = `routes:
  - name: lazy
    topics: [in]
    emit:
      - type: braze.sends.id.create
        body:
          campaign_id: '"c"'
          skus: 'data.items.map(i, i.sku)'
          big: 'data.items.filter(i, i.q > 1).map(i, i.sku)'
          has: '"sku" in data.items[0]'
          get: 'data.items[1]["sku"]'
          size: 'data.items[0].size()'
          eq: 'data.items[0] == {"sku": "A", "q": 1.0}'
          ne: 'data.a1 == data.a2'
          same: 'data.a9 == data.a10'
          keys: 'data.a1.map(k, k)'
          many: '[data.a1.x, data.a2.x, data.a3.x, data.a4.x, data.a5.x, data.a6.x, data.a7.x, data.a8.x, data.a9.x, data.a10.x]'
          fast9: data.a9.x
          fast10: data.a10.x
          deep: data.a10.y.z
          obj: data.a10
          ext: extensions
          extn: 'extensions.size()'
          extk: 'extensions.map(k, k)'
          tenant: 'extensions.tenant'
          nested: 'extensions.nest.k'
          typ: 'type(data.a1) == map'
`

const objectsEvent = `{"specversion":"1.0","id":"e","source":"/s","type":"t","tenant":"acme","nest":{"k":"v"},"data":{` +
	`"items":[{"sku":"A","q":1},{"sku":"B","q":2,"extra":{"u":1}},{"sku":"C","q":3}],` +
	`"a1":{"x":1},"a2":{"x":2},"a3":{"x":3},"a4":{"x":4},"a5":{"x":5},"a6":{"x":6},"a7":{"x":7},"a8":{"x":8},` +
	`"a9":{"x":9,"y":{"z":"q"}},"a10":{"x":9,"y":{"z":"q"}}}}`

// TestObjects checks objects beyond the common paths, with and without
// fast forms.
func TestObjects(t *testing.T) {
	fast, slow := tablePair(t, objectsRoutes)
	rec := &event.Record{Topic: "in", Value: []byte(objectsEvent)}
	compareTables(t, fast, slow, rec)
	res := fast.Route(rec, event.Limits{})
	if len(res.Ops) != 1 || len(res.Failures) > 0 {
		t.Fatalf("ops %d, failures %+v", len(res.Ops), res.Failures)
	}
	want := `{"campaign_id":"c","skus":["A","B","C"],"big":["B","C"],"has":true,"get":"B","size":2,"eq":true,` +
		`"ne":false,"same":true,"keys":["x"],"many":[1,2,3,4,5,6,7,8,9,9],"fast9":9,"fast10":9,"deep":"q",` +
		`"obj":{"x":9,"y":{"z":"q"}},"ext":{"nest":{"k":"v"},"tenant":"acme"},"extn":2,"extk":["tenant","nest"],` +
		`"tenant":"acme","nested":"v","typ":true}`
	if got := string(res.Ops[0].Body); got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

// TestIntegersAreWrittenBack holds appendRaw's way with integers to what
// appendFloat writes for them.
func TestIntegersAreWrittenBack(t *testing.T) {
	nums := []string{"0", "-0", "1", "-1", "42", "999999999999999", "-999999999999999", "100000000000000",
		"1000000000000000", "9007199254740992", "9007199254740993", "-9007199254740993", "9007199254740995",
		"1772366400123456789", "-1772366400123456789", "9999999999999999999", "-9999999999999999999",
		"18446744073709551615", "12345678901234567890", "1.0", "1e2", "-1.5", "0.5"}
	for i := uint64(1); i < 1e18; i = i*7 + 3 {
		nums = append(nums, strconv.FormatUint(i, 10), "-"+strconv.FormatUint(i, 10), strconv.FormatUint(i|1<<53, 10))
	}
	for _, n := range nums {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			t.Fatal(err)
		}
		want, err := appendFloat(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendRaw(nil, []byte(n))
		if !ok || string(got) != string(want) {
			t.Errorf("%s: appendRaw %q %v, appendFloat %q", n, got, ok, want)
		}
		_, integer := appendInteger(nil, []byte(n))
		if want := len(strings.TrimPrefix(n, "-")) <= 19 && !strings.ContainsAny(n, ".e"); integer != want {
			t.Errorf("%s: appendInteger took it %v, want %v", n, integer, want)
		}
	}
}
