package conf

import (
	"net"
	"strconv"
)

// GregorKeyPrefix starts the name of every key that is Gregor's own rather
// than Kafka's. Kafka has no key under "gregor.", so a server.properties
// written for Kafka never sets one by accident, and Kafka ignores (with a
// warning) a file written for Gregor that does.
const GregorKeyPrefix = "gregor."

// gregorDefs is the table of Gregor's own broker keys: switches for what
// Gregor does differently from Kafka, or adds. They are parsed, validated
// and described like Kafka's keys (DescribeConfigs lists them too, read-only
// and with source DEFAULT_CONFIG or STATIC_BROKER_CONFIG), but their
// defaults are Gregor's choice, not Kafka 2.8's.
func gregorDefs() []def[Config] {
	return []def[Config]{
		{name: "gregor.fetch.zero.copy", typ: TypeBoolean, dflt: "true",
			doc: "Gregor: on PLAINTEXT listeners, send fetched record bytes from the segment files " +
				"to the socket with sendfile(2) instead of copying them through memory; false copies " +
				"(to compare the two, or on a file system where sendfile misbehaves).",
			bind: boolean(func(c *Config) *bool { return &c.FetchZeroCopy })},
		{name: "gregor.pprof.listener", typ: TypeString, dflt: "", rule: hostPortOrEmpty(),
			doc: "Gregor: host:port of an HTTP listener serving Go's net/http/pprof profiles under " +
				"/debug/pprof/; empty (the default) starts none. Unauthenticated: bind it to loopback.",
			bind: text(func(c *Config) *string { return &c.PprofListener })},
	}
}

// hostPortOrEmpty accepts "" or host:port with a numeric port from 0 to
// 65535 (the host may be empty, meaning every interface).
func hostPortOrEmpty() rule {
	return rule{
		desc: "empty, or host:port",
		check: func(v any) string {
			s := v.(string)
			if s == "" {
				return ""
			}
			_, port, err := net.SplitHostPort(s)
			if err != nil {
				return "must be empty or host:port"
			}
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || p > 65535 {
				return "must be empty or host:port with a port from 0 to 65535"
			}
			return ""
		},
	}
}
