package conf

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds the machinery behind the key tables (keys_server.go,
// keys_log.go and topic_keys.go): what a key definition is, how a value is
// parsed from and formatted to Kafka's string form, and how it lands in a
// field of Config or TopicConfig.
//
// A value travels in three forms:
//
//	raw string  --parseValue-->  Kafka value  --toField-->  field value
//	"168"                        int64(168)                 168*time.Hour
//
// The Kafka value is what Kafka's ConfigDef would hold: int64 for INT, SHORT
// and LONG, float64 for DOUBLE, bool, string, and []string for LIST. Rules
// check Kafka values and formatValue prints them, so a rule or an error
// message reads in the key's own unit ("log.roll.hours=0: must be at least
// 1") whatever type the field has. The field value is what the binding
// stores: the same thing, except that keys with a unit become time.Duration
// and a few keys (listeners, zookeeper.connect, ...) are decoded into their
// own types by custom bindings, whose Kafka value is the plain string.

// Type is the type of a key's value as Kafka's ConfigDef names it. The numbers
// are the ones DescribeConfigs (v3 and later) puts on the wire.
type Type int8

// The Kafka config types. Gregor defines no CLASS or PASSWORD keys today; they
// are here so that the numbering is complete.
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3
	TypeShort    Type = 4
	TypeLong     Type = 5
	TypeDouble   Type = 6
	TypeList     Type = 7
	TypeClass    Type = 8
	TypePassword Type = 9
)

var typeNames = map[Type]string{
	TypeBoolean: "BOOLEAN", TypeString: "STRING", TypeInt: "INT", TypeShort: "SHORT",
	TypeLong: "LONG", TypeDouble: "DOUBLE", TypeList: "LIST", TypeClass: "CLASS", TypePassword: "PASSWORD",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "UNKNOWN"
}

// Key describes one configuration key: what `gregor` can print as reference
// documentation and what DescribeConfigs reports besides the value.
type Key struct {
	Name string
	Type Type
	// Default is Kafka 2.8's default in .properties syntax. It is meaningful
	// only when HasDefault is set: Kafka's null default is "no value", which
	// for several keys means "take the value of a synonym" (see Synonyms).
	Default    string
	HasDefault bool
	// Valid describes the accepted values in words ("at least 14"); empty
	// when every value of the type is accepted.
	Valid string
	Doc   string
	// Synonyms are the broker keys consulted, in order, when this key is not
	// set: log.retention.ms falls back to log.retention.minutes and then to
	// log.retention.hours. Kafka calls them synonyms (KIP-226).
	Synonyms []string
	// ServerDefault is, for a topic key, the broker key its default comes
	// from (segment.ms takes log.roll.ms).
	ServerDefault string
	// ReadOnly is set for every broker key: Gregor has no dynamic broker
	// configuration, so they change only with a restart.
	ReadOnly bool
	// Sensitive keys have their values hidden by DescribeConfigs.
	Sensitive bool
}

// def is one row of a key table: a key definition for the struct S it lands
// in (Config or TopicConfig). The tables are built once and never modified.
type def[S any] struct {
	name      string
	typ       Type
	dflt      string // Kafka's default, unless noDefault
	noDefault bool   // Kafka's default is null
	// unit is what one count of the Kafka value means, for keys whose field
	// is a time.Duration: time.Millisecond for log.roll.ms, time.Hour for
	// log.roll.hours.
	unit     time.Duration
	rule     rule
	synonyms []string // lower-precedence keys consulted when this one is unset
	server   string   // topic keys: the broker key giving the default
	doc      string
	// bind stores into and loads from the key's field. An alias such as
	// log.retention.hours has no field of its own (a zero bind): its value
	// only ever reaches the struct through the key that lists it among its
	// synonyms.
	bind binding[S]
}

func (d *def[S]) alias() bool { return d.bind.store == nil }

// key returns the exported description of d.
func (d *def[S]) key(readOnly bool) Key {
	return Key{
		Name: d.name, Type: d.typ, Default: d.dflt, HasDefault: !d.noDefault,
		Valid: d.rule.desc, Doc: d.doc, Synonyms: append([]string(nil), d.synonyms...),
		ServerDefault: d.server, ReadOnly: readOnly, Sensitive: d.typ == TypePassword,
	}
}

// toField converts a Kafka value of this key to its field value.
func (d *def[S]) toField(v any) any {
	if d.unit != 0 {
		return countToDuration(v.(int64), d.unit)
	}
	return v
}

// toKafka converts a field value of this key to its Kafka value.
func (d *def[S]) toKafka(v any) any {
	if d.unit != 0 {
		return durationToCount(v.(time.Duration), d.unit)
	}
	return v
}

// current returns the Kafka value of this key's field in s.
func (d *def[S]) current(s *S) any { return d.toKafka(d.bind.load(s)) }

// binding is how a key's value lands in a field of S. store receives a field
// value and fails only for custom decodings (a listener list that names an
// unknown listener); load returns the field value.
type binding[S any] struct {
	store func(s *S, v any) error
	load  func(s *S) any
}

// integer binds an INT, SHORT or LONG key to an integer field. The parser has
// already checked that the value fits the key's type; Validate checks it
// again for a Config built in code.
func integer[S any, T ~int | ~int16 | ~int32 | ~int64](field func(*S) *T) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error { *field(s) = T(v.(int64)); return nil },
		load:  func(s *S) any { return int64(*field(s)) },
	}
}

// duration binds a key that has a unit to a time.Duration field.
func duration[S any](field func(*S) *time.Duration) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error { *field(s) = v.(time.Duration); return nil },
		load:  func(s *S) any { return *field(s) },
	}
}

// retention binds a broker retention key, where Kafka treats every negative
// value as "unlimited" and reports it as -1, to a time.Duration field holding
// Unlimited in that case.
func retention[S any](field func(*S) *time.Duration) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error {
			d := v.(time.Duration)
			if d < 0 {
				d = Unlimited
			}
			*field(s) = d
			return nil
		},
		load: func(s *S) any { return *field(s) },
	}
}

func boolean[S any](field func(*S) *bool) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error { *field(s) = v.(bool); return nil },
		load:  func(s *S) any { return *field(s) },
	}
}

func double[S any](field func(*S) *float64) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error { *field(s) = v.(float64); return nil },
		load:  func(s *S) any { return *field(s) },
	}
}

func text[S any, T ~string](field func(*S) *T) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error { *field(s) = T(v.(string)); return nil },
		load:  func(s *S) any { return string(*field(s)) },
	}
}

// list binds a LIST key. It stores a copy, so that a TopicConfig shares no
// slice with the Config its defaults came from.
func list[S any](field func(*S) *[]string) binding[S] {
	return binding[S]{
		store: func(s *S, v any) error { *field(s) = slices.Clone(v.([]string)); return nil },
		load:  func(s *S) any { return *field(s) },
	}
}

// Unlimited is the retention (log.retention.ms, retention.ms) that never
// deletes by time: Kafka's -1.
const Unlimited = -time.Millisecond

// Forever is the saturated time.Duration that stands for Kafka's
// Long.MaxValue milliseconds ("never"), the default of log.flush.interval.ms,
// log.cleaner.max.compaction.lag.ms and log.message.timestamp.difference.max.ms.
// Long.MaxValue ms does not fit a time.Duration, so every count beyond about
// 292 years saturates to Forever, and Forever is reported back as
// Long.MaxValue.
const Forever = time.Duration(math.MaxInt64)

func countToDuration(n int64, unit time.Duration) time.Duration {
	switch {
	case n > int64(math.MaxInt64/unit):
		return Forever
	case n < int64(math.MinInt64/unit):
		return math.MinInt64
	}
	return time.Duration(n) * unit
}

func durationToCount(d, unit time.Duration) int64 {
	switch d {
	case Forever:
		return math.MaxInt64
	case math.MinInt64:
		return math.MinInt64
	}
	return int64(d / unit)
}

// trimJava trims as Java's String.trim, which Kafka's ConfigDef applies to
// every value: everything up to and including the space character goes.
func trimJava(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// parseValue parses raw as a value of type t, as Kafka's ConfigDef does. The
// error is the rule broken ("not a valid int"), for the caller to put next to
// the key and the raw value.
func parseValue(t Type, raw string) (any, error) {
	s := trimJava(raw)
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(s, "true"):
			return true, nil
		case strings.EqualFold(s, "false"):
			return false, nil
		}
		return nil, errors.New("not a valid boolean")
	case TypeInt, TypeShort, TypeLong:
		bits := map[Type]int{TypeInt: 32, TypeShort: 16, TypeLong: 64}[t]
		n, err := strconv.ParseInt(s, 10, bits)
		if err != nil {
			return nil, errors.New("not a valid " + strings.ToLower(t.String()))
		}
		return n, nil
	case TypeDouble:
		f, ok := parseJavaDouble(s)
		if !ok {
			return nil, errors.New("not a valid double")
		}
		return f, nil
	case TypeList:
		return splitList(s), nil
	}
	return s, nil
}

// parseJavaDouble accepts what Java's Double.parseDouble does for the values
// people write: decimal and exponent forms, an optional d/f suffix, NaN and
// Infinity.
func parseJavaDouble(s string) (float64, bool) {
	if n := len(s); n > 1 && strings.ContainsRune("dDfF", rune(s[n-1])) &&
		(s[n-2] == '.' || (s[n-2] >= '0' && s[n-2] <= '9')) {
		s = s[:n-1] // Java's type suffix: 0.5d, 1f
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// splitList splits a LIST value as Kafka does: on commas with any white space
// around them, keeping empty items ("a,,b" has three), and "" is the empty
// list.
func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	items := strings.Split(s, ",")
	for i, item := range items {
		items[i] = strings.Trim(item, " \t\n\v\f\r")
	}
	return items
}

// formatValue writes a Kafka value in Kafka's string form, the form that
// DescribeConfigs reports and that parseValue reads back.
func formatValue(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return formatJavaDouble(v)
	case bool:
		return strconv.FormatBool(v)
	case []string:
		return strings.Join(v, ",")
	case string:
		return v
	}
	panic("conf: formatValue of unexpected type") // a binding returned something else: a bug in a table
}

// formatJavaDouble writes f as Java's Double.toString does (0.5, 1.0E7,
// 1.7976931348623157E308), so that doubles read the same here as in Kafka.
func formatJavaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if abs := math.Abs(f); abs == 0 || (abs >= 1e-3 && abs < 1e7) {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // 1.7976931348623157E+308, 1E+07
	mantissa, exponent, _ := strings.Cut(s, "E")
	if !strings.Contains(mantissa, ".") {
		mantissa += ".0"
	}
	return mantissa + "E" + strings.TrimPrefix(exponent, "+")
}

// table indexes a key table by name.
type table[S any] struct {
	defs   []def[S]
	byName map[string]*def[S]
}

func newTable[S any](defs []def[S]) *table[S] {
	t := &table[S]{defs: defs, byName: make(map[string]*def[S], len(defs))}
	for i := range defs {
		if _, dup := t.byName[defs[i].name]; dup {
			panic("conf: key " + defs[i].name + " defined twice") // a bug in a table
		}
		t.byName[defs[i].name] = &t.defs[i]
	}
	return t
}

// chain returns d followed by its synonyms: the keys consulted, in order, for
// d's value.
func (t *table[S]) chain(d *def[S]) []*def[S] {
	out := []*def[S]{d}
	for _, name := range d.synonyms {
		out = append(out, t.byName[name])
	}
	return out
}

// defaultOf returns the Kafka value d's field takes when none of its chain is
// set, the key it comes from, and false when every key of the chain defaults
// to null.
func (t *table[S]) defaultOf(d *def[S]) (any, *def[S], bool) {
	for _, c := range t.chain(d) {
		if c.noDefault {
			continue
		}
		v, err := parseValue(c.typ, c.dflt)
		if err != nil {
			panic("conf: default of " + c.name + ": " + err.Error()) // a bug in a table
		}
		return v, c, true
	}
	return nil, nil, false
}

// Keys describes every broker key Gregor knows, in the order of its table.
func Keys() []Key {
	out := make([]Key, len(brokerKeys.defs))
	for i := range brokerKeys.defs {
		out[i] = brokerKeys.defs[i].key(true)
	}
	return out
}

// TopicKeys describes every topic-level key, in the order of its table.
func TopicKeys() []Key {
	out := make([]Key, len(topicKeys.defs))
	for i := range topicKeys.defs {
		out[i] = topicKeys.defs[i].key(false)
	}
	return out
}
