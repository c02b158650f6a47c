package zkutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Kafka writes znode JSON with Jackson: compact, keys in the order of its
// (small Scala) maps, '<', '>' and '&' not escaped. The encoders here
// write the same bytes, field order included, so that Kafka's tools and
// brokers, and the golden files under testdata/, see what Kafka would
// write. Go's encoding/json keeps a struct's field order; maps keyed by
// partition are written in numeric order by partitionMap.

// marshal encodes v compactly without HTML escaping.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own wire structs are marshalled: a failure is a bug.
		panic("zkutil: marshal " + fmt.Sprintf("%T", v) + ": " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// unmarshal decodes one JSON document into v; what is not JSON, or not
// of v's shape, is ErrMalformed naming what.
func unmarshal(what string, data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return malformed(what, err)
	}
	return nil
}

// partitionMap is a JSON object keyed by partition number: {"0":[1,2]}.
// It is written in numeric key order and read strictly: keys are int32
// partition numbers (no two spelling the same number), values are arrays
// of int32 (never null).
type partitionMap map[int32][]int32

func (m partitionMap) MarshalJSON() ([]byte, error) {
	keys := make([]int32, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"` + strconv.Itoa(int(k)) + `":`)
		buf.Write(int32Array(m[k]))
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (m *partitionMap) UnmarshalJSON(b []byte) error {
	var raw map[string]*[]int32
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if raw == nil {
		return fmt.Errorf("partition map is null")
	}
	out := make(partitionMap, len(raw))
	for k, v := range raw {
		p, err := strconv.ParseInt(k, 10, 32)
		if err != nil || p < 0 {
			return fmt.Errorf("partition %q is not a partition number", k)
		}
		if _, dup := out[int32(p)]; dup {
			return fmt.Errorf("partition %d appears twice", p)
		}
		if v == nil {
			return fmt.Errorf("partition %d has null replicas", p)
		}
		out[int32(p)] = append([]int32{}, (*v)...)
	}
	*m = out
	return nil
}

// int32Array writes ids as a JSON array; nil is [].
func int32Array(ids []int32) []byte {
	b := []byte{'['}
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return append(b, ']')
}

// int32s is a JSON array of int32 that writes nil as [] and refuses null
// when read.
type int32s []int32

func (a int32s) MarshalJSON() ([]byte, error) { return int32Array(a), nil }

func (a *int32s) UnmarshalJSON(b []byte) error {
	var v *[]int32
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v == nil {
		return fmt.Errorf("array is null")
	}
	*a = append(int32s{}, (*v)...)
	return nil
}

// decimalString is an int64 that Kafka writes as a JSON string
// ("timestamp":"1620000000000", "block_start":"0").
type decimalString int64

func (d decimalString) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(d), 10) + `"`), nil
}

func (d *decimalString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n, err := parseDecimal(s)
	if err != nil {
		return err
	}
	*d = decimalString(n)
	return nil
}

// parseDecimal reads a decimal int64 as Java's Long.parseLong does: an
// optional sign and digits, nothing else.
func parseDecimal(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty number")
	}
	for i, c := range s {
		if !(c >= '0' && c <= '9' || i == 0 && (c == '+' || c == '-') && len(s) > 1) {
			return 0, fmt.Errorf("%q is not a decimal integer", s)
		}
	}
	return strconv.ParseInt(s, 10, 64)
}
