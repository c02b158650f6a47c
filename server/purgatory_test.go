package server

import (
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testOp is a delayed operation whose readiness the test controls. Its
// callbacks append to events without a lock: the purgatory promises they
// run alone, and the race detector checks that promise.
type testOp struct {
	delayedOp
	ready atomic.Bool
	// check, if set, replaces ready; it runs with the op's lock held.
	check func() bool

	tries       atomic.Int32
	expirations atomic.Int32
	completions atomic.Int32
	events      []string      // written by the callbacks only
	done        chan struct{} // closed by onComplete
}

func newTestOp(timeout time.Duration) *testOp {
	return &testOp{delayedOp: delayedOp{timeout: timeout}, done: make(chan struct{})}
}

func (o *testOp) tryComplete() bool {
	o.tries.Add(1)
	if o.check != nil {
		return o.check()
	}
	return o.ready.Load()
}

func (o *testOp) onExpiration() {
	o.expirations.Add(1)
	o.events = append(o.events, "expired")
}

func (o *testOp) onComplete() {
	o.events = append(o.events, "completed")
	if o.completions.Add(1) == 1 {
		close(o.done) // last: checkOnce reads events after this
	}
}

// checkOnce fails the test unless o completed exactly once, and expired
// exactly once when expired is true, never otherwise.
func (o *testOp) checkOnce(t *testing.T, expired bool) {
	t.Helper()
	want := []string{"completed"}
	if expired {
		want = []string{"expired", "completed"}
	}
	<-o.done
	if got := o.completions.Load(); got != 1 {
		t.Fatalf("onComplete ran %d times, want 1", got)
	}
	if !slices.Equal(o.events, want) {
		t.Fatalf("events %v, want %v", o.events, want)
	}
}

// fakeClock fires timers only when the test advances it, in the advancing
// goroutine, in deadline order.
type fakeClock struct {
	mu     sync.Mutex // guards the fields below
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock *fakeClock
	at    time.Time
	f     func()
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_600_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) purgatoryTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false // fired or stopped
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}

// advance moves the clock on by d and runs the timers that fall due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if !t.at.After(c.now) {
			due = append(due, t)
			return true
		}
		return false
	})
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.f()
	}
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type testKey struct {
	topic     string
	partition int32
}

func tp(partition int32) testKey { return testKey{"t", partition} }

func newTestPurgatory(t *testing.T, clock purgatoryClock, purgeInterval int) *purgatory[testKey] {
	t.Helper()
	p := newPurgatory[testKey]("test", purgatoryConfig{Clock: clock, PurgeInterval: purgeInterval})
	t.Cleanup(p.close)
	return p
}

func checkCounts(t *testing.T, p *purgatory[testKey], watched, delayed int) {
	t.Helper()
	if got := p.watched(); got != watched {
		t.Errorf("watched() = %d, want %d", got, watched)
	}
	if got := p.delayed(); got != delayed {
		t.Errorf("delayed() = %d, want %d", got, delayed)
	}
}

func TestPurgatoryCompletesImmediately(t *testing.T) {
	clock := newFakeClock()
	p := newTestPurgatory(t, clock, 0)
	op := newTestOp(time.Second)
	op.ready.Store(true)

	if !p.tryCompleteElseWatch(op, []testKey{tp(0), tp(1)}) {
		t.Fatal("tryCompleteElseWatch = false for a ready operation")
	}
	op.checkOnce(t, false)
	checkCounts(t, p, 0, 0)
	if n := clock.pending(); n != 0 {
		t.Errorf("%d timers armed for an operation that never waited", n)
	}
	if got := op.tries.Load(); got != 1 {
		t.Errorf("tryComplete ran %d times, want 1", got)
	}
}

func TestPurgatoryCheckAndCompleteOneOfSeveralKeys(t *testing.T) {
	clock := newFakeClock()
	p := newTestPurgatory(t, clock, 0)
	op := newTestOp(time.Second)
	keys := []testKey{tp(0), tp(1), tp(2)}

	if p.tryCompleteElseWatch(op, keys) {
		t.Fatal("tryCompleteElseWatch = true for an operation that is not ready")
	}
	checkCounts(t, p, 3, 1)
	if n := p.checkAndComplete(tp(1)); n != 0 {
		t.Fatalf("checkAndComplete before ready = %d, want 0", n)
	}
	if n := p.checkAndComplete(tp(9)); n != 0 {
		t.Fatalf("checkAndComplete of an unwatched key = %d, want 0", n)
	}

	op.ready.Store(true)
	if n := p.checkAndComplete(tp(1)); n != 1 {
		t.Fatalf("checkAndComplete = %d, want 1", n)
	}
	op.checkOnce(t, false)
	// tp(1)'s list is compacted; the entries under tp(0) and tp(2) are
	// stale until visited or purged.
	checkCounts(t, p, 2, 0)
	if n := clock.pending(); n != 0 {
		t.Errorf("the timer of a completed operation is still armed (%d)", n)
	}
	tries := op.tries.Load()
	if n := p.checkAndComplete(tp(0)); n != 0 {
		t.Fatalf("checkAndComplete of a completed operation = %d, want 0", n)
	}
	if op.tries.Load() != tries {
		t.Error("tryComplete ran after the operation completed")
	}
	checkCounts(t, p, 1, 0)
	clock.advance(time.Hour)
	op.checkOnce(t, false)
}

// Many goroutines call checkAndComplete on overlapping keys while
// operations are being added and made ready: each completes once.
func TestPurgatoryConcurrentCheckAndCompleteCompletesOnce(t *testing.T) {
	const (
		keys     = 8
		ops      = 2000
		checkers = 8
	)
	p := newTestPurgatory(t, newFakeClock(), 50)
	all := make([]*testOp, ops)
	for i := range all {
		all[i] = newTestOp(time.Hour)
	}

	var completedByCheck atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range checkers {
		wg.Go(func() {
			for i := g; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				completedByCheck.Add(int64(p.checkAndComplete(tp(int32(i % keys)))))
			}
		})
	}
	var completedByWatch int64
	for i, op := range all {
		// Every third operation is ready before it is watched; the
		// others become ready right after.
		op.ready.Store(i%3 == 0)
		k := int32(i)
		if p.tryCompleteElseWatch(op, []testKey{tp(k % keys), tp((k + 1) % keys), tp((k + 3) % keys)}) {
			completedByWatch++
		}
		op.ready.Store(true)
	}
	// One last pass after every operation is ready, so none is left.
	for k := range keys {
		completedByCheck.Add(int64(p.checkAndComplete(tp(int32(k)))))
	}
	close(stop)
	wg.Wait()

	for _, op := range all {
		op.checkOnce(t, false)
	}
	if got := completedByWatch + completedByCheck.Load(); got != ops {
		t.Errorf("calls claimed %d completions, want %d", got, ops)
	}
	checkCounts(t, p, p.watched(), 0)
	for k := range keys {
		p.checkAndComplete(tp(int32(k)))
	}
	checkCounts(t, p, 0, 0)
}

func TestPurgatoryExpiry(t *testing.T) {
	clock := newFakeClock()
	p := newTestPurgatory(t, clock, 0)
	op := newTestOp(100 * time.Millisecond)
	p.tryCompleteElseWatch(op, []testKey{tp(0), tp(1)})

	clock.advance(99 * time.Millisecond)
	if op.completions.Load() != 0 {
		t.Fatal("completed before its timeout")
	}
	clock.advance(time.Millisecond)
	op.checkOnce(t, true)
	checkCounts(t, p, 2, 0) // stale until visited or purged

	op.ready.Store(true)
	if n := p.checkAndComplete(tp(0)); n != 0 {
		t.Fatalf("checkAndComplete of an expired operation = %d, want 0", n)
	}
	clock.advance(time.Hour)
	op.checkOnce(t, true)
	checkCounts(t, p, 1, 0)
}

// tryComplete is holding the op's lock, about to say yes, when the timer
// fires: the op completes once, and not as expired.
func TestPurgatoryCompletionRacingExpiry(t *testing.T) {
	clock := newFakeClock()
	p := newTestPurgatory(t, clock, 0)
	op := newTestOp(time.Second)
	inside, release := make(chan struct{}), make(chan struct{})
	var checking atomic.Bool
	op.check = func() bool {
		if !checking.Load() {
			return false
		}
		close(inside)
		<-release
		return true
	}
	p.tryCompleteElseWatch(op, []testKey{tp(0)})

	checking.Store(true)
	var n int
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		n = p.checkAndComplete(tp(0))
	}()
	<-inside
	expired := make(chan struct{})
	go func() {
		defer close(expired)
		clock.advance(time.Second) // blocks on the op's lock, or finds it completed
	}()
	close(release)
	<-checked
	<-expired
	if n != 1 {
		t.Fatalf("checkAndComplete = %d, want 1", n)
	}
	op.checkOnce(t, false)
}

// Completion and expiry truly concurrent, many times: exactly one wins.
func TestPurgatoryCompletionRacingExpiryStress(t *testing.T) {
	for i := range 500 {
		clock := newFakeClock()
		p := newTestPurgatory(t, clock, 0)
		op := newTestOp(time.Second)
		p.tryCompleteElseWatch(op, []testKey{tp(0), tp(1)})
		op.ready.Store(true)

		var byCheck atomic.Int32
		var wg sync.WaitGroup
		wg.Go(func() { byCheck.Add(int32(p.checkAndComplete(tp(int32(i % 2))))) })
		wg.Go(func() { clock.advance(time.Second) })
		wg.Wait()

		expired := op.expirations.Load() == 1
		if expired == (byCheck.Load() == 1) {
			t.Fatalf("run %d: expired=%v and checkAndComplete completed %d", i, expired, byCheck.Load())
		}
		op.checkOnce(t, expired)
		p.close()
	}
}

// An append lands after the first tryComplete and before the op joins the
// watch lists: its checkAndComplete finds nobody to wake, so only the
// second tryComplete can see it. Without that try, the op would wait for
// its timeout.
func TestPurgatoryNoLostWakeUp(t *testing.T) {
	clock := newFakeClock()
	p := newTestPurgatory(t, clock, 0)
	op := newTestOp(time.Second)
	var appended bool // guarded by the op's lock, as tryComplete's state is
	op.check = func() bool {
		if !appended {
			// The append, and the checkAndComplete its writer
			// makes, between the first check and the watch.
			appended = true
			if n := p.checkAndComplete(tp(0)); n != 0 {
				t.Errorf("checkAndComplete found %d operations before the watch", n)
			}
			return false
		}
		return true
	}
	if !p.tryCompleteElseWatch(op, []testKey{tp(0)}) {
		t.Fatal("tryCompleteElseWatch = false: the append was missed")
	}
	op.checkOnce(t, false)
	if got := op.tries.Load(); got != 2 {
		t.Errorf("tryComplete ran %d times, want 2", got)
	}
	checkCounts(t, p, 1, 0) // the entry left behind, as in Kafka
	if n := clock.pending(); n != 0 {
		t.Errorf("%d timers armed for a completed operation", n)
	}
}

func TestPurgatoryPurgesWatchLists(t *testing.T) {
	const purgeInterval, ops = 10, 100
	t.Run("completed through another key", func(t *testing.T) {
		p := newTestPurgatory(t, newFakeClock(), purgeInterval)
		shared := tp(-1)
		for i := range ops {
			op := newTestOp(time.Hour)
			p.tryCompleteElseWatch(op, []testKey{tp(int32(i)), shared})
			op.ready.Store(true)
			if n := p.checkAndComplete(tp(int32(i))); n != 1 {
				t.Fatalf("op %d: checkAndComplete = %d, want 1", i, n)
			}
			// Each completion leaves one stale entry under shared.
			if w := p.watched(); w > purgeInterval+1 {
				t.Fatalf("after %d completions watched() = %d, want <= %d", i+1, w, purgeInterval+1)
			}
		}
		p.checkAndComplete(shared)
		checkCounts(t, p, 0, 0)
		if n := p.keysForTest(); n != 0 {
			t.Errorf("%d empty watch lists left in the map", n)
		}
	})
	t.Run("expired", func(t *testing.T) {
		clock := newFakeClock()
		p := newTestPurgatory(t, clock, purgeInterval)
		for i := range ops {
			p.tryCompleteElseWatch(newTestOp(time.Second), []testKey{tp(int32(i)), tp(int32(i + 1))})
		}
		checkCounts(t, p, 2*ops, ops)
		clock.advance(time.Second)
		if w := p.watched(); w > purgeInterval+2 {
			t.Fatalf("after expiring all, watched() = %d, want <= %d", w, purgeInterval+2)
		}
		checkCounts(t, p, p.watched(), 0)
	})
}

// keysForTest counts the keys with a watch list.
func (p *purgatory[K]) keysForTest() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += len(s.lists)
		s.mu.Unlock()
	}
	return n
}

func TestPurgatoryCloseExpiresWaitingOperations(t *testing.T) {
	clock := newFakeClock()
	p := newTestPurgatory(t, clock, 0)
	var waiting []*testOp
	for i := range 10 {
		op := newTestOp(time.Hour)
		p.tryCompleteElseWatch(op, []testKey{tp(int32(i % 3)), tp(int32(i%3 + 1))})
		waiting = append(waiting, op)
	}
	done := newTestOp(time.Hour)
	p.tryCompleteElseWatch(done, []testKey{tp(0), tp(7)})
	done.ready.Store(true)
	p.checkAndComplete(tp(7)) // leaves a stale entry under tp(0)

	p.close()
	for _, op := range waiting {
		op.checkOnce(t, true)
	}
	done.checkOnce(t, false)
	checkCounts(t, p, 0, 0)
	if n := clock.pending(); n != 0 {
		t.Errorf("%d timers still armed after close", n)
	}

	// After close nothing waits: a ready op completes, any other expires.
	ready := newTestOp(time.Hour)
	ready.ready.Store(true)
	if !p.tryCompleteElseWatch(ready, []testKey{tp(0)}) {
		t.Error("tryCompleteElseWatch after close = false")
	}
	ready.checkOnce(t, false)
	late := newTestOp(time.Hour)
	if !p.tryCompleteElseWatch(late, []testKey{tp(0)}) {
		t.Error("tryCompleteElseWatch after close = false")
	}
	late.checkOnce(t, true)
	if n := p.checkAndComplete(tp(0)); n != 0 {
		t.Errorf("checkAndComplete after close = %d", n)
	}
	p.close() // harmless
	checkCounts(t, p, 0, 0)
}

// close while operations are being added, checked and expired: every
// operation still completes exactly once, and close returns.
func TestPurgatoryCloseDuringTraffic(t *testing.T) {
	for run := range 20 {
		clock := newFakeClock()
		p := newPurgatory[testKey]("test", purgatoryConfig{Clock: clock, PurgeInterval: 5})
		var (
			mu  sync.Mutex
			all []*testOp
			wg  sync.WaitGroup
		)
		start := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				<-start
				for i := range 200 {
					op := newTestOp(time.Duration(i%5) * time.Millisecond)
					op.ready.Store(i%7 == 0)
					mu.Lock()
					all = append(all, op)
					mu.Unlock()
					p.tryCompleteElseWatch(op, []testKey{tp(int32(g)), tp(int32(i % 4))})
					if i%3 == 0 {
						op.ready.Store(true)
						p.checkAndComplete(tp(int32(g)))
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			for range 50 {
				clock.advance(time.Millisecond)
			}
		})
		close(start)
		p.close()
		wg.Wait()
		for _, op := range all {
			<-op.done
			if got := op.completions.Load(); got != 1 {
				t.Fatalf("run %d: onComplete ran %d times", run, got)
			}
			if e := op.expirations.Load(); e > 1 {
				t.Fatalf("run %d: onExpiration ran %d times", run, e)
			}
		}
		if p.delayed() != 0 || p.watched() != 0 {
			t.Fatalf("run %d: after close delayed()=%d watched()=%d", run, p.delayed(), p.watched())
		}
	}
}

// With the wall clock: timers that fire and timers stopped by close leave
// no goroutine behind.
func TestPurgatoryGoroutinesReturnToBaseline(t *testing.T) {
	baseline := runtime.NumGoroutine()
	p := newPurgatory[testKey]("test", purgatoryConfig{})
	var short []*testOp
	for i := range 50 {
		op := newTestOp(time.Millisecond)
		p.tryCompleteElseWatch(op, []testKey{tp(int32(i % 5))})
		short = append(short, op)
	}
	var long []*testOp
	for i := range 50 {
		op := newTestOp(time.Hour)
		p.tryCompleteElseWatch(op, []testKey{tp(int32(i % 5))})
		long = append(long, op)
	}
	for _, op := range short {
		op.checkOnce(t, true) // waits for its timer
	}
	p.close()
	for _, op := range long {
		op.checkOnce(t, true)
	}
	// close has waited for every timer callback; the goroutines that ran
	// them may take a moment to be gone. A bounded poll, not a sleep.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling with a deadline
	}
}

func TestPurgatoryNoKeysPanics(t *testing.T) {
	p := newTestPurgatory(t, newFakeClock(), 0)
	defer func() {
		if recover() == nil {
			t.Error("tryCompleteElseWatch with no keys did not panic")
		}
	}()
	p.tryCompleteElseWatch(newTestOp(time.Second), nil)
}
