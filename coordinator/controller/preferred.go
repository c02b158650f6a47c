package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/twmb/franz-go/pkg/kerr"
)

// onPreferredReplicaElection handles /admin/preferred_replica_election, the
// request kafka-preferred-replica-election.sh (and tools predating
// ElectLeaders) write (Kafka's PreferredReplicaElectionHandler and
// processReplicaLeaderElection with ZkTriggered). It re-reads the znode,
// re-arming the watch, and when a request is there:
//
//   - partitions the controller does not know and those of topics being
//     deleted are skipped (logged), as are those the preferred replica
//     already leads;
//   - the others get their preferred replica as leader where it is alive
//     and in the ISR (Kafka's PreferredReplicaPartitionLeaderElectionStrategy),
//     written behind the fence, then LeaderAndIsr and UpdateMetadata go out;
//     partitions whose preferred replica cannot lead are logged and left;
//   - the znode is deleted behind the fence, which lets the next request
//     be written (the delete fires the watch; the re-read finds nothing).
//
// A znode that cannot be decoded is deleted as well: Kafka drops such a
// request too, and leaving it would block every later one.
func (e *elections) onPreferredReplicaElection(ctx context.Context) error {
	t := e.t
	tps, ok, watch, err := t.c.cfg.ZK.WatchPreferredReplicaElection(ctx)
	if watch != nil {
		e.forward(watch, e.onPreferredReplicaElection)
	}
	switch {
	case errors.Is(err, zkutil.ErrMalformed):
		t.log.WithError(err).Warn("deleting a preferred replica election request that cannot be read")
		return e.deletePreferredReplicaElection(ctx)
	case err != nil:
		if watch == nil {
			e.after(t.c.cfg.RetryBackoff, e.onPreferredReplicaElection) // not re-armed: look again
		}
		return fmt.Errorf("reading the preferred replica election request: %w", err)
	case !ok:
		return nil
	}
	var electable []zkutil.TopicPartition
	for _, tp := range tps {
		p := t.partition(tp)
		switch {
		case p == nil:
			t.log.WithField("partition", tp.String()).Info("skipping preferred replica election of an unknown partition")
		case t.topics[tp.Topic].deletion != nil:
			t.log.WithField("partition", tp.String()).Info("skipping preferred replica election of a partition being deleted")
		case t.electionNotNeeded(ElectPreferred, p):
		default:
			electable = append(electable, tp)
		}
	}
	results, err := t.electPartitions(ctx, electable, t.preferredDecision)
	if err != nil {
		return err
	}
	logElectionFailures(t, results)
	return e.deletePreferredReplicaElection(ctx)
}

func (e *elections) deletePreferredReplicaElection(ctx context.Context) error {
	if err := e.t.c.cfg.ZK.DeletePreferredReplicaElection(ctx, e.t.fence); err != nil {
		if errors.Is(err, zkutil.ErrEpochFenced) {
			return err
		}
		// Left in place: the next event on the znode, or the next term,
		// tries again (the elections done are not undone).
		return fmt.Errorf("deleting the preferred replica election request: %w", err)
	}
	return nil
}

// forward hands f to the loop when watch fires, from a goroutine that ends
// with the term.
func (e *elections) forward(watch <-chan zkutil.WatchEvent, f func(context.Context) error) {
	t := e.t
	t.forwarders.Add(1)
	go func() {
		defer t.forwarders.Done()
		select {
		case <-t.ctx.Done():
			return
		case <-watch:
		}
		select {
		case e.events <- f:
		case <-t.ctx.Done():
		}
	}()
}

// logElectionFailures logs the partitions an election had to leave, except
// those that needed none.
func logElectionFailures(t *term, results map[zkutil.TopicPartition]ElectionResult) {
	for tp, r := range results {
		if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			t.log.WithField("partition", tp.String()).WithError(r.Err).Warn("preferred replica election failed: " + r.Message)
		}
	}
}
