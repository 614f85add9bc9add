package routes

import (
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// jsonValue turns the validated raw JSON value in.b[s:e] into a CEL
// value: strings, booleans and null directly, numbers as doubles (CEL's
// JSON convention), objects as lazy maps that decode only the members an
// expression reads, and arrays as lists of such values.
func (in *input) jsonValue(s, e int) ref.Val {
	raw := in.b[s:e]
	switch raw[0] {
	case '"':
		return types.String(unquote(raw))
	case '{':
		return in.newObject(s, e)
	case '[':
		var vals []ref.Val
		for i := s + 1; ; {
			es, ee, ok := nextElement(in.b, i)
			if !ok {
				break
			}
			vals = append(vals, in.jsonValue(es, ee))
			i = ee
		}
		if vals == nil {
			vals = []ref.Val{}
		}
		return &array{Lister: types.NewRefValList(types.DefaultTypeAdapter, vals), raw: raw}
	case 't':
		return types.True
	case 'f':
		return types.False
	case 'n':
		return types.NullValue
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil { // out of range: ±Inf, as encoding/json would refuse it
		return types.NewErr("number %s is out of range", raw)
	}
	return types.Double(f)
}

// object is a JSON object seen as a CEL map(string, dyn). Its members are
// split on first access; values are decoded when read. An object belongs
// to the input of one product event, which recycles it once the event is
// routed; it is not safe for concurrent use.
type object struct {
	in   *input
	s, e int // the object is in.b[s:e]
	// first and n place its members in in.members, once indexed.
	first, n int
	indexed  bool
	// extensions is set for the extensions view of a structured-mode
	// CloudEvent, which hides its context attributes and data.
	extensions bool
}

var (
	_ traits.Mapper = (*object)(nil)
	_ traits.Lister = (*array)(nil)
)

// raw returns the object's JSON text.
func (o *object) raw() []byte { return o.in.b[o.s:o.e] }

// index splits the members on first use; it returns the range of
// in.members they occupy (hidden ones included).
func (o *object) index() (first, n int) {
	if !o.indexed {
		o.indexed = true
		in := o.in
		o.first = len(in.members)
		in.members = objectMembers(in.members, in.b, o.s, o.e)
		o.n = len(in.members) - o.first
	}
	return o.first, o.n
}

// visible returns the members that are not hidden, in document order.
func (o *object) visible() []member {
	first, n := o.index()
	ms := o.in.members[first : first+n]
	if !o.extensions {
		return ms
	}
	out := make([]member, 0, len(ms))
	for _, m := range ms {
		if !contextAttributes[string(m.key(o.in.b))] {
			out = append(out, m)
		}
	}
	return out
}

// Find implements traits.Mapper.
func (o *object) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return nil, false
	}
	i := o.member(string(k))
	if i < 0 {
		return nil, false
	}
	return o.in.memberValue(i), true
}

// member returns the index in in.members of the member named key, -1 when
// there is none. The last duplicate wins, as in encoding/json.
func (o *object) member(key string) int {
	in := o.in
	if o.extensions && contextAttributes[key] {
		return -1
	}
	first, n := o.index()
	return in.find(first, n, key)
}

// find returns the index of the member named key among in.members[first:
// first+n], -1 when there is none. The last duplicate wins, as in
// encoding/json.
func (in *input) find(first, n int, key string) int {
	for i := first + n - 1; i >= first; i-- {
		m := &in.members[i]
		if m.esc {
			if m.is(in.b, key) {
				return i
			}
		} else if int(m.ke-m.ks) == len(key) && string(in.b[m.ks:m.ke]) == key {
			return i
		}
	}
	return -1
}

// memberValue returns the value of in.members[i], decoded once.
func (in *input) memberValue(i int) ref.Val {
	if m := &in.members[i]; in.b[m.vs] == '{' {
		// Objects are found by place among those of the input's storage,
		// so that their values take no room in the cache.
		for k := range in.objs[:in.nobj] {
			if o := &in.objs[k]; o.s == int(m.vs) && !o.extensions {
				return o
			}
		}
		if in.nobj < len(in.objs) {
			o := in.newObject(int(m.vs), int(m.ve))
			if m.split {
				o.first, o.n, o.indexed = int(m.sub), int(m.nsub), true
			}
			return o
		}
	}
	if i < len(in.cache) {
		if v := in.cache[i]; v != nil {
			return v
		}
	} else {
		in.cache = append(in.cache, make([]ref.Val, i+1-len(in.cache))...)
	}
	m := &in.members[i]
	v := in.jsonValue(int(m.vs), int(m.ve))
	if o, ok := v.(*object); ok && m.split {
		o.first, o.n, o.indexed = int(m.sub), int(m.nsub), true
	}
	in.cache[i] = v
	return v
}

// Get implements traits.Indexer.
func (o *object) Get(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Contains implements traits.Container.
func (o *object) Contains(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found && v != nil {
		return v
	}
	return types.Bool(found)
}

// Size implements traits.Sizer.
func (o *object) Size() ref.Val { return types.Int(len(o.keys())) }

// Iterator implements traits.Iterable: it visits the keys.
func (o *object) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, o.keys()).Iterator()
}

// keys returns the distinct keys in document order.
func (o *object) keys() []string {
	ms := o.visible()
	out := make([]string, 0, len(ms))
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if k := string(m.key(o.in.b)); !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// Equal implements ref.Val.
func (o *object) Equal(other ref.Val) ref.Val {
	om, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	if o.Size() != om.Size() {
		return types.False
	}
	for _, k := range o.keys() {
		key := types.String(k)
		mine, _ := o.Find(key)
		theirs, found := om.Find(key)
		if !found || types.Equal(mine, theirs) != types.True {
			return types.False
		}
	}
	return types.True
}

// ConvertToNative implements ref.Val.
func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return types.DefaultTypeAdapter.NativeToValue(o.Value()).ConvertToNative(typeDesc)
}

// ConvertToType implements ref.Val.
func (o *object) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return o
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to '%s'", t)
}

// Type implements ref.Val.
func (o *object) Type() ref.Type { return types.MapType }

// Value implements ref.Val: the object decoded by encoding/json.
func (o *object) Value() any {
	out := map[string]any{}
	for _, m := range o.visible() {
		var v any
		_ = json.Unmarshal(m.val(o.in.b), &v)
		out[string(m.key(o.in.b))] = v
	}
	return out
}

// array is a JSON array seen as a CEL list; it remembers its raw text so
// that it is written back unchanged.
type array struct {
	traits.Lister
	raw []byte
}
