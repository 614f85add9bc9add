package event

import (
	"encoding/json"
	"hash/maphash"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// Recipient is one explicit recipient of a batchable event.
type Recipient struct {
	// Key is the recipient's identifier within its Kind: the external id,
	// the e-mail address in lower case, the Braze id, or "<label>:<name>"
	// of a user alias. Kind and Key are unique per user within a
	// workspace: a batch never holds two recipients with the same ones.
	// Key may be a string over the record's value (see DecodeInto).
	Key string
	// Raw is the recipient as the producer wrote it: a recipient object
	// (trigger endpoints), an external id string or a user alias object
	// (/messages/send).
	Raw json.RawMessage
	// Kind says how the recipient is identified.
	Kind RecipientKind
	// Alias is set for /messages/send recipients that are user aliases.
	Alias bool
}

// RecipientKind says how a recipient is identified.
type RecipientKind uint8

// The kinds of recipient identifiers Braze documents.
const (
	ByExternalUserID RecipientKind = iota + 1
	ByUserAlias
	ByEmail
	ByBrazeID
)

// String returns the identifier's field name ("external_user_id",
// "alias", "email" or "braze_id").
func (k RecipientKind) String() string {
	switch k {
	case ByExternalUserID:
		return "external_user_id"
	case ByUserAlias:
		return "alias"
	case ByEmail:
		return "email"
	case ByBrazeID:
		return "braze_id"
	}
	return "unknown"
}

// ID returns the recipient's identity as one string, Kind and Key:
// "external_user_id:<id>", "alias:<label>:<name>", "email:<address>" or
// "braze_id:<id>".
func (r *Recipient) ID() string { return r.Kind.String() + ":" + r.Key }

// Batch is the batching view of an event: the key that says which events
// may share a request, and the event's recipients.
type Batch struct {
	// Key is equal for two events exactly when their requests differ only in
	// their recipients: it is the endpoint, the workspace and the canonical
	// form of every field that is not a recipient.
	Key string
	// Recipients are the event's explicit recipients, in the producer's order.
	Recipients []Recipient

	targeting Targeting
	base      []member // non-recipient fields, in document order

	// Room for the usual case (two fields besides the recipients, one
	// recipient), so that the batching view costs no allocation of its
	// own. Each member more here is 64 bytes more for every event.
	baseBuf      [2]member
	recipientBuf [1]Recipient
}

// init fills b with the batching view of a batchable event. It reports
// false when the event has no explicit recipients (a broadcast) or its
// recipient fields are not shaped as Braze documents them: such an event is
// sent on its own and request validation says what is wrong with it.
// sp is ev.Data as decoding split it, if it did (sp.value set); else init
// splits ev.Data itself.
func (b *Batch) init(ev *Event, sp split) bool {
	var buf [16]member
	ms, err := sp.members, error(nil)
	if sp.value == nil {
		if ms, err = members(buf[:0], ev.Data); err != nil {
			return false
		}
	}
	b.targeting = ev.Spec.Targeting
	var keyBuf [256]byte
	key := append(keyBuf[:0], ev.Spec.Endpoint...)
	key = append(key, 0)
	key = appendQuoted(key, ev.Workspace)
	key = append(key, 0)
	b.base = b.baseBuf[:0]
	var seen [2]bool // recipient fields met: recipients or external_user_ids, user_aliases
	for _, m := range ms {
		if f := b.recipientField(m.raw); f >= 0 {
			// A repeated recipient field is read differently by different
			// parsers (most take the last): such an event is sent as
			// written, on its own, never merged into a batch.
			if seen[f] {
				return false
			}
			seen[f] = true
			if !b.addRecipients(f == 1, m.value, sp) {
				return false
			}
			continue
		}
		b.base = append(b.base, m)
	}
	if len(b.Recipients) == 0 {
		return false
	}
	sorted := append(buf[:0], b.base...) // ms is no longer needed
	sortMembers(sorted)
	for _, m := range sorted {
		key = append(key, m.raw...) // keys as written: quoted, so unambiguous
		key = append(key, 0)
		if key, err = appendCanonical(key, m.value); err != nil {
			return false
		}
		key = append(key, 0)
	}
	b.Key = keys.intern(key)
	return true
}

// recipientField says which recipient field the member key raw is: 0 for
// recipients (trigger endpoints) or external_user_ids (/messages/send), 1
// for user_aliases, -1 for none.
func (b *Batch) recipientField(raw []byte) int {
	switch k := string(raw); {
	case b.targeting != UserIDs:
		if k == `"recipients"` {
			return 0
		}
	case k == `"external_user_ids"`:
		return 0
	case k == `"user_aliases"`:
		return 1
	}
	return -1
}

// addRecipients appends the recipients of one recipient field (raw, its
// array; user_aliases when aliases is set, under UserIDs targeting) to
// b.Recipients. sp is the split of the request, whose recipient objects
// serve when raw is the array they were split from.
func (b *Batch) addRecipients(aliases bool, raw []byte, sp split) bool {
	if string(raw) == "null" {
		return true
	}
	if b.Recipients == nil {
		b.Recipients = b.recipientBuf[:0]
	}
	ok := true
	if b.targeting == RecipientObjects && len(raw) > 0 && jsonbytes.Same(sp.recipients, raw) {
		// Split by the decoding scan.
		for _, o := range sp.objects {
			r, ok := recipientObject(sp.rmembers[o.from:o.to])
			if !ok {
				return false
			}
			r.Raw = o.raw
			b.Recipients = append(b.Recipients, r)
		}
		return true
	}
	if b.targeting == RecipientObjects {
		// Each recipient object is scanned once, by the splitting.
		var buf [8]member
		i, done, err := arrayStart(raw)
		for ; err == nil && !done; i, done, err = arrayNext(raw, i) {
			vs := i
			var ms []member
			if ms, i, err = membersAt(buf[:0], raw, vs); err != nil {
				return false
			}
			r, ok := recipientObject(ms)
			if !ok {
				return false
			}
			r.Raw = raw[vs:i]
			b.Recipients = append(b.Recipients, r)
		}
		return err == nil
	}
	err := eachElement(raw, func(e []byte) bool {
		var r Recipient
		switch {
		case !aliases:
			var id string
			switch {
			case len(e) < 3 || e[0] != '"':
				ok = false
			case plain(e):
				id = view(e[1 : len(e)-1])
			default:
				var err error
				id, err = unquote(e)
				ok = err == nil && id != ""
			}
			r = Recipient{Kind: ByExternalUserID, Key: id, Raw: e}
		default:
			var id string
			id, ok = aliasID(e)
			r = Recipient{Kind: ByUserAlias, Key: id, Raw: e, Alias: true}
		}
		if ok {
			b.Recipients = append(b.Recipients, r)
		}
		return ok
	})
	return err == nil && ok
}

// view returns the string over b's bytes, without a copy: b is part of the
// record's value, which DecodeInto's caller leaves unchanged.
func view(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// aliasID returns the Key of a user alias object, "<label>:<name>". Its
// members are read by their exact names, as Braze reads them (encoding/json
// would also take "Alias_Name", and the last of two "alias_name"), so that
// two aliases Braze takes for the same user never get different keys; a
// repeated or non-string name or label makes the alias unusable for
// batching.
func aliasID(raw []byte) (string, bool) {
	var buf [8]member
	ms, err := members(buf[:0], raw)
	if err != nil {
		return "", false
	}
	var name, label string
	for _, m := range ms {
		var p *string
		switch string(m.raw) {
		case `"alias_name"`:
			p = &name
		case `"alias_label"`:
			p = &label
		default:
			continue
		}
		if m.value[0] != '"' || *p != "" {
			return "", false
		}
		if *p, err = unquote(m.value); err != nil || *p == "" {
			return "", false
		}
	}
	if name == "" || label == "" {
		return "", false
	}
	return label + ":" + name, true
}

// recipientObject reads the identifier of a trigger recipient object, from
// its members ms, without decoding its free-form fields. The Recipient's
// Raw is the caller's to set.
func recipientObject(ms []member) (Recipient, bool) {
	var r Recipient
	n := 0
	for _, m := range ms {
		var kind RecipientKind
		switch string(m.raw) {
		case `"external_user_id"`:
			kind = ByExternalUserID
		case `"email"`:
			kind = ByEmail
		case `"braze_id"`:
			kind = ByBrazeID
		case `"user_alias"`:
			a, ok := aliasID(m.value)
			if !ok {
				return Recipient{}, false
			}
			r, n = Recipient{Kind: ByUserAlias, Key: a}, n+1
			continue
		default:
			continue
		}
		if m.value[0] != '"' {
			return Recipient{}, false
		}
		if plain(m.value) && (kind != ByEmail || !hasUpper(m.value)) {
			if len(m.value) == 2 {
				return Recipient{}, false
			}
			r, n = Recipient{Kind: kind, Key: view(m.value[1 : len(m.value)-1])}, n+1
			continue
		}
		s, err := unquote(m.value)
		if err != nil || s == "" {
			return Recipient{}, false
		}
		if kind == ByEmail {
			s = strings.ToLower(s)
		}
		r, n = Recipient{Kind: kind, Key: s}, n+1
	}
	if n != 1 { // exactly one identifier per recipient; validation explains
		return Recipient{}, false
	}
	return r, true
}

// hasUpper reports whether b holds a byte strings.ToLower would change.
func hasUpper(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

// appendQuoted appends strconv.Quote(s), without its escaping work for
// the common workspace name of printable ASCII.
func appendQuoted(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return strconv.AppendQuote(dst, s)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

func sortMembers(ms []member) {
	// insertion sort: bodies have a handful of top-level fields
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].name() < ms[j-1].name(); j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// AppendBody appends to dst the request body that sends rs with b's
// non-recipient fields, unchanged and in the producer's order. Recipient
// JSON is copied as the producers wrote it, never re-encoded.
func (b *Batch) AppendBody(dst []byte, rs []Recipient) []byte {
	dst = append(dst, '{')
	for _, m := range b.base {
		dst = append(dst, m.raw...)
		dst = append(dst, ':')
		dst = append(dst, m.value...)
		dst = append(dst, ',')
	}
	if b.targeting == RecipientObjects {
		dst = append(dst, `"recipients":[`...)
		for i, r := range rs {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, r.Raw...)
		}
		return append(dst, "]}"...)
	}
	var ids, aliases int
	for _, r := range rs {
		if r.Alias {
			aliases++
		} else {
			ids++
		}
	}
	if ids > 0 {
		dst = appendList(dst, "external_user_ids", rs, false)
	}
	if aliases > 0 {
		if ids > 0 {
			dst = append(dst, ',')
		}
		dst = appendList(dst, "user_aliases", rs, true)
	}
	if ids == 0 && aliases == 0 && len(b.base) > 0 {
		dst = dst[:len(dst)-1] // drop the trailing comma
	}
	return append(dst, '}')
}

func appendList(dst []byte, field string, rs []Recipient, aliases bool) []byte {
	dst = append(dst, '"')
	dst = append(dst, field...) // a field name of ours: nothing to escape
	dst = append(dst, `":[`...)
	first := true
	for _, r := range rs {
		if r.Alias != aliases {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, r.Raw...)
	}
	return append(dst, ']')
}

func appendKey(dst []byte, k string) []byte {
	b, _ := json.Marshal(k)
	dst = append(dst, b...)
	return append(dst, ':')
}

// WithField returns a copy of the JSON object obj with the string member
// key set to value, placed first (used to fill in a schedule_id that the
// producer left out). obj must not already hold key; a value that is not an
// object counts as {}.
func WithField(obj []byte, key, value string) []byte {
	out := make([]byte, 0, len(obj)+len(key)+len(value)+8)
	out = append(out, '{')
	out = appendKey(out, key)
	v, _ := json.Marshal(value)
	out = append(out, v...)
	i := jsonbytes.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' { // not an object: as if {}
		obj, i = []byte("{}"), 0
	}
	rest := obj[i+1:]
	if r := rest[jsonbytes.SkipSpace(rest, 0):]; len(r) > 0 && r[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// keyCache holds recent batching keys: events of one campaign or Canvas
// share theirs, and a key found here costs no allocation. Its slots are
// chosen by a hash of the key and replaced by the latest key that hashes
// to them; decoding goroutines share it without locks.
type keyCache struct {
	seed  maphash.Seed
	slots [256]atomic.Pointer[string]
}

var keys = &keyCache{seed: maphash.MakeSeed()}

// intern returns key as a string, the cached one when it holds the same
// bytes.
func (c *keyCache) intern(key []byte) string {
	slot := &c.slots[maphash.Bytes(c.seed, key)%uint64(len(c.slots))]
	if p := slot.Load(); p != nil && *p == string(key) {
		return *p
	}
	s := string(key)
	slot.Store(&s)
	return s
}
