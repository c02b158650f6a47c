package server

import (
	"context"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/sirupsen/logrus"
)

// startStoppable runs a broker until the returned stop is called (or the
// test ends) and fails the test if it does not start or stops with an
// error.
func startStoppable(t *testing.T, cfg *conf.Config) (*Broker, func()) {
	t.Helper()
	return startStoppableWith(t, cfg, nil)
}

// startStoppableWith is startStoppable with prepare, when not nil, called
// on the broker after New and before Run (to swap in test doubles).
func startStoppableWith(t *testing.T, cfg *conf.Config, prepare func(*Broker)) (*Broker, func()) {
	t.Helper()
	return startStoppableLogged(t, cfg, discardLogger(), prepare)
}

// startStoppableLogged is startStoppableWith with the broker logging to
// log (a test can hook its lines).
func startStoppableLogged(t *testing.T, cfg *conf.Config, log *logrus.Entry, prepare func(*Broker)) (*Broker, func()) {
	t.Helper()
	b, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("broker stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("broker did not stop within 30s")
		}
	}
	t.Cleanup(stop)
	select {
	case <-b.Ready():
	case err := <-done:
		stopped = true
		t.Fatalf("broker failed to start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("broker not ready within 30s")
	}
	return b, stop
}
