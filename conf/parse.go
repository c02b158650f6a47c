package conf

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error is one problem with one key: its value breaks a rule. Its message
// reads "key=value: rule", such as "log.segment.bytes=10: must be at least
// 14". Parse, Validate and WithOverrides return every problem at once as an
// errors.Join of *Error values, one per line; errors.As finds the first.
type Error struct {
	Key   string
	Value string // as written in the input, or formatted from the field for a Config built in code
	Rule  string
}

func (e *Error) Error() string {
	return e.Key + "=" + printable(e.Value) + ": " + e.Rule
}

// printable quotes v when it would break the one-line "key=value: rule"
// form: control characters, invalid UTF-8.
func printable(v string) string {
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
		return strconv.Quote(v)
	}
	return v
}

// joinErrors joins errs, keeping only the first error about each key: when
// a value fails to parse, or fails its own rule, rules that relate it to
// other keys would only repeat the news.
func joinErrors(errs []*Error) error {
	seen := make(map[string]bool, len(errs))
	var out []error
	for _, e := range errs {
		if seen[e.Key] {
			continue
		}
		seen[e.Key] = true
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Warning is something in the input that Parse ignored but the operator
// probably wants to know about: an unknown key, or a key overridden by a more
// precise synonym. Warnings name keys but never repeat values, which may be
// secrets (an unknown ssl.keystore.password, say).
type Warning struct {
	Key     string
	Message string
}

func (w Warning) String() string { return w.Key + ": " + w.Message }

// Warnings are the warnings of one Parse, in key order. conf does not log; the
// caller does.
type Warnings []Warning

// Load reads the broker configuration file at path: YAML if the name ends in
// .yaml or .yml, a Java .properties file (Kafka's server.properties)
// otherwise. See Parse for what comes back.
func Load(path string) (*Config, Warnings, error) {
	props, err := ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(props)
}

// ReadFile reads a configuration file's key/value pairs without
// interpreting them: YAML if the name ends in .yaml or .yml, a Java
// .properties file otherwise. The broker's start command merges its
// --override flags into them before Parse.
func ReadFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("conf: %w", err)
	}
	var props map[string]string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		props, err = parseYAML(data)
	default:
		props, err = parseProperties(data)
	}
	if err != nil {
		return nil, fmt.Errorf("conf: %s: %w", path, err)
	}
	return props, nil
}

// Parse builds a Config from key/value pairs with Kafka's key names, as read
// from a properties or YAML file: keys not given take Kafka 2.8's defaults,
// synonyms resolve by Kafka's precedence, and the result is validated.
//
// Unknown keys are not an error; each one produces a Warning. A bad
// configuration returns a nil Config and one error listing every problem
// (see Error).
func Parse(props map[string]string) (*Config, Warnings, error) {
	c, warnings, errs := build(props)
	errs = append(errs, c.check()...)
	if err := joinErrors(errs); err != nil {
		return nil, warnings, err
	}
	return c, warnings, nil
}

// build fills a Config from props and the defaults, without validating it.
// Every non-alias key of the table, in table order, takes the first value
// found along its chain (the key, then its synonyms) in props, or else the
// first default along the chain. It returns the problems found while parsing
// values and decoding them into fields.
func build(props map[string]string) (*Config, Warnings, []*Error) {
	c := &Config{}
	if props != nil {
		c.input = &input{raw: make(map[string]string), origin: make(map[string]string)}
	}
	var warnings Warnings
	var errs []*Error

	// Parse every known key that was given.
	parsed := make(map[string]any, len(props))
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := props[name]
		d := brokerKeys.byName[name]
		if d == nil {
			warnings = append(warnings, Warning{name, unknownKeyMessage(name)})
			continue
		}
		v, err := parseValue(d.typ, raw)
		if err == nil && d.alias() {
			// An alias has no field for Validate to check later.
			if rule := d.rule.apply(v); rule != "" {
				err = errors.New(rule)
			}
		}
		if err != nil {
			errs = append(errs, &Error{name, raw, err.Error()})
			continue
		}
		parsed[name] = v
		c.input.raw[name] = trimJava(raw)
	}

	// Store each field from its chain.
	for i := range brokerKeys.defs {
		d := &brokerKeys.defs[i]
		if d.alias() {
			continue
		}
		stored := false
		for _, src := range brokerKeys.chain(d) {
			v, ok := parsed[src.name]
			if !ok {
				continue
			}
			if stored {
				if src.alias() {
					warnings = append(warnings, Warning{src.name, "ignored: " + c.input.origin[d.name] + " takes precedence"})
				}
				continue
			}
			if err := d.bind.store(c, src.toField(v)); err != nil {
				errs = append(errs, &Error{src.name, c.input.raw[src.name], err.Error()})
				delete(parsed, src.name) // reported; let the rest of the chain and the defaults stand in
				continue
			}
			c.input.origin[d.name] = src.name
			stored = true
		}
		if stored {
			continue
		}
		if v, src, ok := brokerKeys.defaultOf(d); ok {
			// A default can fail to decode only because of another key
			// that was set: listeners' default PLAINTEXT://:9092 when
			// listener.security.protocol.map no longer maps PLAINTEXT.
			if err := d.bind.store(c, src.toField(v)); err != nil {
				errs = append(errs, &Error{d.name, src.dflt, err.Error()})
			}
		}
	}
	sort.SliceStable(warnings, func(i, j int) bool { return warnings[i].Key < warnings[j].Key })
	return c, warnings, errs
}

// unsupportedPrefixes are Kafka broker key prefixes (and whole keys) that
// Gregor recognises but does not implement: security, quotas, metrics
// reporters, plug-in classes and KRaft. Their warning says so, rather than
// calling a key everyone knows "unknown".
var unsupportedPrefixes = []string{
	"ssl.", "sasl.", "listener.name.", "security.providers", "principal.builder.class",
	"connections.max.reauth.ms", "failed.authentication.delay.ms", "authorizer.class.name", "super.users",
	"delegation.token.", "password.encoder.", "zookeeper.ssl.", "zookeeper.clientCnxnSocket",
	"control.plane.listener.name", "metric.reporters", "metrics.", "kafka.metrics.", "quota.",
	"replication.quota.", "alter.log.dirs.replication.quota.", "controller.quota.",
	"client.quota.callback.class", "create.topic.policy.class.name", "alter.config.policy.class.name",
	"replica.selector.class", "num.replica.alter.log.dirs.threads",
	"process.roles", "node.id", "controller.listener.names", "controller.quorum.", "metadata.log.",
	"remote.log.",
}

func unknownKeyMessage(name string) string {
	for _, p := range unsupportedPrefixes {
		if strings.HasPrefix(name, p) {
			return "a Kafka setting Gregor does not support; ignored"
		}
	}
	return "unknown key; ignored"
}
