package zkutil

import (
	"errors"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestSessionExpiry forces ZooKeeper to expire a broker's session and
// checks what the broker needs: the expiry and the new session are
// reported in order, the registration is gone, watches say they were lost,
// and the broker can register again in its new session.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	srv := zktest.Shared(t)
	connect := srv.Chroot(t)
	cfg := testConfig(t, connect)
	cfg.SessionTimeout = 4 * time.Second
	ctx := testContext(t)
	broker, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	observer := connectTo(t, connect)

	events, stop := broker.SessionEvents()
	defer stop()
	oldEpoch, err := broker.RegisterBroker(ctx, testBroker(1))
	if err != nil {
		t.Fatal(err)
	}
	_, watch, err := broker.WatchBrokerIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldSession := broker.SessionID()

	if err := srv.ExpireSession(ctx, oldSession); err != nil {
		t.Fatal(err)
	}
	expectSessionEvent(t, events, SessionExpired, oldSession)
	ev := waitWatch(t, watch)
	if ev.Type != WatchLost || !errors.Is(ev.Err, ErrSessionExpired) {
		t.Errorf("watch of the expired session: %+v, want WatchLost with ErrSessionExpired", ev)
	}
	newSession := expectSessionEvent(t, events, SessionNew, 0).SessionID
	if newSession == oldSession || newSession != broker.SessionID() {
		t.Fatalf("new session 0x%x, old 0x%x, client says 0x%x", newSession, oldSession, broker.SessionID())
	}
	if _, err := observer.Broker(ctx, 1); !errors.Is(err, ErrNoNode) {
		t.Fatalf("the expired session's registration: %v, want it gone", err)
	}

	// What the broker does on SessionNew: register again, re-arm.
	newEpoch, err := broker.RegisterBroker(ctx, testBroker(1))
	if err != nil || newEpoch <= oldEpoch {
		t.Fatalf("re-register: epoch %d, %v; want more than %d", newEpoch, err, oldEpoch)
	}
	ids, watch, err := broker.WatchBrokerIDs(ctx)
	if err != nil || len(ids) != 1 {
		t.Fatalf("re-armed watch: %v, %v", ids, err)
	}
	if _, err := observer.RegisterBroker(ctx, testBroker(2)); err != nil {
		t.Fatal(err)
	}
	if ev := waitWatch(t, watch); ev.Type != NodeChildrenChanged {
		t.Errorf("re-armed watch: %+v", ev)
	}
	reg, err := observer.Broker(ctx, 1)
	if err != nil || reg.Epoch != newEpoch {
		t.Errorf("the new registration: %+v, %v", reg, err)
	}

	// Subscribing late sees later events only; stop closes the channel.
	late, stopLate := broker.SessionEvents()
	stopLate()
	if ev, ok := <-late; ok {
		t.Errorf("a stopped subscription delivered %+v", ev)
	}
}
