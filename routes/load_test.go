package routes

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestParseRejectsBadFiles checks that every kind of mistake is reported
// with the file, the line (and column when known) and the reason.
func TestParseRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    string // "file:line[:col]: " prefix plus a fragment of the reason
		wantMsg string
	}{
		{
			name: "undeclared variable",
			file: `routes:
  - name: r1
    topics: [t]
    when: dat.kind == "x"
    emit:
      - type: braze.campaigns.trigger.send
        body: {campaign_id: '"c"'}
`,
			want: "bad.yaml:4:11: ", wantMsg: "undeclared reference to 'dat'",
		},
		{
			name: "type error in a body field",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.campaigns.trigger.send
        body:
          campaign_id: '"c"'
          recipients:
            - external_user_id: id + 1
`,
			want: "bad.yaml:9:", wantMsg: "emit[0].body.recipients[0].external_user_id: found no matching overload for '_+_' applied to '(string, int)'",
		},
		{
			name: "condition that is not a bool",
			file: `routes:
  - name: r1
    topics: [t]
    when: type
    emit:
      - type: braze.campaigns.trigger.send
        body: {campaign_id: '"c"'}
`,
			want: "bad.yaml:4:11: ", wantMsg: "when: the expression produces string, want bool",
		},
		{
			name: "workspace that is not a string",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.campaigns.trigger.send
        workspace: 42
        body: {campaign_id: '"c"'}
`,
			want: "bad.yaml:6:20: ", wantMsg: "workspace: the expression produces int, want string",
		},
		{
			name: "syntax error in a block scalar",
			file: `routes:
  - name: r1
    topics: [t]
    when: |
      type == "a" &&
      data.x ==
    emit:
      - type: braze.campaigns.trigger.send
        body: {campaign_id: '"c"'}
`,
			want: "bad.yaml:7: ", wantMsg: "route \"r1\": when: Syntax error",
		},
		{
			name: "unknown Braze type",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.users.track
        body: {external_id: id}
`,
			want: "bad.yaml:5:15: ", wantMsg: `"braze.users.track" is not a Braze event type`,
		},
		{
			name: "unknown key",
			file: `routes:
  - name: r1
    topics: [t]
    emmit: []
`,
			want: "bad.yaml:4:5: ", wantMsg: `unknown key "emmit" in a route`,
		},
		{
			name: "duplicate route name",
			file: `routes:
  - name: r1
    topics: [t]
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"'}}]
  - name: r1
    topics: [t]
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"'}}]
`,
			want: "bad.yaml:5:5: ", wantMsg: `route name "r1" is used twice (first at line 2)`,
		},
		{
			name: "no topics",
			file: `routes:
  - name: r1
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"'}}]
`,
			want: "bad.yaml:2:5: ", wantMsg: "topics: at least one topic is required",
		},
		{
			name: "body is a list",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.sends.id.create
        body: ['"c"']
`,
			want: "bad.yaml:6:15: ", wantMsg: "body must be a mapping or an expression producing a map",
		},
		{
			name: "body expression that is not a map",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.sends.id.create
        body: data.items.size()
`,
			want: "bad.yaml:6:15: ", wantMsg: "the expression produces int, want map",
		},
		{
			name: "constant that fails at load",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.sends.id.create
        body:
          campaign_id: '"c"'
          send_id: 1 / 0
`,
			want: "bad.yaml:8:20: ", wantMsg: "division by zero",
		},
		{
			name: "YAML syntax",
			file: "routes:\n  - name: r1\n    topics: [t\n",
			want: "bad.yaml:", wantMsg: "YAML:",
		},
		{
			name: "empty file",
			file: "",
			want: "bad.yaml: ", wantMsg: "the file is empty",
		},
		{
			name: "numeric operation name",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - {type: braze.sends.id.create, name: "1", body: {campaign_id: '"c"'}}
`,
			want: "bad.yaml:5:45: ", wantMsg: "and not a number",
		},
		{
			name: "duplicate key",
			file: `routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.sends.id.create
        body:
          campaign_id: '"c"'
          campaign_id: '"d"'
`,
			want: "bad.yaml:8:11: ", wantMsg: `key "campaign_id" appears twice`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab, err := Parse("bad.yaml", []byte(tt.file))
			if err == nil {
				t.Fatalf("Parse accepted the file (version %s)", tab.Version)
			}
			var found bool
			for _, e := range unjoin(err) {
				var le *Error
				if !errors.As(e, &le) {
					t.Errorf("error %v is not a *routes.Error", e)
				}
				if strings.HasPrefix(e.Error(), tt.want) && strings.Contains(e.Error(), tt.wantMsg) {
					found = true
				}
			}
			if !found {
				t.Fatalf("error:\n%v\nwant a line starting %q containing %q", err, tt.want, tt.wantMsg)
			}
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// TestParseReportsEveryProblem checks that one load lists all the
// problems of a file, not only the first.
func TestParseReportsEveryProblem(t *testing.T) {
	file := `routes:
  - name: r1
    topics: [t]
    when: nope
    emit:
      - type: braze.campaigns.trigger.send
        body:
          campaign_id: also_nope
`
	_, err := Parse("f.yaml", []byte(file))
	if err == nil {
		t.Fatal("Parse accepted the file")
	}
	msg := err.Error()
	for _, want := range []string{"f.yaml:4:11: route \"r1\": when: undeclared reference to 'nope'",
		"f.yaml:8:24: route \"r1\": emit[0].body.campaign_id: undeclared reference to 'also_nope'"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error:\n%s\nlacks %q", msg, want)
		}
	}
}

// TestExampleRoutesLoad keeps configs/routes.yaml loadable.
func TestExampleRoutesLoad(t *testing.T) {
	tab, err := Load("../configs/routes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"order-shipped", "welcome-journey", "appointment-reminder", "appointment-reminder-cancel"}
	if got := tab.Routes(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("routes %v, want %v", got, want)
	}
	b, err := os.ReadFile("../configs/routes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("x", b)
	if err != nil || again.Version != tab.Version {
		t.Errorf("the version is not a function of the content: %s vs %s (%v)", again.Version, tab.Version, err)
	}
}

// TestConstantsAreFoldedAtLoad checks that parts of a body that read
// nothing from the event are written once, at load.
func TestConstantsAreFoldedAtLoad(t *testing.T) {
	tab, err := Parse("c.yaml", []byte(`routes:
  - name: r1
    topics: [t]
    emit:
      - type: braze.campaigns.trigger.send
        body:
          campaign_id: '"c" + "-1"'
          trigger_properties: {a: 1, b: [true, null, 2.5], c: ~}
          recipients:
            - external_user_id: data.user
`))
	if err != nil {
		t.Fatal(err)
	}
	body := tab.routes[0].ops[0].body
	if body.constJSON != nil {
		t.Fatal("the body reads data, yet it was folded")
	}
	got := map[string]string{}
	for _, f := range body.fields {
		got[string(f.prefix)] = string(f.node.constJSON)
	}
	if got[`"campaign_id":`] != `"c-1"` || got[`"trigger_properties":`] != `{"a":1,"b":[true,null,2.5]}` {
		t.Errorf("folded fields: %v", got)
	}
	if got[`"recipients":`] != "" {
		t.Errorf("recipients folded to %s", got[`"recipients":`])
	}
}
