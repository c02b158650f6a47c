package conf

// This file answers "what is the value of each key, and where does it come
// from?", the question DescribeConfigs asks about a broker or a topic.
//
// Sources follow Kafka (KIP-226). A broker key is STATIC_BROKER_CONFIG when
// the file set it (or one of its synonyms) and DEFAULT_CONFIG otherwise. A
// topic key is DYNAMIC_TOPIC_CONFIG when the topic overrides it, and
// otherwise takes the source of the broker key its default comes from.
// Synonyms list every place a value could come from, most precise first:
// the topic override, then the broker keys set in the file, then the broker
// defaults.
//
// One difference from Kafka: where a broker key's Kafka default is null but
// a synonym supplies the value (log.retention.ms from log.retention.hours,
// advertised.listeners from listeners), Kafka reports the value as null and
// Gregor reports the value in effect. That is what an operator looking at
// the broker wants to see, and it is what Kafka itself reports for the
// corresponding topic key (retention.ms).

// Source says where a configuration value comes from. The numbers are
// Kafka's ConfigSource ids, which DescribeConfigs (v1 and later) sends.
type Source int8

// The sources Kafka defines. Gregor reports SourceDynamicTopic,
// SourceStaticBroker and SourceDefault; it has no dynamic broker
// configuration.
const (
	SourceUnknown              Source = 0
	SourceDynamicTopic         Source = 1
	SourceDynamicBroker        Source = 2
	SourceDynamicDefaultBroker Source = 3
	SourceStaticBroker         Source = 4
	SourceDefault              Source = 5
	SourceDynamicBrokerLogger  Source = 6
)

var sourceNames = []string{
	"UNKNOWN", "DYNAMIC_TOPIC_CONFIG", "DYNAMIC_BROKER_CONFIG", "DYNAMIC_DEFAULT_BROKER_CONFIG",
	"STATIC_BROKER_CONFIG", "DEFAULT_CONFIG", "DYNAMIC_BROKER_LOGGER_CONFIG",
}

// String returns Kafka's name for s, such as STATIC_BROKER_CONFIG.
func (s Source) String() string {
	if s >= 0 && int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return sourceNames[0]
}

// Entry describes one key's current value, as a DescribeConfigs response
// carries it.
type Entry struct {
	Name string
	// Value is the value in Kafka's string form, or nil where Kafka reports
	// null: a key with no value and no default (broker.rack unset), or a
	// sensitive key.
	Value     *string
	Source    Source
	ReadOnly  bool
	Sensitive bool
	Type      Type
	Doc       string
	// Synonyms are the places the value could come from, most precise
	// first; the first one is where it does come from.
	Synonyms []Synonym
}

// Synonym is one place a key's value could come from.
type Synonym struct {
	Name   string
	Value  *string
	Source Source
}

// Describe returns an Entry for every broker key, in table order.
func (c *Config) Describe() []Entry {
	defaults := Default()
	out := make([]Entry, len(brokerKeys.defs))
	for i := range brokerKeys.defs {
		out[i] = c.describe(&brokerKeys.defs[i], defaults)
	}
	return out
}

// DescribeKey returns the Entry of one broker key, and false if there is no
// such key.
func (c *Config) DescribeKey(name string) (Entry, bool) {
	d := brokerKeys.byName[name]
	if d == nil {
		return Entry{}, false
	}
	return c.describe(d, Default()), true
}

func (c *Config) describe(d *def[Config], defaults *Config) Entry {
	e := Entry{
		Name: d.name, Source: SourceDefault, ReadOnly: true,
		Sensitive: d.typ == TypePassword, Type: d.typ, Doc: d.doc,
		Synonyms: c.synonyms(d, defaults),
	}
	if len(e.Synonyms) > 0 {
		e.Source = e.Synonyms[0].Source
	}
	switch {
	case e.Sensitive:
		for i := range e.Synonyms {
			e.Synonyms[i].Value = nil
		}
	case d.alias():
		// No field: the value is what the file or the default says.
		if len(e.Synonyms) > 0 {
			e.Value = e.Synonyms[0].Value
		}
	case e.Source == SourceDefault && !d.noDefault:
		e.Value = new(d.dflt) // Kafka's own spelling of its default
	default:
		if v := formatValue(d.current(c)); v != "" || !d.noDefault {
			e.Value = &v
		}
	}
	return e
}

// synonyms lists where d's value could come from: the keys of its chain set
// in the input (for a Config changed in code, d itself when it differs from
// its default), then the chain's defaults.
func (c *Config) synonyms(d *def[Config], defaults *Config) []Synonym {
	chain := brokerKeys.chain(d)
	var out []Synonym
	if c.input != nil {
		for _, k := range chain {
			if raw, ok := c.input.raw[k.name]; ok {
				out = append(out, Synonym{k.name, new(raw), SourceStaticBroker})
			}
		}
	} else if !d.alias() {
		if v := formatValue(d.current(c)); v != formatValue(d.current(defaults)) {
			out = append(out, Synonym{d.name, &v, SourceStaticBroker})
		}
	}
	for _, k := range chain {
		if !k.noDefault {
			out = append(out, Synonym{k.name, new(k.dflt), SourceDefault})
		}
	}
	return out
}
