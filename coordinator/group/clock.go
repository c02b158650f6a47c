package group

import "time"

// Clock is the coordinator's time source and timer factory. Timer
// callbacks run on their own goroutine (time.AfterFunc) or, with a test
// clock, on the goroutine that advances it; they take the group lock
// themselves, so they must never be run under one.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending callback of a Clock.
type Timer interface {
	// Stop prevents the callback from running if it has not started;
	// it reports whether it did.
	Stop() bool
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
