package routes

import (
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// jsonValue turns a validated raw JSON value into a CEL value: strings,
// booleans and null directly, numbers as doubles (CEL's JSON convention),
// objects as lazy maps that decode only the members an expression reads,
// and arrays as lists of such values.
func (in *input) jsonValue(raw []byte) ref.Val {
	switch raw[0] {
	case '"':
		return types.String(unquote(raw))
	case '{':
		return in.newObject(raw)
	case '[':
		elems := arrayElements(raw)
		vals := make([]ref.Val, len(elems))
		for i, e := range elems {
			vals[i] = in.jsonValue(e)
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
	in      *input
	raw     []byte
	members []member
	indexed bool
	// skip hides members (the extensions view of a structured-mode
	// CloudEvent hides its context attributes and data).
	skip func(key []byte) bool
}

var (
	_ traits.Mapper = (*object)(nil)
	_ traits.Lister = (*array)(nil)
)

func (o *object) index() []member {
	if !o.indexed {
		o.indexed = true
		in := o.in
		start := len(in.members)
		in.members = objectMembers(in.members, o.raw)
		all := in.members[start:len(in.members):len(in.members)]
		if o.skip == nil {
			o.members = all
		} else {
			for _, m := range all {
				if !o.skip(m.key) {
					o.members = append(o.members, m)
				}
			}
		}
	}
	return o.members
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
	ms := o.index()
	// The last duplicate wins, as in encoding/json.
	for i := len(ms) - 1; i >= 0; i-- {
		if string(ms[i].key) == string(k) {
			if ms[i].v == nil {
				ms[i].v = o.in.jsonValue(ms[i].val)
			}
			return ms[i].v, true
		}
	}
	return nil, false
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
	ms := o.index()
	out := make([]string, 0, len(ms))
	seen := make(map[string]bool, len(ms))
	for _, m := range ms {
		if k := string(m.key); !seen[k] {
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
	for _, m := range o.index() {
		var v any
		_ = json.Unmarshal(m.val, &v)
		out[string(m.key)] = v
	}
	return out
}

// array is a JSON array seen as a CEL list; it remembers its raw text so
// that it is written back unchanged.
type array struct {
	traits.Lister
	raw []byte
}
