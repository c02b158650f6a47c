package server

import (
	"context"
	"sync"
	"time"
)

// setUpReplication gives the replica manager what replication needs
// (DESIGN.md section 5): the partitions' lag limit and ISR proposals to the
// controller (isr_change_sender.go), the follower fetchers
// (replica_fetcher.go), and the wake-ups of delayed produces and fetches
// when a high watermark moves. Nothing runs until runReplication.
func (b *Broker) setUpReplication() {
	cfg, h, rm := b.cfg, b.handlers, b.handlers.replicas
	listener := ""
	if l, ok := cfg.InterBrokerListener(); ok {
		listener = l.Name
	}
	b.isrChanges = newISRChangeSender(&isrChangeSender{
		brokerID:    cfg.BrokerID,
		brokerEpoch: h.brokerEpoch.Load,
		metadata:    h.metadata,
		listener:    listener,
		timeout:     cfg.ControllerSocketTimeout,
		backoff:     100 * time.Millisecond,
		log:         b.log.WithField("component", "alter_isr"),
		answered:    h.onHighWatermark,
	})
	rm.repl = replicationConfig{
		lagTimeMax: cfg.ReplicaLagTimeMax,
		now:        time.Now,
		proposeISR: b.isrChanges.propose,
	}
	rm.onHighWatermark = h.onHighWatermark
	rm.fetchers = newReplicaFetcherManager(fetcherConfig{
		brokerID:      cfg.BrokerID,
		numFetchers:   cfg.NumReplicaFetchers,
		maxBytes:      int32(min(cfg.ReplicaFetchMaxBytes, 1<<31-1)),
		responseBytes: int32(min(cfg.ReplicaFetchResponseMaxBytes, 1<<31-1)),
		minBytes:      int32(min(cfg.ReplicaFetchMinBytes, 1<<31-1)),
		maxWait:       cfg.ReplicaFetchWaitMax,
		backoff:       cfg.ReplicaFetchBackoff,
		socketTimeout: cfg.ReplicaSocketTimeout,
		receiveBuffer: int(cfg.ReplicaSocketReceiveBufferBytes),
		log:           b.log,
		brokerEpoch:   h.brokerEpoch.Load,
	})
}

// runReplication runs the ISR proposals' sender and the ISR expiration
// check until ctx ends.
func (b *Broker) runReplication(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.isrChanges.run(ctx) }()
	go func() { defer wg.Done(); b.handlers.replicas.runISRExpiration(ctx) }()
	wg.Wait()
	return nil
}

// stopReplication stops the fetchers and answers the produces still
// waiting for replication; the logs may close after it.
func (b *Broker) stopReplication() {
	b.handlers.replicas.fetchers.close()
	b.handlers.produces.close()
}
