package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// errStopped is acquire's answer when the server stops while it waits.
var errStopped = errors.New("network: server stopped")

// connectionQuotas counts connections for max.connections and
// max.connections.per.ip, as Kafka's ConnectionQuotas does. Safe for
// concurrent use.
type connectionQuotas struct {
	maxTotal int
	maxPerIP int
	// overrides is set by Run, before any acceptor starts, and read-only
	// after.
	overrides map[netip.Addr]int

	mu    sync.Mutex // guards the fields below; a leaf lock
	total int
	perIP map[netip.Addr]int
	// freed is non-nil while an acceptor waits for a slot; release closes
	// it (and clears it) to wake every waiter.
	freed chan struct{}
}

func newConnectionQuotas(maxTotal, maxPerIP int) *connectionQuotas {
	return &connectionQuotas{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: make(map[netip.Addr]int)}
}

// acquire counts a new connection from ip. Unless protected, it first
// waits while the broker is at maxTotal, which stops the acceptor that
// calls it: Kafka's acceptor likewise blocks in ConnectionQuotas.inc, and
// further connections wait in the kernel's accept queue. It returns
// errStopped if stop closes first, and an error naming the limit when ip
// is at its own limit (the caller closes the connection).
func (q *connectionQuotas) acquire(protected bool, ip netip.Addr, stop <-chan struct{}) error {
	q.mu.Lock()
	for !protected && q.total >= q.maxTotal {
		if q.freed == nil {
			q.freed = make(chan struct{})
		}
		freed := q.freed
		q.mu.Unlock()
		select {
		case <-freed:
		case <-stop:
			return errStopped
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	limit := q.maxPerIP
	if n, ok := q.overrides[ip]; ok {
		limit = n
	}
	if q.perIP[ip] >= limit {
		return fmt.Errorf("network: address %s already has the configured maximum of %d connections", ip, limit)
	}
	q.perIP[ip]++
	q.total++
	return nil
}

// release uncounts a connection acquire counted.
func (q *connectionQuotas) release(ip netip.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.perIP[ip]--; q.perIP[ip] <= 0 {
		delete(q.perIP, ip)
	}
	q.total--
	if q.freed != nil {
		close(q.freed)
		q.freed = nil
	}
}

// excess is how many connections are over maxTotal: only protected
// connections get past it, and each one accepted past it closes one
// connection of another listener.
func (q *connectionQuotas) excess() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return max(0, q.total-q.maxTotal)
}

// count is the number of connections counted now.
func (q *connectionQuotas) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total
}

// resolveOverrides turns max.connections.per.ip.overrides into addresses,
// as Kafka does once with InetAddress.getByName: an IP literal stands for
// itself, a host name for every address it resolves to.
func resolveOverrides(ctx context.Context, hosts map[string]int) (map[netip.Addr]int, error) {
	out := make(map[netip.Addr]int, len(hosts))
	for host, n := range hosts {
		if ip, err := netip.ParseAddr(host); err == nil {
			out[ip.Unmap()] = n
			continue
		}
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("network: max.connections.per.ip.overrides: resolve %s: %w", host, err)
		}
		for _, ip := range ips {
			out[ip.Unmap()] = n
		}
	}
	return out, nil
}
