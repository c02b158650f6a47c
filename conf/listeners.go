package conf

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file parses listeners, advertised.listeners and
// listener.security.protocol.map.
//
// A listener is NAME://host:port. The name is any label the operator chooses
// (PLAINTEXT, INTERNAL, REPLICATION, ...); listener.security.protocol.map says
// which security protocol each name speaks. Kafka's default map maps each
// protocol's own name to itself, so "PLAINTEXT://:9092" needs no map entry of
// its own. An empty host binds every interface; when advertised, it stands
// for the machine's canonical host name, which the broker (not conf) resolves.

// SecurityProtocol is a Kafka security protocol. Gregor's network layer
// decides which ones it serves; conf accepts every name Kafka knows.
type SecurityProtocol string

// The security protocols Kafka knows.
const (
	Plaintext     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

// securityProtocols lists the protocols in the order of their Kafka ids.
var securityProtocols = []SecurityProtocol{Plaintext, SSL, SASLPlaintext, SASLSSL}

// ID is the protocol's Kafka id, as UpdateMetadata (v1 and later) carries it
// in a broker endpoint: PLAINTEXT 0, SSL 1, SASL_PLAINTEXT 2, SASL_SSL 3, or
// -1 for an unknown protocol.
func (p SecurityProtocol) ID() int16 {
	return int16(slices.Index(securityProtocols, p))
}

// parseSecurityProtocol reads a protocol name case-insensitively, as Kafka's
// SecurityProtocol.forName does.
func parseSecurityProtocol(s string) (SecurityProtocol, error) {
	p := SecurityProtocol(strings.ToUpper(strings.TrimSpace(s)))
	if p.ID() < 0 {
		return "", fmt.Errorf("unknown security protocol %q (known: %v)", s, securityProtocols)
	}
	return p, nil
}

// Listener is one endpoint of listeners or advertised.listeners.
type Listener struct {
	Name             string // upper case, as Kafka normalises listener names
	SecurityProtocol SecurityProtocol
	Host             string // empty: every interface (listeners) or the canonical host name (advertised)
	Port             int    // 0 in listeners: an ephemeral port, chosen when the socket binds
}

// String writes l as Kafka writes an endpoint: NAME://host:port, with an IPv6
// host in brackets and an empty host as NAME://:port.
func (l Listener) String() string {
	if l.Host == "" {
		return l.Name + "://:" + strconv.Itoa(l.Port)
	}
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// ParseListeners parses a listeners value ("PLAINTEXT://:9092,SSL://h:9093")
// and resolves each listener's security protocol from protocols (the parsed
// listener.security.protocol.map). It fails, naming the problem, on a
// malformed endpoint, a port outside 0-65535, a name missing from protocols,
// two listeners with the same name, or two with the same non-zero port.
func ParseListeners(s string, protocols map[string]SecurityProtocol) ([]Listener, error) {
	return parseListeners(s, protocols, true)
}

// parseListeners is ParseListeners; advertised.listeners passes
// distinctPorts=false because two listeners may be reachable on one port of
// different addresses, or behind a proxy.
//
// An empty value gives an empty, non-nil list: advertised.listeners set to ""
// is not the same as advertised.listeners unset.
func parseListeners(s string, protocols map[string]SecurityProtocol, distinctPorts bool) ([]Listener, error) {
	out := []Listener{}
	for _, item := range splitList(trimJava(s)) {
		if item == "" {
			continue // Kafka's parseCsvList drops empty items
		}
		l, err := parseListener(item)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	if err := resolveListeners(out, protocols, distinctPorts); err != nil {
		return nil, err
	}
	return out, nil
}

// parseListener parses one NAME://host:port. Kafka's pattern accepts host
// names and IPv4 addresses, and IPv6 addresses with or without brackets.
func parseListener(s string) (Listener, error) {
	name, hostPort, ok := cutLast(s, "://")
	if !ok {
		return Listener{}, fmt.Errorf("listener %q is not of the form NAME://host:port", s)
	}
	if name == "" {
		return Listener{}, fmt.Errorf("listener %q has no name", s)
	}
	i := strings.LastIndexByte(hostPort, ':')
	if i < 0 {
		return Listener{}, fmt.Errorf("listener %q has no port", s)
	}
	host, portText := hostPort[:i], hostPort[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for _, c := range host {
		if !isHostChar(c) {
			return Listener{}, fmt.Errorf("listener %q has an invalid host %q", s, host)
		}
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return Listener{}, fmt.Errorf("listener %q has port %q, not a number from 0 to 65535", s, portText)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}

// isHostChar reports whether c may appear in a listener host: Kafka allows
// letters, digits and "-%._:" (the last two for IPv6 and its zone).
func isHostChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-%._:", c)
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// resolveListeners sets (or, for a listener that already has one, checks)
// each listener's security protocol from protocols, and checks that names, and
// when distinctPorts is set non-zero ports, are unique.
func resolveListeners(ls []Listener, protocols map[string]SecurityProtocol, distinctPorts bool) error {
	names := make(map[string]bool, len(ls))
	ports := make(map[int]bool, len(ls))
	for i := range ls {
		l := &ls[i]
		p, ok := protocols[l.Name]
		switch {
		case !ok:
			return fmt.Errorf("listener name %s is not in listener.security.protocol.map", l.Name)
		case l.SecurityProtocol == "":
			l.SecurityProtocol = p
		case l.SecurityProtocol != p:
			return fmt.Errorf("listener %s has security protocol %s but listener.security.protocol.map says %s",
				l.Name, l.SecurityProtocol, p)
		}
		if names[l.Name] {
			return fmt.Errorf("listener name %s is used twice", l.Name)
		}
		names[l.Name] = true
		if distinctPorts && l.Port != 0 {
			if ports[l.Port] {
				return fmt.Errorf("port %d is used by two listeners", l.Port)
			}
			ports[l.Port] = true
		}
	}
	return nil
}

// formatListeners writes ls as a listeners value.
func formatListeners(ls []Listener) string {
	parts := make([]string, len(ls))
	for i, l := range ls {
		parts[i] = l.String()
	}
	return strings.Join(parts, ",")
}

// parseProtocolMap parses listener.security.protocol.map: NAME:PROTOCOL
// pairs separated by commas, names upper-cased as Kafka normalises them.
func parseProtocolMap(s string) (map[string]SecurityProtocol, error) {
	out := make(map[string]SecurityProtocol)
	pairs, err := parseCSVMap(trimJava(s))
	if err != nil {
		return nil, err
	}
	for _, kv := range pairs {
		name := strings.ToUpper(kv[0])
		p, err := parseSecurityProtocol(kv[1])
		if err != nil {
			return nil, err
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("listener name %s is mapped twice", name)
		}
		out[name] = p
	}
	return out, nil
}

// formatProtocolMap writes m sorted by listener name, so that equal maps
// format equally.
func formatProtocolMap(m map[string]SecurityProtocol) string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		names[i] = name + ":" + string(m[name])
	}
	return strings.Join(names, ",")
}

// parseCSVMap splits "k:v,k:v" as Kafka's CoreUtils.parseCsvMap does: items at
// commas, each item at its last colon, white space trimmed. The empty string
// is the empty map.
func parseCSVMap(s string) ([][2]string, error) {
	if s == "" {
		return nil, nil
	}
	var out [][2]string
	for _, item := range splitList(s) {
		k, v, ok := cutLast(item, ":")
		if !ok {
			return nil, fmt.Errorf("item %q is not of the form key:value", item)
		}
		out = append(out, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	return out, nil
}

// parseIPOverrides parses max.connections.per.ip.overrides: host:count pairs.
func parseIPOverrides(s string) (map[string]int, error) {
	pairs, err := parseCSVMap(trimJava(s))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(pairs))
	for _, kv := range pairs {
		host, count := kv[0], kv[1]
		if host == "" || (net.ParseIP(host) == nil && strings.ContainsFunc(host, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.')
		})) {
			return nil, fmt.Errorf("%q is not a host name or IP address", host)
		}
		n, err := strconv.ParseInt(count, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("count %q for %s is not a non-negative int", count, host)
		}
		out[host] = int(n)
	}
	return out, nil
}

func formatIPOverrides(m map[string]int) string {
	hosts := make([]string, 0, len(m))
	for h := range m {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for i, h := range hosts {
		hosts[i] = h + ":" + strconv.Itoa(m[h])
	}
	return strings.Join(hosts, ",")
}
