package conf

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// ZooKeeper is the parsed zookeeper.connect: the ensemble's servers and the
// optional chroot under which the broker keeps every znode.
//
// zookeeper.connect reads "host:port,host:port/chroot", as the ZooKeeper
// client's connect string does: everything from the first '/' on is the
// chroot, which is how several Kafka clusters (or parallel tests) share one
// ensemble without seeing each other's znodes.
type ZooKeeper struct {
	// Servers are host:port pairs; a server given without a port gets
	// ZooKeeper's client port 2181, as the ZooKeeper client does.
	Servers []string
	// Chroot is "" or an absolute znode path such as "/kafka" (never
	// ending in '/'). zkutil prefixes every path with it.
	Chroot string
}

// String writes z back in zookeeper.connect form.
func (z ZooKeeper) String() string {
	return strings.Join(z.Servers, ",") + z.Chroot
}

// defaultZooKeeperPort is the port the ZooKeeper client assumes for a server
// given without one.
const defaultZooKeeperPort = "2181"

// ParseZooKeeperConnect parses a zookeeper.connect value such as
// "zk1:2181,zk2:2181/kafka". The chroot, if any, must be a valid ZooKeeper
// path: it starts with '/', does not end with '/', and has no empty, "." or
// ".." segments and no control characters. A lone "/" means no chroot, as it
// does to the ZooKeeper client.
func ParseZooKeeperConnect(s string) (ZooKeeper, error) {
	s = trimJava(s)
	if s == "" {
		return ZooKeeper{}, fmt.Errorf("must list at least one ZooKeeper server")
	}
	var z ZooKeeper
	servers := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		servers, z.Chroot = s[:i], s[i:]
		if z.Chroot == "/" {
			z.Chroot = ""
		}
		if err := checkChroot(z.Chroot); err != nil {
			return ZooKeeper{}, err
		}
	}
	for _, server := range strings.Split(servers, ",") {
		server = strings.TrimSpace(server)
		if server == "" {
			continue
		}
		hostPort, err := checkZooKeeperServer(server)
		if err != nil {
			return ZooKeeper{}, err
		}
		z.Servers = append(z.Servers, hostPort)
	}
	if len(z.Servers) == 0 {
		return ZooKeeper{}, fmt.Errorf("must list at least one ZooKeeper server")
	}
	return z, nil
}

// checkZooKeeperServer checks one host[:port] and returns it as host:port.
func checkZooKeeperServer(server string) (string, error) {
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		// No port (or a bare IPv6 address): ZooKeeper's default port.
		host, port = strings.TrimSuffix(strings.TrimPrefix(server, "["), "]"), defaultZooKeeperPort
		if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
			return "", fmt.Errorf("server %q is not of the form host:port", server)
		}
	}
	if host == "" {
		return "", fmt.Errorf("server %q has no host", server)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("server %q has port %q, not a number from 1 to 65535", server, port)
	}
	return net.JoinHostPort(host, port), nil
}

// checkChroot applies ZooKeeper's path rules (PathUtils.validatePath) to a
// chroot.
func checkChroot(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasSuffix(p, "/") {
		return fmt.Errorf("chroot %q must not end with /", p)
	}
	for _, segment := range strings.Split(p[1:], "/") {
		switch segment {
		case "":
			return fmt.Errorf("chroot %q has an empty path segment", p)
		case ".", "..":
			return fmt.Errorf("chroot %q has a relative segment %q", p, segment)
		}
	}
	for _, c := range p {
		if c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff) {
			return fmt.Errorf("chroot %q has the invalid character %U", p, c)
		}
	}
	return nil
}
