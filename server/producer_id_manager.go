package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gregor-broker/gregor/zkutil"
	"github.com/sirupsen/logrus"
)

// producerIDClaimer claims blocks of producer ids that no other broker
// gets; *zkutil.Client implements it with a conditional write to
// /latest_producer_id_block.
type producerIDClaimer interface {
	ClaimProducerIDBlock(ctx context.Context, brokerID int32) (zkutil.ProducerIDBlock, error)
}

// producerIDClaimTimeout bounds one claim: zkutil retries a read or write
// until its context ends, and a client waiting on InitProducerId would
// rather hear a retriable error than time out itself.
const producerIDClaimTimeout = 10 * time.Second

// producerIDManager hands out producer ids, each at most once across the
// cluster (Kafka 2.8's ProducerIdManager). It claims a block of ids from
// ZooKeeper and hands them out in order; when a block is 90% used, the
// request that crosses the mark claims the next block ahead (as Kafka 3's
// RPCProducerIdManager does), so that callers rarely wait on ZooKeeper.
// When the block runs out with nothing claimed ahead, callers wait for a
// claim.
//
// Two locks, never held together. mu guards the ids and is never held
// across a ZooKeeper call, so ids from the current block keep flowing while
// a claim is in flight. claiming serialises the claims themselves: a
// one-slot semaphore held across the ZooKeeper call on purpose, so that
// callers that find the block exhausted wait for one claim rather than each
// claim a block and waste it; being a channel, waiting on it honours the
// caller's context. Ids are never reused: a block leaves the manager only
// by being handed out, and a claim whose result is lost (timeout, session
// expiry) wastes at most that block.
//
// Safe for concurrent use.
type producerIDManager struct {
	brokerID     int32 // immutable
	claimer      producerIDClaimer
	log          *logrus.Entry
	claimTimeout time.Duration // immutable

	claiming chan struct{} // one slot: held by the goroutine claiming a block

	mu    sync.Mutex // guards the fields below
	next  int64      // next id of the current block; past end when used up
	end   int64      // last id of the current block
	size  int64      // ids in the current block
	ahead *zkutil.ProducerIDBlock
}

func newProducerIDManager(brokerID int32, claimer producerIDClaimer, log *logrus.Entry) *producerIDManager {
	return &producerIDManager{
		brokerID:     brokerID,
		claimer:      claimer,
		log:          log.WithField("component", "producer_id_manager"),
		claimTimeout: producerIDClaimTimeout,
		claiming:     make(chan struct{}, 1),
		next:         0,
		end:          -1, // no block yet
	}
}

// generate returns a producer id never handed out before. It fails only
// when the current block is used up and claiming the next one fails; the
// error wraps the claimer's (zkutil.ErrProducerIDsExhausted when the id
// space has run out).
func (m *producerIDManager) generate(ctx context.Context) (int64, error) {
	for {
		m.mu.Lock()
		if m.next > m.end && m.ahead != nil {
			m.next, m.end, m.size = m.ahead.Start, m.ahead.End, m.ahead.End-m.ahead.Start+1
			m.ahead = nil
		}
		if m.next <= m.end {
			id := m.next
			m.next++
			// Claim ahead once less than a tenth of the block is left.
			claimAhead := m.ahead == nil && m.end-id < m.size/10
			m.mu.Unlock()
			if claimAhead {
				m.claimAhead(ctx)
			}
			return id, nil
		}
		m.mu.Unlock()
		if err := m.claim(ctx, true); err != nil {
			return -1, err
		}
	}
}

// claimAhead claims the next block before the current one runs out, unless
// a claim is already in flight. The id was handed out already, so a failure
// is only logged: the next caller to find the block used up claims again.
func (m *producerIDManager) claimAhead(ctx context.Context) {
	if err := m.claim(ctx, false); err != nil {
		m.log.WithError(err).Warn("claiming the next producer id block ahead failed")
	}
}

// claim claims a block into ahead if none is there. With wait false it
// returns at once when another claim is in flight.
func (m *producerIDManager) claim(ctx context.Context, wait bool) error {
	if wait {
		select {
		case m.claiming <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("wait for a producer id block: %w", ctx.Err())
		}
	} else {
		select {
		case m.claiming <- struct{}{}:
		default:
			return nil
		}
	}
	defer func() { <-m.claiming }()
	// Whoever held the slot before may have claimed already.
	m.mu.Lock()
	done := m.ahead != nil
	m.mu.Unlock()
	if done {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, m.claimTimeout)
	defer cancel()
	b, err := m.claimer.ClaimProducerIDBlock(ctx, m.brokerID)
	if err != nil {
		return fmt.Errorf("claim producer id block: %w", err)
	}
	m.mu.Lock()
	m.ahead = &b
	m.mu.Unlock()
	return nil
}
