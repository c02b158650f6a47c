package server

import "os"

// canonicalHostname is what an advertised listener with an empty host
// becomes, as Kafka uses InetAddress.getCanonicalHostName.
func canonicalHostname() string {
	name, err := os.Hostname()
	if err != nil || name == "" {
		return "localhost"
	}
	return name
}
