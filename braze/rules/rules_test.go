package rules

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// checkCase is one Check expectation. An empty label means the body is valid.
type checkCase struct {
	name  string
	path  string
	body  string
	opts  Options
	label string
	field string // compared only when set
}

func runCheckCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.path, []byte(tc.body), tc.opts)
			if tc.label == "" {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil\nbody: %s", tc.path, err, tc.body)
				}
				return
			}
			var v *Violation
			if !errors.As(err, &v) {
				t.Fatalf("Check(%s) = %v (%T), want *Violation %q\nbody: %s", tc.path, err, err, tc.label, tc.body)
			}
			if v.Label != tc.label {
				t.Fatalf("Check(%s) label = %q (%v), want %q\nbody: %s", tc.path, v.Label, v, tc.label, tc.body)
			}
			if tc.field != "" && v.Field != tc.field {
				t.Fatalf("Check(%s) field = %q (%v), want %q", tc.path, v.Field, v, tc.field)
			}
		})
	}
}

func TestCheckValidExamples(t *testing.T) {
	var cases []checkCase
	for path, body := range validBodies() {
		cases = append(cases, checkCase{name: path, path: path, body: body})
	}
	runCheckCases(t, cases)
	if got, want := len(validBodies()), len(Endpoints()); got != want {
		t.Fatalf("validBodies has %d endpoints, Endpoints() %d", got, want)
	}
}

func TestCheckBody(t *testing.T) {
	var cases []checkCase
	for _, path := range Endpoints() {
		for _, b := range []struct{ name, body string }{
			{"empty", ""},
			{"syntax", `{"campaign_id": "c1",}`},
			{"single quotes", `{'campaign_id': 'c1'}`},
			{"array", `[{"campaign_id": "c1"}]`},
			{"null", `null`},
			{"string", `"hello"`},
			{"trailing garbage", `{"campaign_id": "c1"} {}`},
		} {
			cases = append(cases, checkCase{name: path + "/" + b.name, path: path, body: b.body, label: LabelBadRequest})
		}
	}
	cases = append(cases,
		checkCase{name: "unknown path", path: "/users/track", body: `{}`, label: LabelUnknownEndpoint},
		checkCase{name: "trailing slash", path: "/messages/send/", body: bodyMessagesSend, label: LabelUnknownEndpoint},
		checkCase{name: "GET endpoint has no body", path: PathScheduledBroadcasts, body: `{}`, label: LabelUnknownEndpoint},
	)
	runCheckCases(t, cases)
}

// TestCheckRequired removes each required field of each endpoint (§5 rule 5).
func TestCheckRequired(t *testing.T) {
	type req struct {
		path, base string
		fields     []string
	}
	reqs := []req{
		{PathMessagesScheduleCreate, bodyScheduleCreate, []string{"schedule", "schedule.time"}},
		{PathMessagesScheduleUpdate, bodyScheduleUpdate, []string{"schedule_id", "schedule.time"}},
		{PathMessagesScheduleDelete, bodyScheduleDelete, []string{"schedule_id"}},
		{PathCampaignsTriggerSend, bodyCampaignTrigger, []string{"campaign_id"}},
		{PathCampaignsScheduleCreate, bodyCampaignScheduleCreate, []string{"campaign_id", "schedule", "schedule.time"}},
		{PathCampaignsScheduleUpdate, bodyCampaignScheduleUpdate, []string{"campaign_id", "schedule_id", "schedule", "schedule.time"}},
		{PathCampaignsScheduleDelete, bodyCampaignScheduleDelete, []string{"campaign_id", "schedule_id"}},
		{PathCanvasTriggerSend, bodyCanvasTrigger, []string{"canvas_id"}},
		{PathCanvasScheduleCreate, bodyCanvasScheduleCreate, []string{"canvas_id", "schedule", "schedule.time"}},
		{PathCanvasScheduleUpdate, bodyCanvasScheduleUpdate, []string{"canvas_id", "schedule_id", "schedule", "schedule.time"}},
		{PathCanvasScheduleDelete, bodyCanvasScheduleDelete, []string{"canvas_id", "schedule_id"}},
		{PathSendsIDCreate, bodySendsIDCreate, []string{"campaign_id"}},
		{PathCampaignsDuplicate, bodyCampaignsDuplicate, []string{"campaign_id", "name"}},
		{PathCanvasDuplicate, bodyCanvasDuplicate, []string{"canvas_id", "name"}},
		{PathLiveActivityStart, bodyLiveActivityStart, []string{"app_id", "activity_id", "activity_attributes_type",
			"activity_attributes", "content_state", "notification"}},
		{PathLiveActivityUpdate, bodyLiveActivityUpdate, []string{"app_id", "activity_id", "content_state"}},
	}
	var cases []checkCase
	for _, r := range reqs {
		for _, f := range r.fields {
			cases = append(cases,
				checkCase{name: r.path + "/absent " + f, path: r.path, body: edit(t, r.base, f, "-"),
					label: LabelMissingField, field: f},
				checkCase{name: r.path + "/null " + f, path: r.path, body: edit(t, r.base, f, "null"),
					label: LabelMissingField, field: f},
			)
			switch f {
			case "schedule", "activity_attributes", "content_state", "notification":
				cases = append(cases, checkCase{name: r.path + "/array " + f, path: r.path,
					body: edit(t, r.base, f, `[]`), label: LabelInvalidValue, field: f})
			default:
				cases = append(cases, checkCase{name: r.path + "/empty " + f, path: r.path,
					body: edit(t, r.base, f, `""`), label: LabelMissingField, field: f})
			}
		}
	}
	runCheckCases(t, cases)
}

func TestCheckScheduleIDOption(t *testing.T) {
	lenient := Options{AllowMissingScheduleID: true}
	var cases []checkCase
	for path, body := range map[string]string{
		PathMessagesScheduleUpdate:  bodyScheduleUpdate,
		PathMessagesScheduleDelete:  bodyScheduleDelete,
		PathCampaignsScheduleUpdate: bodyCampaignScheduleUpdate,
		PathCampaignsScheduleDelete: bodyCampaignScheduleDelete,
		PathCanvasScheduleUpdate:    bodyCanvasScheduleUpdate,
		PathCanvasScheduleDelete:    bodyCanvasScheduleDelete,
	} {
		cases = append(cases,
			checkCase{name: path + "/strict", path: path, body: edit(t, body, "schedule_id", "-"),
				label: LabelMissingField, field: "schedule_id"},
			checkCase{name: path + "/lenient", path: path, body: edit(t, body, "schedule_id", "-"), opts: lenient},
			checkCase{name: path + "/lenient still typed", path: path, body: edit(t, body, "schedule_id", "7"),
				opts: lenient, label: LabelInvalidValue, field: "schedule_id"},
		)
	}
	runCheckCases(t, cases)
}

// TestCheckTargeting covers §5 rules 7–10, 12 and 15.
func TestCheckTargeting(t *testing.T) {
	lenient := Options{AllowAudienceWithoutBroadcast: true}
	aud := `{"custom_attribute": {"custom_attribute_name": "tier", "comparison": "equals", "value": "gold"}}`
	noUsers := func(base string) string {
		return edit(t, base, "external_user_ids", "-", "user_aliases", "-", "segment_id", "-", "broadcast", "-")
	}
	var cases []checkCase
	for _, p := range []struct{ path, base string }{
		{PathMessagesSend, bodyMessagesSend},
		{PathMessagesScheduleCreate, edit(t, bodyScheduleCreate, "segment_id", "-", "broadcast", "-",
			"external_user_ids", `["u1"]`)},
	} {
		cases = append(cases,
			checkCase{name: p.path + "/users", path: p.path, body: p.base},
			checkCase{name: p.path + "/aliases only", path: p.path,
				body: edit(t, p.base, "external_user_ids", "-", "user_aliases", aliasesJSON(2))},
			checkCase{name: p.path + "/no recipients", path: p.path, body: noUsers(p.base), label: LabelNoRecipients},
			checkCase{name: p.path + "/empty lists", path: p.path,
				body: edit(t, noUsers(p.base), "external_user_ids", `[]`, "user_aliases", `[]`), label: LabelNoRecipients},
			checkCase{name: p.path + "/empty segment", path: p.path,
				body: edit(t, noUsers(p.base), "segment_id", `""`, "broadcast", "true"), label: LabelNoRecipients},
			checkCase{name: p.path + "/segment broadcast", path: p.path,
				body: edit(t, noUsers(p.base), "segment_id", `"s1"`, "broadcast", "true")},
			checkCase{name: p.path + "/segment without broadcast", path: p.path,
				body: edit(t, noUsers(p.base), "segment_id", `"s1"`), label: LabelBroadcastRequired, field: "broadcast"},
			checkCase{name: p.path + "/segment broadcast false", path: p.path,
				body: edit(t, noUsers(p.base), "segment_id", `"s1"`, "broadcast", "false"), label: LabelBroadcastRequired},
			checkCase{name: p.path + "/segment broadcast false lenient", path: p.path, opts: lenient,
				body: edit(t, noUsers(p.base), "segment_id", `"s1"`, "broadcast", "false"), label: LabelBroadcastRequired},
			checkCase{name: p.path + "/audience broadcast", path: p.path,
				body: edit(t, noUsers(p.base), "audience", aud, "broadcast", "true")},
			checkCase{name: p.path + "/audience without broadcast", path: p.path,
				body: edit(t, noUsers(p.base), "audience", aud), label: LabelBroadcastRequired},
			checkCase{name: p.path + "/audience without broadcast lenient", path: p.path, opts: lenient,
				body: edit(t, noUsers(p.base), "audience", aud, "broadcast", "false")},
			checkCase{name: p.path + "/users with broadcast", path: p.path,
				body: edit(t, p.base, "broadcast", "true"), label: LabelBroadcastWithRecipients, field: "broadcast"},
			checkCase{name: p.path + "/users and segment intersect", path: p.path,
				body: edit(t, p.base, "segment_id", `"s1"`)},
			checkCase{name: p.path + "/broadcast not boolean", path: p.path,
				body:  edit(t, noUsers(p.base), "segment_id", `"s1"`, "broadcast", `"true"`),
				label: LabelInvalidValue, field: "broadcast"},
			checkCase{name: p.path + "/50 ids", path: p.path,
				body: edit(t, p.base, "external_user_ids", idsJSON(50))},
			checkCase{name: p.path + "/51 ids", path: p.path,
				body: edit(t, p.base, "external_user_ids", idsJSON(51)), label: LabelTooManyRecipients},
			checkCase{name: p.path + "/30 ids 21 aliases", path: p.path,
				body:  edit(t, p.base, "external_user_ids", idsJSON(30), "user_aliases", aliasesJSON(21)),
				label: LabelTooManyRecipients},
			checkCase{name: p.path + "/id not string", path: p.path,
				body: edit(t, p.base, "external_user_ids", `["u1", 2]`), label: LabelInvalidValue,
				field: "external_user_ids[1]"},
			checkCase{name: p.path + "/ids not array", path: p.path,
				body: edit(t, p.base, "external_user_ids", `"u1"`), label: LabelInvalidValue, field: "external_user_ids"},
			checkCase{name: p.path + "/empty id", path: p.path,
				body: edit(t, p.base, "external_user_ids", `["u1", ""]`), label: LabelInvalidValue},
			checkCase{name: p.path + "/segment not string", path: p.path,
				body: edit(t, noUsers(p.base), "segment_id", `["s1"]`, "broadcast", "true"), label: LabelInvalidValue,
				field: "segment_id"},
		)
	}
	for _, p := range []struct{ path, base string }{
		{PathCampaignsTriggerSend, bodyCampaignTrigger},
		{PathCanvasTriggerSend, bodyCanvasTrigger},
		{PathCampaignsScheduleCreate, edit(t, bodyCampaignScheduleCreate, "broadcast", "-",
			"recipients", `[{"external_user_id":"u1"}]`)},
		{PathCanvasScheduleCreate, bodyCanvasScheduleCreate},
	} {
		noRec := edit(t, p.base, "recipients", "-", "broadcast", "-")
		cases = append(cases,
			checkCase{name: p.path + "/recipients", path: p.path, body: p.base},
			checkCase{name: p.path + "/no recipients", path: p.path, body: noRec, label: LabelNoRecipients},
			checkCase{name: p.path + "/empty recipients", path: p.path, body: edit(t, noRec, "recipients", `[]`),
				label: LabelNoRecipients},
			checkCase{name: p.path + "/broadcast", path: p.path, body: edit(t, noRec, "broadcast", "true")},
			checkCase{name: p.path + "/broadcast false", path: p.path, body: edit(t, noRec, "broadcast", "false"),
				label: LabelNoRecipients},
			checkCase{name: p.path + "/broadcast audience", path: p.path,
				body: edit(t, noRec, "broadcast", "true", "audience", aud)},
			checkCase{name: p.path + "/audience without broadcast", path: p.path,
				body: edit(t, noRec, "broadcast", "false", "audience", aud), label: LabelBroadcastRequired},
			checkCase{name: p.path + "/audience without broadcast lenient", path: p.path, opts: lenient,
				body: edit(t, noRec, "broadcast", "false", "audience", aud)},
			checkCase{name: p.path + "/recipients with broadcast", path: p.path,
				body: edit(t, p.base, "broadcast", "true"), label: LabelBroadcastWithRecipients},
			checkCase{name: p.path + "/recipients with broadcast false", path: p.path,
				body: edit(t, p.base, "broadcast", "false")},
			checkCase{name: p.path + "/50 recipients", path: p.path,
				body: edit(t, p.base, "recipients", recipientsJSON(50, false))},
			checkCase{name: p.path + "/51 recipients", path: p.path,
				body: edit(t, p.base, "recipients", recipientsJSON(51, false)), label: LabelTooManyRecipients,
				field: "recipients"},
			checkCase{name: p.path + "/recipients not array", path: p.path,
				body: edit(t, p.base, "recipients", `{"external_user_id":"u1"}`), label: LabelInvalidValue,
				field: "recipients"},
			checkCase{name: p.path + "/recipient not object", path: p.path,
				body: edit(t, p.base, "recipients", `["u1"]`), label: LabelInvalidValue},
		)
	}
	// Rule 12: segment_id is not a field of the trigger sends.
	cases = append(cases,
		checkCase{name: "campaign trigger segment_id", path: PathCampaignsTriggerSend,
			body: edit(t, bodyCampaignTrigger, "segment_id", `"s1"`), label: LabelUnsupportedField, field: "segment_id"},
		checkCase{name: "canvas trigger segment_id", path: PathCanvasTriggerSend,
			body: edit(t, bodyCanvasTrigger, "segment_id", `"s1"`), label: LabelUnsupportedField, field: "segment_id"},
		checkCase{name: "canvas trigger segment_id lenient canvas", path: PathCanvasTriggerSend,
			opts: Options{AllowCampaignFieldsOnCanvas: true},
			body: edit(t, bodyCanvasTrigger, "segment_id", `"s1"`), label: LabelUnsupportedField},
	)
	runCheckCases(t, cases)
}

// TestCheckRecipientObjects covers §5 rules 11, 16 and 19 on every endpoint
// with recipients.
func TestCheckRecipientObjects(t *testing.T) {
	var cases []checkCase
	for _, p := range []struct {
		path, base string
		canvas     bool
	}{
		{PathCampaignsTriggerSend, bodyCampaignTrigger, false},
		{PathCampaignsScheduleCreate, edit(t, bodyCampaignScheduleCreate, "broadcast", "-",
			"recipients", `[{"external_user_id":"u1"}]`), false},
		{PathCanvasTriggerSend, bodyCanvasTrigger, true},
		{PathCanvasScheduleCreate, bodyCanvasScheduleCreate, true},
	} {
		one := func(r string) string { return edit(t, p.base, "recipients", "["+r+"]") }
		props, other := "trigger_properties", "context"
		if p.canvas {
			props, other = "context", "trigger_properties"
		}
		cases = append(cases,
			checkCase{name: p.path + "/external id", path: p.path, body: one(`{"external_user_id":"u1"}`)},
			checkCase{name: p.path + "/alias", path: p.path,
				body: one(`{"user_alias":{"alias_name":"n","alias_label":"l"}}`)},
			checkCase{name: p.path + "/braze id", path: p.path, body: one(`{"braze_id":"5f1c"}`)},
			checkCase{name: p.path + "/email", path: p.path,
				body: one(`{"email":"a@example.com","prioritization":["unidentified","most_recently_updated"]}`)},
			checkCase{name: p.path + "/no identifier", path: p.path, body: one(`{"attributes":{"x":1}}`),
				label: LabelInvalidRecipient, field: "recipients[0]"},
			checkCase{name: p.path + "/two identifiers", path: p.path,
				body:  one(`{"external_user_id":"u1","user_alias":{"alias_name":"n","alias_label":"l"}}`),
				label: LabelInvalidRecipient},
			checkCase{name: p.path + "/email and id", path: p.path,
				body:  one(`{"external_user_id":"u1","email":"a@example.com","prioritization":["identified"]}`),
				label: LabelInvalidRecipient},
			checkCase{name: p.path + "/null recipient", path: p.path, body: one(`null`), label: LabelInvalidRecipient},
			checkCase{name: p.path + "/empty id", path: p.path, body: one(`{"external_user_id":""}`),
				label: LabelMissingField, field: "recipients[0].external_user_id"},
			checkCase{name: p.path + "/id not string", path: p.path, body: one(`{"external_user_id":42}`),
				label: LabelInvalidValue, field: "recipients[0].external_user_id"},
			checkCase{name: p.path + "/email without prioritization", path: p.path,
				body: one(`{"email":"a@example.com"}`), label: LabelInvalidRecipient,
				field: "recipients[0].prioritization"},
			checkCase{name: p.path + "/email empty prioritization", path: p.path,
				body: one(`{"email":"a@example.com","prioritization":[]}`), label: LabelInvalidRecipient},
			checkCase{name: p.path + "/email unknown prioritization", path: p.path,
				body: one(`{"email":"a@example.com","prioritization":["newest"]}`), label: LabelInvalidValue,
				field: "recipients[0].prioritization[0]"},
			checkCase{name: p.path + "/email identified and unidentified", path: p.path,
				body:  one(`{"email":"a@example.com","prioritization":["identified","unidentified"]}`),
				label: LabelInvalidRecipient},
			checkCase{name: p.path + "/alias missing label", path: p.path,
				body: one(`{"user_alias":{"alias_name":"n"}}`), label: LabelInvalidUserAlias,
				field: "recipients[0].user_alias.alias_label"},
			checkCase{name: p.path + "/alias empty name", path: p.path,
				body: one(`{"user_alias":{"alias_name":"","alias_label":"l"}}`), label: LabelInvalidUserAlias},
			checkCase{name: p.path + "/alias 236 bytes", path: p.path,
				body: one(`{"user_alias":{"alias_name":"` + strings.Repeat("é", 118) + `","alias_label":"l"}}`)},
			checkCase{name: p.path + "/alias 237 bytes", path: p.path,
				body:  one(`{"user_alias":{"alias_name":"` + strings.Repeat("é", 118) + `x","alias_label":"l"}}`),
				label: LabelInvalidUserAlias, field: "recipients[0].user_alias.alias_name"},
			checkCase{name: p.path + "/alias not object", path: p.path, body: one(`{"user_alias":"n"}`),
				label: LabelInvalidValue, field: "recipients[0].user_alias"},
			checkCase{name: p.path + "/alias send_to_existing_only false", path: p.path,
				body:  one(`{"user_alias":{"alias_name":"n","alias_label":"l"},"send_to_existing_only":false}`),
				label: LabelInvalidRecipient, field: "recipients[0].send_to_existing_only"},
			checkCase{name: p.path + "/alias send_to_existing_only true", path: p.path,
				body: one(`{"user_alias":{"alias_name":"n","alias_label":"l"},"send_to_existing_only":true}`)},
			checkCase{name: p.path + "/id send_to_existing_only false", path: p.path,
				body: one(`{"external_user_id":"u1","send_to_existing_only":false,"attributes":{"first_name":"A"}}`)},
			checkCase{name: p.path + "/send_to_existing_only not bool", path: p.path,
				body: one(`{"external_user_id":"u1","send_to_existing_only":"no"}`), label: LabelInvalidValue},
			checkCase{name: p.path + "/attributes not object", path: p.path,
				body: one(`{"external_user_id":"u1","attributes":[1]}`), label: LabelInvalidValue,
				field: "recipients[0].attributes"},
			checkCase{name: p.path + "/recipient " + props + " 50 KB", path: p.path,
				body: one(`{"external_user_id":"u1","` + props + `":` + bigObject(MaxPropertiesBytes) + `}`)},
			checkCase{name: p.path + "/recipient " + props + " over 50 KB", path: p.path,
				body:  one(`{"external_user_id":"u1","` + props + `":` + bigObject(MaxPropertiesBytes+1) + `}`),
				label: LabelPayloadTooLarge, field: "recipients[0]." + props},
			checkCase{name: p.path + "/recipient " + props + " not object", path: p.path,
				body: one(`{"external_user_id":"u1","` + props + `":"x"}`), label: LabelInvalidValue,
				field: "recipients[0]." + props},
			checkCase{name: p.path + "/second recipient bad", path: p.path,
				body: edit(t, p.base, "recipients", `[{"external_user_id":"u1"},{}]`), label: LabelInvalidRecipient,
				field: "recipients[1]"},
			checkCase{name: p.path + "/top " + props + " 50 KB", path: p.path,
				body: edit(t, p.base, props, bigObject(MaxPropertiesBytes))},
			checkCase{name: p.path + "/top " + props + " over 50 KB", path: p.path,
				body: edit(t, p.base, props, bigObject(MaxPropertiesBytes+1)), label: LabelPayloadTooLarge,
				field: props},
			checkCase{name: p.path + "/top " + props + " not object", path: p.path,
				body: edit(t, p.base, props, `["a"]`), label: LabelInvalidValue, field: props},
		)
		if p.canvas {
			cases = append(cases,
				checkCase{name: p.path + "/legacy canvas_entry_properties", path: p.path,
					body: edit(t, p.base, "context", "-", "canvas_entry_properties", `{"plan":"pro"}`)},
				checkCase{name: p.path + "/canvas_entry_properties over 50 KB", path: p.path,
					body:  edit(t, p.base, "canvas_entry_properties", bigObject(MaxPropertiesBytes+1)),
					label: LabelPayloadTooLarge, field: "canvas_entry_properties"},
				checkCase{name: p.path + "/recipient trigger_properties", path: p.path,
					body: one(`{"external_user_id":"u1","trigger_properties":{"a":1}}`), label: LabelUnsupportedField,
					field: "recipients[0].trigger_properties"},
				checkCase{name: p.path + "/recipient trigger_properties lenient", path: p.path,
					opts: Options{AllowCampaignFieldsOnCanvas: true},
					body: one(`{"external_user_id":"u1","trigger_properties":{"a":1}}`)},
			)
		} else {
			// A Canvas context on a campaign recipient is not a campaign field
			// and is left to Braze.
			cases = append(cases, checkCase{name: p.path + "/recipient " + other + " ignored", path: p.path,
				body: one(`{"external_user_id":"u1","` + other + `":"not checked"}`)})
		}
	}
	// Whitespace does not count toward the 50 KB: Braze measures the
	// serialized object.
	padded := `{"k":"` + strings.Repeat("x", MaxPropertiesBytes-8) + `"` + strings.Repeat(" ", 100) + `}`
	cases = append(cases, checkCase{name: "whitespace not counted", path: PathCampaignsTriggerSend,
		body: edit(t, bodyCampaignTrigger, "trigger_properties", "-")[:1] +
			`"trigger_properties":` + padded + "," + edit(t, bodyCampaignTrigger, "trigger_properties", "-")[1:]})
	runCheckCases(t, cases)
}

// TestCheckCanvasCampaignFields covers §5 rule 14.
func TestCheckCanvasCampaignFields(t *testing.T) {
	lenient := Options{AllowCampaignFieldsOnCanvas: true}
	var cases []checkCase
	for _, p := range []struct{ path, base string }{
		{PathCanvasTriggerSend, bodyCanvasTrigger},
		{PathCanvasScheduleCreate, bodyCanvasScheduleCreate},
	} {
		for _, f := range []struct{ key, val string }{
			{"send_id", `"s-1"`},
			{"trigger_properties", `{"a":1}`},
			{"attachments", `[{"file_name":"a","url":"https://x/a.pdf"}]`},
		} {
			cases = append(cases,
				checkCase{name: p.path + "/" + f.key, path: p.path, body: edit(t, p.base, f.key, f.val),
					label: LabelUnsupportedField, field: f.key},
				checkCase{name: p.path + "/" + f.key + " lenient", path: p.path, body: edit(t, p.base, f.key, f.val),
					opts: lenient},
			)
		}
	}
	runCheckCases(t, cases)
}

// TestCheckSendID covers §5 rule 17 on every endpoint with send_id.
func TestCheckSendID(t *testing.T) {
	long := strings.Repeat("a", 64)
	var cases []checkCase
	for _, p := range []struct{ path, base string }{
		{PathMessagesSend, bodyMessagesSend},
		{PathMessagesScheduleCreate, edit(t, bodyScheduleCreate, "campaign_id", `"c1"`,
			"messages.email.message_variation_id", `"v1"`)},
		{PathCampaignsTriggerSend, bodyCampaignTrigger},
		{PathCampaignsScheduleCreate, bodyCampaignScheduleCreate},
		{PathSendsIDCreate, bodySendsIDCreate},
	} {
		cases = append(cases,
			checkCase{name: p.path + "/64 chars", path: p.path, body: edit(t, p.base, "send_id", `"`+long+`"`)},
			checkCase{name: p.path + "/65 chars", path: p.path, body: edit(t, p.base, "send_id", `"`+long+`b"`),
				label: LabelInvalidSendID, field: "send_id"},
			checkCase{name: p.path + "/non-ASCII", path: p.path, body: edit(t, p.base, "send_id", `"wk-ü"`),
				label: LabelInvalidSendID},
			checkCase{name: p.path + "/not string", path: p.path, body: edit(t, p.base, "send_id", `14`),
				label: LabelInvalidValue, field: "send_id"},
		)
	}
	cases = append(cases,
		checkCase{name: "messages/send without campaign", path: PathMessagesSend,
			body: edit(t, bodyMessagesSendSegment, "send_id", `"s-1"`), label: LabelSendIDRequiresCampaignID},
		checkCase{name: "schedule/create without campaign", path: PathMessagesScheduleCreate,
			body: edit(t, bodyScheduleCreate, "send_id", `"s-1"`), label: LabelSendIDRequiresCampaignID},
		checkCase{name: "messages/send empty campaign", path: PathMessagesSend,
			body:  edit(t, bodyMessagesSendSegment, "send_id", `"s-1"`, "campaign_id", `""`),
			label: LabelSendIDRequiresCampaignID},
		checkCase{name: "sends/id/create without send_id", path: PathSendsIDCreate,
			body: edit(t, bodySendsIDCreate, "send_id", "-")},
	)
	runCheckCases(t, cases)
}

// TestCheckMessages covers §5 rules 20–25 and 29 and §4.7.
func TestCheckMessages(t *testing.T) {
	var cases []checkCase
	// Rules 20 and 21 on both inline-content endpoints.
	for _, p := range []struct{ path, base string }{
		{PathMessagesSend, bodyMessagesSend},
		{PathMessagesScheduleCreate, edit(t, bodyScheduleCreate, "campaign_id", `"c1"`,
			"messages.email.message_variation_id", `"email-1"`)},
	} {
		cases = append(cases,
			checkCase{name: p.path + "/no messages", path: p.path, body: edit(t, p.base, "messages", "-"),
				label: LabelNoMessage},
			checkCase{name: p.path + "/null messages", path: p.path, body: edit(t, p.base, "messages", "null"),
				label: LabelNoMessage},
			checkCase{name: p.path + "/empty messages", path: p.path, body: edit(t, p.base, "messages", "{}"),
				label: LabelNoMessage},
			checkCase{name: p.path + "/only null channels", path: p.path,
				body: edit(t, p.base, "messages", `{"email":null}`), label: LabelNoMessage},
			checkCase{name: p.path + "/messages not object", path: p.path,
				body: edit(t, p.base, "messages", `[]`), label: LabelInvalidValue, field: "messages"},
			checkCase{name: p.path + "/channel not object", path: p.path,
				body: edit(t, p.base, "messages", `{"email":"hi"}`), label: LabelInvalidValue, field: "messages.email"},
			checkCase{name: p.path + "/variant missing", path: p.path,
				body:  edit(t, p.base, "messages", `{"webhook":{"url":"https://x","request_method":"POST"}}`),
				label: LabelMessageVariantUnspecified, field: "messages.webhook.message_variation_id"},
			checkCase{name: p.path + "/variant empty", path: p.path,
				body: edit(t, p.base, "messages",
					`{"webhook":{"url":"https://x","request_method":"POST","message_variation_id":""}}`),
				label: LabelMessageVariantUnspecified},
			checkCase{name: p.path + "/variant not string", path: p.path,
				body: edit(t, p.base, "messages",
					`{"webhook":{"url":"https://x","request_method":"POST","message_variation_id":7}}`),
				label: LabelInvalidValue},
			checkCase{name: p.path + "/variant given", path: p.path,
				body: edit(t, p.base, "messages",
					`{"webhook":{"url":"https://x","request_method":"POST","message_variation_id":"wh-1"}}`)},
			checkCase{name: p.path + "/no campaign no variant", path: p.path,
				body: edit(t, p.base, "campaign_id", "-", "messages",
					`{"webhook":{"url":"https://x","request_method":"POST"}}`)},
			checkCase{name: p.path + "/legacy channel passes", path: p.path,
				body: edit(t, p.base, "messages", `{"windows_phone8_push":{"alert":"x","message_variation_id":"w"}}`)},
			checkCase{name: p.path + "/unknown key passes", path: p.path,
				body: edit(t, p.base, "campaign_id", "-", "messages", `{"future_channel":{"x":1}}`)},
			checkCase{name: p.path + "/subscription state all", path: p.path,
				body: edit(t, p.base, "recipient_subscription_state", `"all"`)},
			checkCase{name: p.path + "/subscription state unknown", path: p.path,
				body: edit(t, p.base, "recipient_subscription_state", `"everyone"`), label: LabelInvalidValue,
				field: "recipient_subscription_state"},
		)
	}
	cases = append(cases,
		checkCase{name: "override_frequency_capping bool", path: PathMessagesSend,
			body: edit(t, bodyMessagesSend, "override_frequency_capping", "true")},
		checkCase{name: "override_frequency_capping not bool", path: PathMessagesSend,
			body: edit(t, bodyMessagesSend, "override_frequency_capping", `"yes"`), label: LabelInvalidValue},
		checkCase{name: "override_messaging_limits not bool", path: PathMessagesScheduleCreate,
			body: edit(t, bodyScheduleCreate, "override_messaging_limits", `1`), label: LabelInvalidValue,
			field: "override_messaging_limits"},
	)

	// Per-channel rules, on /messages/send without campaign_id.
	base := edit(t, bodyMessagesSendSegment, "messages", "{}")
	msg := func(channel, obj string) string { return edit(t, base, "messages."+channel, obj) }
	type ch struct {
		name, channel, obj, label, field string
	}
	apple := `{"alert":"Hi"}`
	big := strings.Repeat("x", 1900)
	chs := []ch{
		// apple_push
		{"apple string alert", "apple_push", apple, "", ""},
		{"apple alert object", "apple_push", `{"alert":{"title":"T","body":"B"}}`, "", ""},
		{"apple no alert", "apple_push", `{"badge":1}`, LabelMissingField, "messages.apple_push.alert"},
		{"apple empty alert", "apple_push", `{"alert":""}`, LabelMissingField, "messages.apple_push.alert"},
		{"apple alert object without body", "apple_push", `{"alert":{"title":"T"}}`, LabelMissingField,
			"messages.apple_push.alert.body"},
		{"apple alert number", "apple_push", `{"alert":5}`, LabelInvalidValue, "messages.apple_push.alert"},
		{"apple content-available", "apple_push", `{"content-available":true,"extra":{"k":"v"}}`, "", ""},
		{"apple content-available not bool", "apple_push", `{"content-available":1}`, LabelInvalidValue,
			"messages.apple_push.content-available"},
		{"apple extra object", "apple_push", `{"alert":"Hi","extra":{"deep_link":"x"}}`, "", ""},
		{"apple extra string", "apple_push", `{"alert":"Hi","extra":"x"}`, LabelInvalidExtraPushPayload,
			"messages.apple_push.extra"},
		{"apple extra array", "apple_push", `{"alert":"Hi","extra":[1]}`, LabelInvalidExtraPushPayload, ""},
		{"apple extra ab", "apple_push", `{"alert":"Hi","extra":{"ab":1}}`, LabelInvalidExtraPushPayload, ""},
		{"apple extra aps", "apple_push", `{"alert":"Hi","extra":{"aps":{}}}`, LabelInvalidExtraPushPayload, ""},
		{"apple extra AB other case", "apple_push", `{"alert":"Hi","extra":{"AB":1}}`, "", ""},
		{"apple asset", "apple_push", `{"alert":"Hi","asset_url":"https://x/i.png","asset_file_type":"png"}`, "", ""},
		{"apple asset without type", "apple_push", `{"alert":"Hi","asset_url":"https://x/i.png"}`,
			LabelMissingField, "messages.apple_push.asset_file_type"},
		{"apple asset bad type", "apple_push", `{"alert":"Hi","asset_url":"https://x/i","asset_file_type":"webp"}`,
			LabelInvalidValue, "messages.apple_push.asset_file_type"},
		{"apple buttons", "apple_push", `{"alert":"Hi","buttons":[{"action_id":"open"}]}`, "", ""},
		{"apple button without action_id", "apple_push", `{"alert":"Hi","buttons":[{"text":"Open"}]}`,
			LabelMissingField, "messages.apple_push.buttons[0].action_id"},
		{"apple buttons not array", "apple_push", `{"alert":"Hi","buttons":{}}`, LabelInvalidValue, ""},
		{"apple interruption level", "apple_push", `{"alert":"Hi","interruption_level":"time-sensitive"}`, "", ""},
		{"apple interruption level bad", "apple_push", `{"alert":"Hi","interruption_level":"urgent"}`,
			LabelInvalidValue, "messages.apple_push.interruption_level"},
		{"apple relevance", "apple_push", `{"alert":"Hi","relevance_score":0.5}`, "", ""},
		{"apple relevance high", "apple_push", `{"alert":"Hi","relevance_score":1.5}`, LabelInvalidValue, ""},
		{"apple apns_priority", "apple_push", `{"alert":"Hi","apns_priority":5}`, "", ""},
		{"apple apns_priority 11", "apple_push", `{"alert":"Hi","apns_priority":11}`, LabelInvalidValue,
			"messages.apple_push.apns_priority"},
		{"apple apns_priority fraction", "apple_push", `{"alert":"Hi","apns_priority":5.5}`, LabelInvalidValue, ""},
		{"apple 1912 bytes", "apple_push", `{"alert":"` + strings.Repeat("x", 1912-12) + `"}`, "", ""},
		{"apple 1913 bytes", "apple_push", `{"alert":"` + strings.Repeat("x", 1912-11) + `"}`,
			LabelApplePushLengthExceeded, "messages.apple_push"},
		{"apple alert and extra too long", "apple_push", `{"alert":"` + big + `","extra":{"k":"` + big[:100] + `"}}`,
			LabelApplePushLengthExceeded, ""},
		// android_push
		{"android", "android_push", `{"alert":"Hi","title":"T"}`, "", ""},
		{"android no title", "android_push", `{"alert":"Hi"}`, LabelMissingField, "messages.android_push.title"},
		{"android no alert", "android_push", `{"title":"T"}`, LabelMissingField, "messages.android_push.alert"},
		{"android send_to_sync", "android_push", `{"send_to_sync":true,"extra":{"k":"v"}}`, "", ""},
		{"android send_to_sync with alert", "android_push", `{"send_to_sync":true,"alert":"Hi"}`, LabelInvalidValue,
			"messages.android_push.send_to_sync"},
		{"android send_to_sync with title", "android_push", `{"send_to_sync":true,"title":"T"}`, LabelInvalidValue, ""},
		{"android extra string", "android_push", `{"alert":"Hi","title":"T","extra":"x"}`,
			LabelInvalidExtraPushPayload, "messages.android_push.extra"},
		{"android priority", "android_push", `{"alert":"Hi","title":"T","android_priority":"high"}`, "", ""},
		{"android priority bad", "android_push", `{"alert":"Hi","title":"T","android_priority":"max"}`,
			LabelInvalidValue, "messages.android_push.android_priority"},
		{"android numeric priority out of range is coerced", "android_push",
			`{"alert":"Hi","title":"T","priority":7}`, "", ""},
		{"android ttl", "android_push", `{"alert":"Hi","title":"T","time_to_live":2419200}`, "", ""},
		{"android ttl too long", "android_push", `{"alert":"Hi","title":"T","time_to_live":2419201}`,
			LabelInvalidValue, "messages.android_push.time_to_live"},
		{"android button without text", "android_push", `{"alert":"Hi","title":"T","buttons":[{"action":"x"}]}`,
			LabelMissingField, "messages.android_push.buttons[0].text"},
		{"android 4000 bytes", "android_push", `{"title":"T","alert":"` + strings.Repeat("x", 3998) + `"}`, "", ""},
		{"android 4001 bytes", "android_push", `{"title":"T","alert":"` + strings.Repeat("x", 3999) + `"}`,
			LabelAndroidPushLengthExceeded, "messages.android_push"},
		{"android alert and extra", "android_push",
			`{"title":"T","alert":"` + strings.Repeat("x", 2000) + `","extra":{"k":"` + strings.Repeat("y", 2000) + `"}}`,
			LabelAndroidPushLengthExceeded, ""},
		// kindle_push, web_push
		{"kindle", "kindle_push", `{"alert":"Hi","title":"T"}`, "", ""},
		{"kindle no title", "kindle_push", `{"alert":"Hi"}`, LabelMissingField, "messages.kindle_push.title"},
		{"web", "web_push", `{"alert":"Hi","title":"T","require_interaction":true}`, "", ""},
		{"web no alert", "web_push", `{"title":"T"}`, LabelMissingField, "messages.web_push.alert"},
		// email
		{"email", "email", `{"app_id":"a","from":"A <a@x.com>","body":"<p>x</p>"}`, "", ""},
		{"email template", "email", `{"app_id":"a","from":"A <a@x.com>","email_template_id":"t1"}`, "", ""},
		{"email no body", "email", `{"app_id":"a","from":"A <a@x.com>","subject":"S"}`, LabelMissingField,
			"messages.email.body"},
		{"email no from", "email", `{"app_id":"a","body":"x"}`, LabelMissingField, "messages.email.from"},
		{"email no app_id", "email", `{"from":"A <a@x.com>","body":"x"}`, LabelMissingField, "messages.email.app_id"},
		{"email attachments", "email",
			`{"app_id":"a","from":"a@x.com","body":"x","attachments":[{"file_name":"invoice","url":"https://x/i.pdf"}]}`,
			"", ""},
		{"email attachment without url", "email",
			`{"app_id":"a","from":"a@x.com","body":"x","attachments":[{"file_name":"invoice"}]}`,
			LabelInvalidAttachment, "messages.email.attachments[0].url"},
		// sms
		{"sms", "sms", `{"subscription_group_id":"sg","body":"Hi","app_id":"a"}`, "", ""},
		{"sms no subscription group", "sms", `{"body":"Hi","app_id":"a"}`, LabelMissingField,
			"messages.sms.subscription_group_id"},
		{"sms no body", "sms", `{"subscription_group_id":"sg","app_id":"a"}`, LabelMissingField, "messages.sms.body"},
		{"sms no app_id", "sms", `{"subscription_group_id":"sg","body":"Hi"}`, LabelMissingField, "messages.sms.app_id"},
		// webhook
		{"webhook", "webhook", `{"url":"https://x","request_method":"PUT","body":"{}"}`, "", ""},
		{"webhook no url", "webhook", `{"request_method":"POST"}`, LabelMissingField, "messages.webhook.url"},
		{"webhook no method", "webhook", `{"url":"https://x"}`, LabelMissingField, "messages.webhook.request_method"},
		{"webhook bad method", "webhook", `{"url":"https://x","request_method":"PATCH"}`, LabelInvalidValue,
			"messages.webhook.request_method"},
		{"webhook body not string", "webhook", `{"url":"https://x","request_method":"POST","body":{}}`,
			LabelInvalidValue, "messages.webhook.body"},
		// content_card
		{"card classic", "content_card", `{"type":"CLASSIC","title":"T","description":"D","time_to_live":86400}`, "", ""},
		{"card captioned", "content_card",
			`{"type":"CAPTIONED_IMAGE","title":"T","description":"D","image_url":"https://x/i.png","expire_at":"2026-05-01T00:00:00Z"}`,
			"", ""},
		{"card banner", "content_card", `{"type":"BANNER","image_url":"https://x/i.png","time_to_live":60}`, "", ""},
		{"card no type", "content_card", `{"title":"T","description":"D","time_to_live":60}`, LabelMissingField,
			"messages.content_card.type"},
		{"card bad type", "content_card", `{"type":"HERO","title":"T","description":"D","time_to_live":60}`,
			LabelInvalidValue, "messages.content_card.type"},
		{"card no title", "content_card", `{"type":"CLASSIC","description":"D","time_to_live":60}`,
			LabelMissingField, "messages.content_card.title"},
		{"card no description", "content_card", `{"type":"CLASSIC","title":"T","time_to_live":60}`,
			LabelMissingField, "messages.content_card.description"},
		{"card captioned no image", "content_card",
			`{"type":"CAPTIONED_IMAGE","title":"T","description":"D","time_to_live":60}`,
			LabelMissingField, "messages.content_card.image_url"},
		{"card banner no image", "content_card", `{"type":"BANNER","time_to_live":60}`, LabelMissingField,
			"messages.content_card.image_url"},
		{"card no expiry", "content_card", `{"type":"CLASSIC","title":"T","description":"D"}`, LabelMissingField,
			"messages.content_card.time_to_live"},
		{"card ttl 30 days", "content_card",
			`{"type":"CLASSIC","title":"T","description":"D","time_to_live":2592000}`, "", ""},
		{"card ttl over 30 days", "content_card",
			`{"type":"CLASSIC","title":"T","description":"D","time_to_live":2592001}`, LabelInvalidValue,
			"messages.content_card.time_to_live"},
		{"card expire_at unparseable", "content_card",
			`{"type":"CLASSIC","title":"T","description":"D","expire_at":"next week"}`, LabelInvalidValue,
			"messages.content_card.expire_at"},
		// whats_app
		{"whatsapp template", "whats_app",
			`{"app_id":"a","subscription_group_id":"sg","message_type":"template_message","message":{"template_name":"t","template_language_code":"en"}}`,
			"", ""},
		{"whatsapp text", "whats_app",
			`{"app_id":"a","subscription_group_id":"sg","message_type":"text_response_message","message":{"body":"hi"}}`,
			"", ""},
		{"whatsapp no subscription group", "whats_app",
			`{"app_id":"a","message_type":"text_response_message","message":{}}`, LabelMissingField,
			"messages.whats_app.subscription_group_id"},
		{"whatsapp bad type", "whats_app",
			`{"app_id":"a","subscription_group_id":"sg","message_type":"sticker","message":{}}`, LabelInvalidValue,
			"messages.whats_app.message_type"},
		{"whatsapp no message", "whats_app",
			`{"app_id":"a","subscription_group_id":"sg","message_type":"text_response_message"}`, LabelMissingField,
			"messages.whats_app.message"},
		{"whatsapp template without language", "whats_app",
			`{"app_id":"a","subscription_group_id":"sg","message_type":"template_message","message":{"template_name":"t"}}`,
			LabelMissingField, "messages.whats_app.message.template_language_code"},
	}
	for _, c := range chs {
		cases = append(cases, checkCase{name: c.name, path: PathMessagesSend, body: msg(c.channel, c.obj),
			label: c.label, field: c.field})
	}
	// The same channel rules apply on schedule create and update.
	cases = append(cases,
		checkCase{name: "schedule create android no title", path: PathMessagesScheduleCreate,
			body: edit(t, bodyScheduleCreate, "messages", `{"android_push":{"alert":"Hi"}}`), label: LabelMissingField,
			field: "messages.android_push.title"},
		checkCase{name: "schedule update messages only", path: PathMessagesScheduleUpdate,
			body: edit(t, bodyScheduleUpdate, "schedule", "-", "messages", `{"sms":{"subscription_group_id":"sg","body":"b","app_id":"a"}}`)},
		checkCase{name: "schedule update bad message", path: PathMessagesScheduleUpdate,
			body: edit(t, bodyScheduleUpdate, "messages", `{"webhook":{"url":"https://x"}}`), label: LabelMissingField,
			field: "messages.webhook.request_method"},
		checkCase{name: "schedule update empty messages", path: PathMessagesScheduleUpdate,
			body: edit(t, bodyScheduleUpdate, "messages", `{}`), label: LabelNoMessage},
		checkCase{name: "schedule update neither", path: PathMessagesScheduleUpdate,
			body: edit(t, bodyScheduleUpdate, "schedule", "-"), label: LabelMissingField},
	)
	runCheckCases(t, cases)
}

func TestCheckContentCardExpiry(t *testing.T) {
	now := time.Date(2026, 4, 1, 12, 0, 0, 0, time.UTC)
	opts := Options{Now: func() time.Time { return now }}
	card := func(expireAt string) string {
		return edit(t, bodyMessagesSendSegment, "messages",
			`{"content_card":{"type":"CLASSIC","title":"T","description":"D","expire_at":"`+expireAt+`"}}`)
	}
	runCheckCases(t, []checkCase{
		{name: "30 days ahead", path: PathMessagesSend, body: card("2026-05-01T12:00:00Z"), opts: opts},
		{name: "31 days ahead", path: PathMessagesSend, body: card("2026-05-02T12:00:00Z"), opts: opts,
			label: LabelInvalidValue, field: "messages.content_card.expire_at"},
		{name: "31 days ahead without clock", path: PathMessagesSend, body: card("2026-05-02T12:00:00Z")},
	})
}

// TestCheckSchedule covers §5 rule 27 on every endpoint with a schedule.
func TestCheckSchedule(t *testing.T) {
	now := time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)
	clock := Options{Now: func() time.Time { return now }}
	var cases []checkCase
	for _, p := range []struct{ path, base string }{
		{PathMessagesScheduleCreate, bodyScheduleCreate},
		{PathMessagesScheduleUpdate, bodyScheduleUpdate},
		{PathCampaignsScheduleCreate, bodyCampaignScheduleCreate},
		{PathCampaignsScheduleUpdate, bodyCampaignScheduleUpdate},
		{PathCanvasScheduleCreate, bodyCanvasScheduleCreate},
		{PathCanvasScheduleUpdate, bodyCanvasScheduleUpdate},
	} {
		s := func(sched string) string { return edit(t, p.base, "schedule", sched) }
		cases = append(cases,
			checkCase{name: p.path + "/utc", path: p.path, body: s(`{"time":"2026-05-01T15:00:00Z"}`)},
			checkCase{name: p.path + "/offset", path: p.path, body: s(`{"time":"2026-05-01T15:00:00-05:00"}`)},
			checkCase{name: p.path + "/fraction", path: p.path, body: s(`{"time":"2026-05-01T15:00:00.250Z"}`)},
			checkCase{name: p.path + "/local", path: p.path,
				body: s(`{"time":"2026-05-01T15:00:00","in_local_time":true}`)},
			checkCase{name: p.path + "/optimal", path: p.path,
				body: s(`{"time":"2026-05-01T00:00:00","at_optimal_time":true}`)},
			checkCase{name: p.path + "/unparseable", path: p.path, body: s(`{"time":"May 1st"}`),
				label: LabelBadRequest, field: "schedule.time"},
			checkCase{name: p.path + "/invalid date", path: p.path, body: s(`{"time":"2026-02-30T10:00:00Z"}`),
				label: LabelBadRequest, field: "schedule.time"},
			checkCase{name: p.path + "/time not string", path: p.path, body: s(`{"time":1777647600}`),
				label: LabelInvalidValue, field: "schedule.time"},
			checkCase{name: p.path + "/schedule not object", path: p.path, body: s(`"2026-05-01T15:00:00Z"`),
				label: LabelInvalidValue, field: "schedule"},
			checkCase{name: p.path + "/local with zone", path: p.path,
				body: s(`{"time":"2026-05-01T15:00:00-05:00","in_local_time":true}`), label: LabelBadRequest,
				field: "schedule.time"},
			checkCase{name: p.path + "/optimal with Z", path: p.path,
				body: s(`{"time":"2026-05-01T15:00:00Z","at_optimal_time":true}`), label: LabelBadRequest},
			checkCase{name: p.path + "/in_local_time not bool", path: p.path,
				body: s(`{"time":"2026-05-01T15:00:00","in_local_time":"yes"}`), label: LabelInvalidValue,
				field: "schedule.in_local_time"},
			// now is 2026-05-02T00:00Z; 12:00 local on May 1 is still ahead
			// in UTC-12 until May 2 00:00Z.
			checkCase{name: p.path + "/local still ahead somewhere", path: p.path, opts: clock,
				body: s(`{"time":"2026-05-01T12:00:01","in_local_time":true}`)},
			checkCase{name: p.path + "/local passed everywhere", path: p.path, opts: clock,
				body: s(`{"time":"2026-05-01T11:59:59","in_local_time":true}`), label: LabelBadRequest,
				field: "schedule.time"},
			checkCase{name: p.path + "/local passed without clock", path: p.path,
				body: s(`{"time":"2020-05-01T11:59:59","in_local_time":true}`)},
			checkCase{name: p.path + "/utc past is not checked", path: p.path, opts: clock,
				body: s(`{"time":"2020-05-01T11:59:59Z"}`)},
		)
	}
	runCheckCases(t, cases)
}

// TestCheckAttachments covers §5 rule 13.
func TestCheckAttachments(t *testing.T) {
	att := `[{"file_name":"invoice","url":"https://example.com/i.pdf","basic_auth_credential":"cdn"}]`
	noRec := edit(t, bodyCampaignTrigger, "recipients", "-")
	runCheckCases(t, []checkCase{
		{name: "with recipients", path: PathCampaignsTriggerSend, body: edit(t, bodyCampaignTrigger, "attachments", att)},
		{name: "with broadcast", path: PathCampaignsTriggerSend,
			body: edit(t, noRec, "broadcast", "true", "attachments", att), label: LabelInvalidAttachment,
			field: "attachments"},
		{name: "no file_name", path: PathCampaignsTriggerSend,
			body:  edit(t, bodyCampaignTrigger, "attachments", `[{"url":"https://x/a.pdf"}]`),
			label: LabelInvalidAttachment, field: "attachments[0].file_name"},
		{name: "no url", path: PathCampaignsTriggerSend,
			body:  edit(t, bodyCampaignTrigger, "attachments", `[{"file_name":"a"}]`),
			label: LabelInvalidAttachment, field: "attachments[0].url"},
		{name: "not array", path: PathCampaignsTriggerSend,
			body:  edit(t, bodyCampaignTrigger, "attachments", `{"file_name":"a","url":"u"}`),
			label: LabelInvalidValue, field: "attachments"},
		{name: "item not object", path: PathCampaignsTriggerSend,
			body: edit(t, bodyCampaignTrigger, "attachments", `["a"]`), label: LabelInvalidValue},
	})
}

// TestCheckAudience covers §5 rules 25 and 26 on every endpoint with an
// audience.
func TestCheckAudience(t *testing.T) {
	var cases []checkCase
	type aud struct{ name, audience, label, field string }
	auds := []aud{
		{"single filter", `{"custom_attribute":{"custom_attribute_name":"tier","comparison":"equals","value":"gold"}}`, "", ""},
		{"nested", `{"AND":[{"custom_attribute":{"custom_attribute_name":"age","comparison":"greater_than","value":21}},` +
			`{"OR":[{"push_subscription_status":{"comparison":"is","value":"opted_in"}},` +
			`{"email_subscription_status":{"comparison":"is_not","value":"unsubscribed"}}]},` +
			`{"last_used_app":{"comparison":"after","value":"2026-01-01T00:00:00Z"}}]}`, "", ""},
		{"exists without value", `{"custom_attribute":{"custom_attribute_name":"vip","comparison":"exists"}}`, "", ""},
		{"is_any_of array", `{"custom_attribute":{"custom_attribute_name":"c","comparison":"is_any_of","value":["a","b"]}}`, "", ""},
		{"is_any_of string", `{"custom_attribute":{"custom_attribute_name":"c","comparison":"is_none_of","value":"a"}}`, "", ""},
		{"days ago", `{"custom_attribute":{"custom_attribute_name":"d","comparison":"less_than_x_days_ago","value":7}}`, "", ""},
		{"array", `[{"custom_attribute":{"custom_attribute_name":"tier","comparison":"equals","value":"gold"}}]`,
			LabelInvalidAudience, "audience"},
		{"string", `"gold"`, LabelInvalidAudience, "audience"},
		{"empty object", `{}`, LabelInvalidAudience, "audience"},
		{"two filters in one node", `{"push_subscription_status":{"comparison":"is","value":"opted_in"},` +
			`"email_subscription_status":{"comparison":"is","value":"opted_in"}}`, LabelInvalidAudience, "audience"},
		{"AND not array", `{"AND":{"push_subscription_status":{"comparison":"is","value":"opted_in"}}}`,
			LabelInvalidAudience, "audience.AND"},
		{"AND empty", `{"AND":[]}`, LabelInvalidAudience, "audience.AND"},
		{"lower-case and", `{"and":[{"push_subscription_status":{"comparison":"is","value":"opted_in"}}]}`,
			LabelInvalidAudience, "audience.and"},
		{"unknown filter", `{"segment":{"id":"s1"}}`, LabelInvalidAudience, "audience.segment"},
		{"bad nested node", `{"OR":[{"push_subscription_status":{"comparison":"is","value":"opted_in"}},{"x":1}]}`,
			LabelInvalidAudience, "audience.OR[1].x"},
		{"no comparison", `{"custom_attribute":{"custom_attribute_name":"tier","value":"gold"}}`,
			LabelInvalidAudience, "audience.custom_attribute.comparison"},
		{"bad comparison", `{"custom_attribute":{"custom_attribute_name":"tier","comparison":"like","value":"g"}}`,
			LabelInvalidAudience, "audience.custom_attribute.comparison"},
		{"no attribute name", `{"custom_attribute":{"comparison":"equals","value":"g"}}`,
			LabelInvalidAudience, "audience.custom_attribute.custom_attribute_name"},
		{"equals without value", `{"custom_attribute":{"custom_attribute_name":"tier","comparison":"equals"}}`,
			LabelInvalidAudience, "audience.custom_attribute.value"},
		{"regex not string", `{"custom_attribute":{"custom_attribute_name":"e","comparison":"matches_regex","value":5}}`,
			LabelInvalidAudience, "audience.custom_attribute.value"},
		{"is_any_of numbers", `{"custom_attribute":{"custom_attribute_name":"c","comparison":"is_any_of","value":[1]}}`,
			LabelInvalidAudience, "audience.custom_attribute.value"},
		{"before not a time", `{"custom_attribute":{"custom_attribute_name":"d","comparison":"before","value":"yesterday"}}`,
			LabelInvalidAudience, "audience.custom_attribute.value"},
		{"days not number", `{"custom_attribute":{"custom_attribute_name":"d","comparison":"greater_than_x_days_ago","value":"7"}}`,
			LabelInvalidAudience, "audience.custom_attribute.value"},
		{"push status bad value", `{"push_subscription_status":{"comparison":"is","value":"maybe"}}`,
			LabelInvalidAudience, "audience.push_subscription_status.value"},
		{"email status bad comparison", `{"email_subscription_status":{"comparison":"equals","value":"opted_in"}}`,
			LabelInvalidAudience, "audience.email_subscription_status.comparison"},
		{"last used app not time", `{"last_used_app":{"comparison":"after","value":3}}`,
			LabelInvalidAudience, "audience.last_used_app.value"},
		{"last used app bad comparison", `{"last_used_app":{"comparison":"equals","value":"2026-01-01T00:00:00Z"}}`,
			LabelInvalidAudience, "audience.last_used_app.comparison"},
		{"filter not object", `{"last_used_app":"2026-01-01"}`, LabelInvalidAudience, "audience.last_used_app"},
		{"too deep", strings.Repeat(`{"AND":[`, 40) + `{"last_used_app":{"comparison":"after","value":"2026-01-01"}}` +
			strings.Repeat(`]}`, 40), LabelInvalidAudience, ""},
	}
	bases := []struct{ path, base string }{
		{PathMessagesSend, edit(t, bodyMessagesSendSegment, "segment_id", "-")},
		{PathMessagesScheduleCreate, edit(t, bodyScheduleCreate, "segment_id", "-")},
		{PathCampaignsTriggerSend, edit(t, bodyCampaignTrigger, "recipients", "-", "broadcast", "true")},
		{PathCanvasTriggerSend, edit(t, bodyCanvasTrigger, "recipients", "-", "broadcast", "true")},
		{PathCampaignsScheduleCreate, bodyCampaignScheduleCreate},
		{PathCanvasScheduleCreate, edit(t, bodyCanvasScheduleCreate, "recipients", "-", "broadcast", "true")},
	}
	for _, b := range bases {
		for _, a := range auds {
			cases = append(cases, checkCase{name: b.path + "/" + a.name, path: b.path,
				body: edit(t, b.base, "audience", a.audience), label: a.label, field: a.field})
		}
	}
	// Live activities name it custom_audience.
	la := edit(t, bodyLiveActivityStart, "external_user_ids", "-")
	for _, a := range auds {
		field := a.field
		if field != "" {
			field = "custom_" + field
		}
		cases = append(cases, checkCase{name: PathLiveActivityStart + "/" + a.name, path: PathLiveActivityStart,
			body: edit(t, la, "custom_audience", a.audience), label: a.label, field: field})
	}
	runCheckCases(t, cases)
}

// TestCheckLiveActivity covers §3.17, §3.18 and §5 rules 10 and 15.
func TestCheckLiveActivity(t *testing.T) {
	start := bodyLiveActivityStart
	noTarget := edit(t, start, "external_user_ids", "-")
	aud := `{"push_subscription_status":{"comparison":"is","value":"opted_in"}}`
	runCheckCases(t, []checkCase{
		{name: "start aliases", path: PathLiveActivityStart,
			body: edit(t, noTarget, "user_aliases", aliasesJSON(3))},
		{name: "start ids and aliases", path: PathLiveActivityStart,
			body: edit(t, start, "user_aliases", aliasesJSON(3))},
		{name: "start segment", path: PathLiveActivityStart, body: edit(t, noTarget, "segment_id", `"s1"`)},
		{name: "start custom audience", path: PathLiveActivityStart, body: edit(t, noTarget, "custom_audience", aud)},
		{name: "start no targeting", path: PathLiveActivityStart, body: noTarget, label: LabelNoRecipients},
		{name: "start ids and segment", path: PathLiveActivityStart, body: edit(t, start, "segment_id", `"s1"`),
			label: LabelInvalidTargeting},
		{name: "start aliases and custom audience", path: PathLiveActivityStart,
			body: edit(t, noTarget, "user_aliases", aliasesJSON(1), "custom_audience", aud), label: LabelInvalidTargeting},
		{name: "start segment and custom audience", path: PathLiveActivityStart,
			body: edit(t, noTarget, "segment_id", `"s1"`, "custom_audience", aud), label: LabelInvalidTargeting},
		{name: "start audience key", path: PathLiveActivityStart, body: edit(t, noTarget, "audience", aud),
			label: LabelUnsupportedField, field: "audience"},
		{name: "start 50 targets", path: PathLiveActivityStart,
			body: edit(t, start, "external_user_ids", idsJSON(25), "user_aliases", aliasesJSON(25))},
		{name: "start 51 targets", path: PathLiveActivityStart,
			body:  edit(t, start, "external_user_ids", idsJSON(25), "user_aliases", aliasesJSON(26)),
			label: LabelTooManyRecipients},
		{name: "start bad alias", path: PathLiveActivityStart,
			body: edit(t, start, "user_aliases", `[{"alias_name":"n","alias_label":""}]`), label: LabelInvalidUserAlias,
			field: "user_aliases[0].alias_label"},
		{name: "start alias not object", path: PathLiveActivityStart,
			body: edit(t, start, "user_aliases", `["n"]`), label: LabelInvalidValue},
		{name: "start content_state not object", path: PathLiveActivityStart,
			body: edit(t, start, "content_state", `"x"`), label: LabelInvalidValue, field: "content_state"},
		{name: "start activity_attributes not object", path: PathLiveActivityStart,
			body: edit(t, start, "activity_attributes", `[1]`), label: LabelInvalidValue, field: "activity_attributes"},
		{name: "start notification without alert", path: PathLiveActivityStart,
			body: edit(t, start, "notification", `{"sound":"default"}`), label: LabelMissingField,
			field: "notification.alert"},
		{name: "start notification extra not object", path: PathLiveActivityStart,
			body: edit(t, start, "notification.extra", `"x"`), label: LabelInvalidExtraPushPayload},
		{name: "start notification not object", path: PathLiveActivityStart,
			body: edit(t, start, "notification", `"Kick-off"`), label: LabelInvalidValue, field: "notification"},
		{name: "start stale_date", path: PathLiveActivityStart,
			body: edit(t, start, "stale_date", `"2026-05-10T22:00:00Z"`)},
		{name: "start bad stale_date", path: PathLiveActivityStart,
			body: edit(t, start, "stale_date", `"tonight"`), label: LabelInvalidValue, field: "stale_date"},
		{name: "update minimal", path: PathLiveActivityUpdate,
			body: edit(t, bodyLiveActivityUpdate, "end_activity", "-", "dismissal_date", "-")},
		{name: "update with notification", path: PathLiveActivityUpdate,
			body: edit(t, bodyLiveActivityUpdate, "notification", `{"alert":{"title":"Goal","body":"2-1"}}`)},
		{name: "update bad notification", path: PathLiveActivityUpdate,
			body: edit(t, bodyLiveActivityUpdate, "notification", `{"alert":{"title":"Goal"}}`), label: LabelMissingField,
			field: "notification.alert.body"},
		{name: "update end_activity not bool", path: PathLiveActivityUpdate,
			body: edit(t, bodyLiveActivityUpdate, "end_activity", `"true"`), label: LabelInvalidValue,
			field: "end_activity"},
		{name: "update bad dismissal_date", path: PathLiveActivityUpdate,
			body: edit(t, bodyLiveActivityUpdate, "dismissal_date", `"soon"`), label: LabelInvalidValue,
			field: "dismissal_date"},
		{name: "update content_state not object", path: PathLiveActivityUpdate,
			body: edit(t, bodyLiveActivityUpdate, "content_state", `5`), label: LabelInvalidValue},
	})
}

// TestCheckDuplicate covers §3.15, §3.16 and §5 rule 32 (shape only).
func TestCheckDuplicate(t *testing.T) {
	var cases []checkCase
	for _, p := range []struct{ path, base string }{
		{PathCampaignsDuplicate, bodyCampaignsDuplicate},
		{PathCanvasDuplicate, bodyCanvasDuplicate},
	} {
		cases = append(cases,
			checkCase{name: p.path + "/tags", path: p.path, body: edit(t, p.base, "tag_names", `["a","b"]`)},
			checkCase{name: p.path + "/no tags", path: p.path, body: edit(t, p.base, "tag_names", "-")},
			checkCase{name: p.path + "/tags string", path: p.path, body: edit(t, p.base, "tag_names", `"a"`),
				label: LabelInvalidValue, field: "tag_names"},
			checkCase{name: p.path + "/tag number", path: p.path, body: edit(t, p.base, "tag_names", `["a",1]`),
				label: LabelInvalidValue, field: "tag_names[1]"},
			checkCase{name: p.path + "/empty tag", path: p.path, body: edit(t, p.base, "tag_names", `[""]`),
				label: LabelInvalidValue, field: "tag_names[0]"},
			checkCase{name: p.path + "/name not string", path: p.path, body: edit(t, p.base, "name", `{"en":"x"}`),
				label: LabelInvalidValue, field: "name"},
			checkCase{name: p.path + "/description not string", path: p.path, body: edit(t, p.base, "description", `1`),
				label: LabelInvalidValue, field: "description"},
		)
	}
	runCheckCases(t, cases)
}

// TestCheckIgnoresForeignFields pins that a field is only type-checked by
// the endpoints that know it.
func TestCheckIgnoresForeignFields(t *testing.T) {
	runCheckCases(t, []checkCase{
		{name: "name on messages/send", path: PathMessagesSend, body: edit(t, bodyMessagesSend, "name", `5`)},
		{name: "schedule on trigger send", path: PathCampaignsTriggerSend,
			body: edit(t, bodyCampaignTrigger, "schedule", `"tomorrow"`)},
		{name: "messages on duplicate", path: PathCanvasDuplicate, body: edit(t, bodyCanvasDuplicate, "messages", `[]`)},
		{name: "canvas_id on campaign delete", path: PathCampaignsScheduleDelete,
			body: edit(t, bodyCampaignScheduleDelete, "canvas_id", `1`)},
		{name: "recipients on schedule create", path: PathMessagesScheduleCreate,
			body: edit(t, bodyScheduleCreate, "recipients", `"all of them"`)},
		{name: "user_aliases on trigger send", path: PathCampaignsTriggerSend,
			body: edit(t, bodyCampaignTrigger, "user_aliases", `7`)},
	})
}

func TestViolationError(t *testing.T) {
	tests := []struct {
		v    Violation
		want string
	}{
		{Violation{Label: LabelNoRecipients}, "No Recipients"},
		{Violation{Label: LabelInvalidValue, Field: "broadcast", Detail: "must be a boolean"},
			"invalid value: broadcast: must be a boolean"},
		{Violation{Label: LabelBadRequest, Detail: "request body is not valid JSON"},
			"Bad Request: request body is not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.v.Error(); got != tt.want {
				t.Fatalf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRecipients(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		body    string
		want    int
		wantErr bool
	}{
		{"messages/send ids", PathMessagesSend, bodyMessagesSend, 2, false},
		{"messages/send ids and aliases", PathMessagesSend,
			edit(t, bodyMessagesSend, "user_aliases", aliasesJSON(3)), 5, false},
		{"messages/send broadcast", PathMessagesSend, bodyMessagesSendSegment, 0, false},
		{"schedule/create users", PathMessagesScheduleCreate,
			edit(t, bodyScheduleCreate, "external_user_ids", idsJSON(7)), 7, false},
		{"campaign trigger", PathCampaignsTriggerSend, bodyCampaignTrigger, 2, false},
		{"campaign trigger 60 (not validated)", PathCampaignsTriggerSend,
			edit(t, bodyCampaignTrigger, "recipients", recipientsJSON(60, false)), 60, false},
		{"canvas trigger", PathCanvasTriggerSend, bodyCanvasTrigger, 1, false},
		{"canvas schedule create", PathCanvasScheduleCreate, bodyCanvasScheduleCreate, 1, false},
		{"campaign schedule broadcast", PathCampaignsScheduleCreate, bodyCampaignScheduleCreate, 0, false},
		{"live start", PathLiveActivityStart, bodyLiveActivityStart, 2, false},
		{"recipients ignored on messages/send", PathMessagesSend,
			edit(t, bodyMessagesSend, "recipients", `[{},{},{}]`), 2, false},
		{"ids ignored on trigger", PathCampaignsTriggerSend,
			edit(t, bodyCampaignTrigger, "external_user_ids", `"x"`), 2, false},
		{"delete", PathMessagesScheduleDelete, bodyScheduleDelete, 0, false},
		{"unknown path", "/users/track", `{}`, 0, true},
		{"not json", PathMessagesSend, `{`, 0, true},
		{"recipients not array", PathCampaignsTriggerSend, `{"recipients":{"a":1}}`, 0, true},
		{"ids not array", PathMessagesSend, `{"external_user_ids":"u1"}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Recipients(tt.path, []byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Recipients() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				var v *Violation
				if !errors.As(err, &v) {
					t.Fatalf("Recipients() error %T, want *Violation", err)
				}
			}
			if got != tt.want {
				t.Fatalf("Recipients() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	eps := Endpoints()
	if len(eps) != 17 {
		t.Fatalf("Endpoints() has %d paths, want 17", len(eps))
	}
	seen := map[string]bool{}
	for _, p := range eps {
		if seen[p] {
			t.Fatalf("duplicate %s", p)
		}
		seen[p] = true
		if lookup(p) == epUnknown {
			t.Fatalf("lookup(%s) unknown", p)
		}
	}
	eps[0] = "mutated"
	if Endpoints()[0] != PathMessagesSend {
		t.Fatal("Endpoints() shares its slice")
	}
}

func TestParseISO8601(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Time
		zoned  bool
		wantOK bool
	}{
		{"2026-05-01T15:00:00Z", time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC), true, true},
		{"2026-05-01T15:00:00", time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC), false, true},
		{"2026-05-01T15:00", time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC), false, true},
		{"2026-05-01 15:00:00", time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC), false, true},
		{"2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), false, true},
		{"2026-05-01T15:00:00.5Z", time.Date(2026, 5, 1, 15, 0, 0, 500000000, time.UTC), true, true},
		{"2026-05-01T15:00:00.123456789123Z", time.Date(2026, 5, 1, 15, 0, 0, 123456789, time.UTC), true, true},
		{"2026-05-01T15:00:00-05:00", time.Date(2026, 5, 1, 20, 0, 0, 0, time.UTC), true, true},
		{"2026-05-10T21:30:00+0000", time.Date(2026, 5, 10, 21, 30, 0, 0, time.UTC), true, true},
		{"2026-05-10T21:30:00+02", time.Date(2026, 5, 10, 19, 30, 0, 0, time.UTC), true, true},
		{"2024-02-29T00:00:00Z", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true, true},
		{"2026-02-29T00:00:00Z", time.Time{}, false, false},
		{"2026-13-01T00:00:00Z", time.Time{}, false, false},
		{"2026-05-01T24:00:00Z", time.Time{}, false, false},
		{"2026-05-01T15:60:00Z", time.Time{}, false, false},
		{"2026-05-01T15:00:00+25:00", time.Time{}, false, false},
		{"2026-05-01T15:00:00.Z", time.Time{}, false, false},
		{"2026-05-01T15", time.Time{}, false, false},
		{"2026-05-01Z", time.Time{}, false, false},
		{"2026-5-1", time.Time{}, false, false},
		{"20260501", time.Time{}, false, false},
		{"", time.Time{}, false, false},
		{"2026-05-01T15:00:00Zjunk", time.Time{}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, zoned, ok := parseISO8601(tt.in)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if !got.Equal(tt.want) || zoned != tt.zoned {
				t.Fatalf("parseISO8601(%q) = %v, %v; want %v, %v", tt.in, got, zoned, tt.want, tt.zoned)
			}
		})
	}
}

func TestCompactLen(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{`{"a": 1}`, 7},
		{"{ \"a b\" :\t[1, 2] }\n", 13},
		{`"x\" y"`, 7},
		{`"\\" `, 4},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := compactLen([]byte(tt.in)); got != tt.want {
				t.Fatalf("compactLen(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}
