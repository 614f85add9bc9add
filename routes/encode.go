package routes

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// appendJSON appends v, the result of an expression, as JSON. Objects and
// arrays read from the product event are copied as they were written; maps
// built by an expression are written with their keys sorted, so that the
// output does not depend on map iteration order. Timestamps become RFC 3339
// strings, durations CEL's JSON form ("3600s"), bytes base64, an empty
// optional null.
func appendJSON(dst []byte, v ref.Val) ([]byte, error) {
	return appendDepth(dst, v, 0)
}

func appendDepth(dst []byte, v ref.Val, depth int) ([]byte, error) {
	if depth > maxDepth {
		return dst, fmt.Errorf("value nested too deeply")
	}
	switch x := v.(type) {
	case types.String:
		return appendString(dst, string(x)), nil
	case types.Bool:
		return strconv.AppendBool(dst, bool(x)), nil
	case types.Null:
		return append(dst, "null"...), nil
	case types.Int:
		return strconv.AppendInt(dst, int64(x), 10), nil
	case types.Uint:
		return strconv.AppendUint(dst, uint64(x), 10), nil
	case types.Double:
		return appendFloat(dst, float64(x))
	case types.Bytes:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, []byte(x))
		return append(dst, '"'), nil
	case types.Timestamp:
		dst = append(dst, '"')
		dst = x.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"'), nil
	case types.Duration:
		dst = append(dst, '"')
		dst = strconv.AppendFloat(dst, x.Duration.Seconds(), 'f', -1, 64)
		return append(dst, 's', '"'), nil
	case *types.Optional:
		if !x.HasValue() {
			return append(dst, "null"...), nil
		}
		return appendDepth(dst, x.GetValue(), depth+1)
	case *object:
		if !x.extensions {
			return append(dst, x.raw()...), nil
		}
		return appendMap(dst, x, depth)
	case *array:
		return append(dst, x.raw...), nil
	case *types.Err:
		return dst, x
	case traits.Mapper:
		return appendMap(dst, x, depth)
	case traits.Lister:
		dst = append(dst, '[')
		n, _ := x.Size().(types.Int)
		for i := types.Int(0); i < n; i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendDepth(dst, x.Get(i), depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return dst, fmt.Errorf("a value of type %s cannot be written as JSON", v.Type().TypeName())
}

func appendMap(dst []byte, m traits.Mapper, depth int) ([]byte, error) {
	var keys []string
	for it := m.Iterator(); it.HasNext() == types.True; {
		k, ok := it.Next().(types.String)
		if !ok {
			return dst, fmt.Errorf("a map written as JSON must have string keys")
		}
		keys = append(keys, string(k))
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		v, _ := m.Find(types.String(k))
		var err error
		if dst, err = appendDepth(dst, v, depth+1); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// appendFloat writes f as encoding/json does.
func appendFloat(dst []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return dst, fmt.Errorf("number %v cannot be written as JSON", f)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst, nil
}
