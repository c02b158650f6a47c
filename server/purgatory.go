package server

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// A purgatory holds requests that cannot be answered yet: a produce with
// acks=all waits for the high watermark to pass its last offset, a fetch
// waits for fetch.min.bytes to arrive. Each waiting request is a delayed
// operation, watched under one or more keys (partitions). Whoever changes
// the state of a partition (an append, a high-watermark move) calls
// checkAndComplete for it, which retries the operations watching it; an
// operation that is still waiting when its timeout fires is expired. Nothing
// polls. This is Kafka's DelayedOperationPurgatory
// (core/src/main/scala/kafka/server/DelayedOperation.scala), with the
// differences listed below.
//
// # Exactly once
//
// An operation completes exactly once, whether by tryComplete (from
// tryCompleteElseWatch or checkAndComplete), by its timer, or by close. The
// decision is a compare-and-swap of delayedOp.completed from false to true,
// made with the operation's own lock held; the one caller that wins the swap
// stops the timer and runs the callbacks, after releasing the lock. Because
// tryComplete also runs under that lock and only while completed is false,
// no tryComplete runs after the swap, so onExpiration and onComplete have
// the operation's state to themselves and need no lock.
//
// # No lost wake-ups
//
// tryCompleteElseWatch tries the operation, then adds it to the watch list
// of every key, then tries it again. An append that lands between the first
// try and the watch is seen by the second try; an append after the watch
// calls checkAndComplete, which copies the watch list after the operation
// joined it. The price, as in Kafka, is that an operation completed by
// another goroutine between the two tries may be left in some watch lists;
// those stale entries are purged (below).
//
// # Concurrency contract
//
// A purgatory is safe for concurrent use. Its locks, in order:
//
//	delayedOp.mu        (per operation; held only around tryComplete and the
//	                     completion decision, and while arming the timer)
//	purgatoryShard.mu   (a slice of the key -> watch list map; leaf)
//
// The two are never held together: tryComplete, onExpiration and onComplete
// run with no purgatory lock held (checkAndComplete copies the watch list
// under the shard lock, releases it, then tries each operation), and no
// shard lock is taken while an operation's lock is held. onExpiration and
// onComplete run with no lock held at all, so they may send responses and
// call checkAndComplete or tryCompleteElseWatch on any purgatory, this one
// included; they must not call close. tryComplete runs with its operation's
// lock held and must not call into this purgatory for a key the operation
// watches.
//
// # Timers
//
// Each waiting operation has a runtime timer (time.AfterFunc behind the
// clock seam), stopped when the operation completes. Kafka needs a
// hierarchical timing wheel and a reaper thread because Java's DelayQueue
// cannot drop a cancelled task cheaply; Go's runtime timers live in per-P
// heaps, Stop removes the timer at once, and no goroutine exists until a
// timer fires; the goroutine it starts expires one operation and exits. A
// timer goroutine of our own with a heap would put one mutex on the path of
// every delayed request and buy nothing. close waits for timer callbacks
// already running (timersRunning), so none outlives the purgatory.
//
// # Purging
//
// checkAndComplete removes completed operations from the list it visits,
// and deletes lists that become empty. Entries left by operations completed
// some other way (by another key, by expiry) are counted in stale; when
// stale passes purgeInterval (Kafka's *.purgatory.purge.interval.requests,
// default 1000), the goroutine that crosses it purges every list. The count
// is an estimate (an operation completed while it is joining its lists
// counts keys it never joined); a full purge resets it, so it cannot drift
// for long, and between purges stale entries are bounded by about
// purgeInterval plus the operations completing concurrently.
//
// # Shutdown
//
// close stops new operations from being watched, waits for calls in
// progress, then expires every operation still waiting (onExpiration, then
// onComplete: a produce answers REQUEST_TIMED_OUT, a fetch answers with
// what it has), stops their timers and waits for timer callbacks already
// running. After close, tryCompleteElseWatch tries the operation once and
// expires it at once if it cannot complete, so no request hangs, and
// checkAndComplete does nothing.
//
// # Differences from Kafka
//
//   - tryComplete only reports whether the operation can complete; the
//     purgatory does the forceComplete. A Go struct embedded in an operation
//     cannot call the outer type's onComplete, and keeping the swap in one
//     place keeps exactly-once in one place.
//   - onExpiration runs before onComplete (Kafka runs it after), so that
//     onComplete can see that the operation expired.
//   - Every operation has its own lock; Kafka 2.8 also lets an operation
//     share a lock (the group coordinator's DelayedJoin and DelayedHeartbeat
//     use the group's). Add that when the coordinator needs it.
//   - close expires what is waiting; Kafka's shutdown leaves it.

// delayedOperation is a request waiting in a purgatory. Concrete operations
// embed delayedOp and implement the three callbacks.
type delayedOperation interface {
	// tryComplete reports whether the operation can complete now. It runs
	// with the operation's lock held and never after the operation has
	// completed, so the state it reads and updates needs no other lock.
	// It must not block and must not call forceComplete: when it returns
	// true the purgatory completes the operation.
	tryComplete() bool
	// onExpiration runs once, before onComplete, when the operation's
	// timeout passed (or the purgatory closed) before it could complete.
	onExpiration()
	// onComplete runs exactly once, with no lock held, whichever way the
	// operation completed.
	onComplete()

	base() *delayedOp
}

// delayedOp is the part of a delayed operation the purgatory keeps.
// Embed it, set timeout, and hand the operation to one purgatory once.
type delayedOp struct {
	// timeout is how long the operation may wait (Kafka's delayMs);
	// immutable once the operation is handed to the purgatory.
	timeout time.Duration

	// completed is set exactly once, under mu, by the caller that
	// completes the operation; it may be read without mu.
	completed atomic.Bool

	mu sync.Mutex // guards the fields below, and serialises tryComplete
	// keys is how many watch lists the operation was meant to join; zero
	// until the first try fails, so it also says "was ever waiting".
	keys  int
	timer purgatoryTimer // nil until armed
}

func (d *delayedOp) base() *delayedOp { return d }

// isCompleted reports whether the operation has completed (or is
// completing: its callbacks may still be running).
func (d *delayedOp) isCompleted() bool { return d.completed.Load() }

// purgatoryClock is the clock seam: tests fire timers by hand.
type purgatoryClock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) purgatoryTimer
}

// purgatoryTimer is what AfterFunc returns; Stop reports whether it
// stopped the timer before f started, as time.Timer's does.
type purgatoryTimer interface {
	Stop() bool
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
func (wallClock) AfterFunc(d time.Duration, f func()) purgatoryTimer {
	return time.AfterFunc(d, f)
}

// purgatoryConfig configures a purgatory; the zero value is usable.
type purgatoryConfig struct {
	// PurgeInterval is how many stale watch-list entries may build up
	// before every list is purged; 0 means 1000, Kafka's default for
	// fetch.purgatory.purge.interval.requests and
	// producer.purgatory.purge.interval.requests.
	PurgeInterval int
	// Clock is the source of timers; nil means the wall clock.
	Clock purgatoryClock
}

// purgatoryShards is the number of slices of the key map, as Kafka's
// DelayedOperation.Shards (512): a watch or a checkAndComplete locks one
// shard for the length of an append or a copy, so with hundreds of hot
// partitions two requests rarely meet on a lock.
const purgatoryShards = 512

// purgatory holds delayed operations of one kind, watched by keys of type K
// (a partition, or a group id). See the comment at the top of this file for
// the concurrency contract. Safe for concurrent use.
type purgatory[K comparable] struct {
	name          string // immutable; for logs and metrics
	clock         purgatoryClock
	purgeInterval int64
	seed          maphash.Seed
	shards        [purgatoryShards]purgatoryShard[K]

	// calls counts calls in progress in its low bits; closedBit is set by
	// close, which then waits for the count to reach zero (drained).
	calls   atomic.Int64
	drained chan struct{} // capacity one; signals that calls fell to zero
	closed  chan struct{} // closed when the first close has finished

	// timersRunning counts armed timers that have neither been stopped
	// nor finished their callback. Add happens only inside a counted
	// call, so it never races with close's Wait.
	timersRunning sync.WaitGroup

	waiting atomic.Int64 // operations watched and not yet completed
	stale   atomic.Int64 // estimated completed entries still in watch lists
	purging atomic.Bool  // one full purge at a time
}

const closedBit = int64(1) << 62

type purgatoryShard[K comparable] struct {
	mu    sync.Mutex // guards lists and every list in it
	lists map[K][]delayedOperation
	_     [64 - 16]byte // one shard per cache line
}

// newPurgatory returns an empty purgatory; it starts no goroutine.
func newPurgatory[K comparable](name string, cfg purgatoryConfig) *purgatory[K] {
	p := &purgatory[K]{
		name:          name,
		clock:         cfg.Clock,
		purgeInterval: int64(cfg.PurgeInterval),
		seed:          maphash.MakeSeed(),
		drained:       make(chan struct{}, 1),
		closed:        make(chan struct{}),
	}
	if p.clock == nil {
		p.clock = wallClock{}
	}
	if p.purgeInterval <= 0 {
		p.purgeInterval = 1000
	}
	return p
}

// enter counts a call in progress; it returns false, counting nothing, once
// close has begun.
func (p *purgatory[K]) enter() bool {
	if p.calls.Add(1)&closedBit != 0 {
		p.leave()
		return false
	}
	return true
}

func (p *purgatory[K]) leave() {
	if p.calls.Add(-1) == closedBit {
		select {
		case p.drained <- struct{}{}:
		default: // a signal is already pending; close re-reads calls anyway
		}
	}
}

func (p *purgatory[K]) shard(key K) *purgatoryShard[K] {
	return &p.shards[maphash.Comparable(p.seed, key)%purgatoryShards]
}

// tryCompleteElseWatch completes op if it can complete now; otherwise it
// watches op under every key and arms its timeout. It reports whether this
// call completed op (a false op may already have been completed by another
// goroutine). After close it completes or expires op before returning true.
// keys must not be empty: an operation nobody can wake would wait for its
// timeout alone, and close could not find it.
func (p *purgatory[K]) tryCompleteElseWatch(op delayedOperation, keys []K) bool {
	if len(keys) == 0 {
		panic("server: purgatory " + p.name + ": tryCompleteElseWatch with no keys")
	}
	d := op.base()
	if !p.enter() {
		if p.tryCompleteOp(op, 0) {
			return true
		}
		p.expire(op)
		return true
	}
	defer p.leave()

	// The cost of tryComplete usually grows with the number of keys, so
	// try once, not once per key (Kafka's reasoning): try, watch all,
	// try again.
	if p.tryCompleteOp(op, len(keys)) {
		return true
	}
	for _, key := range keys {
		if d.isCompleted() {
			// Completed by another goroutine through a key already
			// watched; the rest need no entry.
			return false
		}
		s := p.shard(key)
		s.mu.Lock()
		if s.lists == nil {
			s.lists = make(map[K][]delayedOperation)
		}
		s.lists[key] = append(s.lists[key], op)
		s.mu.Unlock()
	}

	d.mu.Lock()
	if d.completed.Load() {
		d.mu.Unlock()
		return false
	}
	if op.tryComplete() {
		p.completeLocked(d)
		d.mu.Unlock()
		op.onComplete()
		p.maybePurge()
		return true
	}
	p.timersRunning.Add(1)
	d.timer = p.clock.AfterFunc(d.timeout, func() {
		defer p.timersRunning.Done()
		p.expire(op)
	})
	d.mu.Unlock()
	return false
}

// tryCompleteOp runs the first try of tryCompleteElseWatch. When op cannot
// complete and keys > 0 it records that op is now waiting, under the same
// lock, so that whoever completes it later accounts for it.
func (p *purgatory[K]) tryCompleteOp(op delayedOperation, keys int) bool {
	d := op.base()
	d.mu.Lock()
	if d.completed.Load() {
		d.mu.Unlock()
		return false
	}
	if op.tryComplete() {
		p.completeLocked(d)
		d.mu.Unlock()
		op.onComplete()
		return true
	}
	if keys > 0 {
		d.keys = keys
		p.waiting.Add(1)
	}
	d.mu.Unlock()
	return false
}

// completeLocked marks d completed and stops its timer; d.mu is held and
// d.completed is false. The caller runs the callbacks after unlocking.
func (p *purgatory[K]) completeLocked(d *delayedOp) {
	d.completed.Store(true)
	if d.timer != nil && d.timer.Stop() {
		p.timersRunning.Done()
	}
	if d.keys > 0 {
		p.waiting.Add(-1)
		// Purging takes shard locks, so it waits until the caller has
		// unlocked d.mu (maybePurge).
		p.stale.Add(int64(d.keys))
	}
}

// expire completes op as timed out, unless it has completed already.
func (p *purgatory[K]) expire(op delayedOperation) {
	d := op.base()
	d.mu.Lock()
	if d.completed.Load() {
		d.mu.Unlock()
		return
	}
	p.completeLocked(d)
	d.mu.Unlock()
	op.onExpiration()
	op.onComplete()
	p.maybePurge()
}

// checkAndComplete retries every operation watching key, completing those
// that can complete, and drops completed operations from key's list. Call
// it after anything that may let them complete: an append to the
// partition, a move of its high watermark. It returns how many operations
// this call completed.
func (p *purgatory[K]) checkAndComplete(key K) int {
	if !p.enter() {
		return 0
	}
	defer p.leave()

	s := p.shard(key)
	// Copy the list so that no shard lock is held while trying. An
	// operation that joins the list after the copy tries itself again
	// after joining, and so sees whatever change led to this call.
	var buf [16]delayedOperation
	s.mu.Lock()
	ops := append(buf[:0], s.lists[key]...)
	s.mu.Unlock()
	if len(ops) == 0 {
		return 0
	}

	completed, sawCompleted := 0, false
	for _, op := range ops {
		d := op.base()
		if d.isCompleted() {
			sawCompleted = true
			continue
		}
		d.mu.Lock()
		if d.completed.Load() || !op.tryComplete() {
			d.mu.Unlock()
			continue
		}
		p.completeLocked(d)
		d.mu.Unlock()
		op.onComplete()
		completed++
	}
	clear(ops) // drop references held by buf or the copy

	if completed > 0 || sawCompleted {
		s.mu.Lock()
		p.stale.Add(-int64(s.compactLocked(key)))
		s.mu.Unlock()
	}
	p.maybePurge()
	return completed
}

// compactLocked removes completed operations from key's list, deleting the
// list when it becomes empty, and returns how many it removed.
func (s *purgatoryShard[K]) compactLocked(key K) int {
	list, ok := s.lists[key]
	if !ok {
		return 0
	}
	kept := list[:0]
	for _, op := range list {
		if !op.base().isCompleted() {
			kept = append(kept, op)
		}
	}
	clear(list[len(kept):])
	if len(kept) == 0 {
		delete(s.lists, key)
	} else {
		s.lists[key] = kept
	}
	return len(list) - len(kept)
}

// maybePurge purges every watch list when the estimate of stale entries
// has passed purgeInterval. Called with no lock held.
func (p *purgatory[K]) maybePurge() {
	if p.stale.Load() <= p.purgeInterval || !p.purging.CompareAndSwap(false, true) {
		return
	}
	defer p.purging.Store(false)
	// Reset first: entries that go stale during the sweep count towards
	// the next one.
	p.stale.Store(0)
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for key := range s.lists {
			s.compactLocked(key)
		}
		s.mu.Unlock()
	}
}

// watched returns the number of entries in all watch lists, stale ones
// included; an operation watched under n keys counts n times. Kafka's
// PurgatorySize gauge.
func (p *purgatory[K]) watched() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for _, list := range s.lists {
			n += len(list)
		}
		s.mu.Unlock()
	}
	return n
}

// delayed returns the number of operations waiting: watched and not yet
// completed. Kafka's NumDelayedOperations gauge.
func (p *purgatory[K]) delayed() int {
	return int(p.waiting.Load())
}

// close expires every waiting operation and returns when no call, callback
// or timer goroutine of the purgatory is running. Calling it again is
// harmless. It must not be called from an operation's callback.
func (p *purgatory[K]) close() {
	for {
		old := p.calls.Load()
		if old&closedBit != 0 {
			break // a close has run or is running; it does the work
		}
		if p.calls.CompareAndSwap(old, old|closedBit) {
			p.closeOnce()
			return
		}
	}
	<-p.closed // another close has run or is running
}

func (p *purgatory[K]) closeOnce() {
	for p.calls.Load() != closedBit {
		<-p.drained
	}
	// No call is in progress and none can start, so every waiting
	// operation is in the lists and no new timer can be armed.
	var ops []delayedOperation
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for _, list := range s.lists {
			ops = append(ops, list...)
		}
		s.lists = nil
		s.mu.Unlock()
	}
	for _, op := range ops {
		p.expire(op) // no-op for completed and duplicate entries
	}
	p.stale.Store(0)
	p.timersRunning.Wait()
	close(p.closed)
}
