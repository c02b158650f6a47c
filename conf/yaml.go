package conf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file reads the YAML form of the broker configuration. It uses the
// same keys as server.properties and adds only what YAML makes natural:
//
//	log.dirs: /data/a,/data/b     # flat dotted keys, as in server.properties
//	log:                          # nested maps, joined with dots: log.retention.hours
//	  retention:
//	    hours: 72
//	listeners:                    # lists, joined with commas
//	  - PLAINTEXT://:9092
//	  - INTERNAL://:9093
//
// Scalars become the string Kafka would read: integers in decimal (0x10
// becomes 16), booleans as true/false, everything else as written. A null
// (`broker.rack:` with nothing after it, or ~) leaves the key unset. Anchors,
// aliases and merge keys (<<) work as YAML defines them; a key set twice is an
// error. Quote versions ("2.10") to keep YAML from reading them as numbers.

// maxYAMLNodes bounds the nodes ParseYAML visits, so that a small document
// with nested aliases (a "billion laughs") cannot expand without limit.
const maxYAMLNodes = 100000

// ParseYAML flattens a YAML document into the key/value pairs Parse takes.
func ParseYAML(data []byte) (map[string]string, error) {
	props, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("conf: yaml: %w", err)
	}
	return props, nil
}

// parseYAML is ParseYAML with errors that Load prefixes with the file name.
func parseYAML(data []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		// yaml.v3 starts its messages with "yaml: "; ours say it already.
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	f := flattener{out: make(map[string]string), explicit: make(map[string]bool), budget: maxYAMLNodes}
	if len(doc.Content) == 0 {
		return f.out, nil // an empty document
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return f.out, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: the document must be a mapping of keys to values", root.Line)
	}
	if err := f.mapping("", root, true); err != nil {
		return nil, err
	}
	return f.out, nil
}

type flattener struct {
	out map[string]string
	// explicit marks keys set directly rather than through a merge key:
	// a direct key overrides a merged one, and two direct keys clash.
	explicit map[string]bool
	budget   int
}

// mapping flattens the pairs of a mapping node under prefix. Merge keys (<<)
// are applied after the mapping's own keys, which therefore win.
func (f *flattener) mapping(prefix string, n *yaml.Node, explicit bool) error {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a key must be a plain string", k.Line)
		}
		name := k.Value
		if prefix != "" {
			name = prefix + "." + name
		}
		if err := f.value(name, v, explicit); err != nil {
			return err
		}
	}
	for _, m := range merges {
		if err := f.merge(prefix, m); err != nil {
			return err
		}
	}
	return nil
}

// merge applies the value of a merge key: a mapping or a list of mappings.
func (f *flattener) merge(prefix string, n *yaml.Node) error {
	if n = resolveAlias(n); n.Kind == yaml.SequenceNode {
		for _, item := range n.Content {
			if err := f.merge(prefix, item); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a merge key (<<) must refer to a mapping", n.Line)
	}
	return f.mapping(prefix, n, false)
}

func (f *flattener) value(name string, n *yaml.Node, explicit bool) error {
	if f.budget--; f.budget < 0 {
		return fmt.Errorf("line %d: the document expands to more than %d values", n.Line, maxYAMLNodes)
	}
	switch n = resolveAlias(n); n.Kind {
	case yaml.MappingNode:
		return f.mapping(name, n, explicit)
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, item := range n.Content {
			if f.budget--; f.budget < 0 {
				return fmt.Errorf("line %d: the document expands to more than %d values", n.Line, maxYAMLNodes)
			}
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: %s: list items must be plain values", item.Line, name)
			}
			items = append(items, scalarString(item))
		}
		return f.set(name, strings.Join(items, ","), n.Line, explicit)
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil
		}
		return f.set(name, scalarString(n), n.Line, explicit)
	}
	return fmt.Errorf("line %d: %s: unsupported YAML value", n.Line, name)
}

func (f *flattener) set(name, value string, line int, explicit bool) error {
	if _, exists := f.out[name]; exists {
		if !explicit {
			return nil // a merged value never overrides
		}
		if f.explicit[name] {
			return fmt.Errorf("line %d: %s is set twice", line, name)
		}
	}
	f.out[name] = value
	f.explicit[name] = explicit
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// scalarString returns the string Kafka should read for a scalar: as written,
// except integers and floats in forms Java would not parse (0x10, 1_000,
// .inf), which are rewritten in decimal, and booleans, which are lower-cased.
func scalarString(n *yaml.Node) string {
	switch n.Tag {
	case "!!int":
		if _, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return n.Value
		}
		var i int64
		if n.Decode(&i) == nil {
			return strconv.FormatInt(i, 10)
		}
	case "!!float":
		if _, ok := parseJavaDouble(n.Value); ok && !strings.ContainsAny(n.Value, "_iInN") {
			return n.Value
		}
		var f float64
		if n.Decode(&f) == nil {
			return formatJavaDouble(f)
		}
	case "!!bool":
		var b bool
		if n.Decode(&b) == nil {
			return strconv.FormatBool(b)
		}
	}
	return n.Value
}
