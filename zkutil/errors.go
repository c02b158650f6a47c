package zkutil

import (
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// Sentinel errors. Errors from ZooKeeper wrap both the sentinel here and
// go-zookeeper's own error, so errors.Is works with either.
var (
	// ErrNoNode: the znode does not exist.
	ErrNoNode = errors.New("zkutil: znode does not exist")
	// ErrNodeExists: a create found the znode already there.
	ErrNodeExists = errors.New("zkutil: znode already exists")
	// ErrVersionConflict: a conditional write found another znode version
	// than the one expected (someone else wrote in between).
	ErrVersionConflict = errors.New("zkutil: znode version conflict")
	// ErrEpochFenced: a fenced write found /controller_epoch at another
	// znode version than the fence's, so another controller has been
	// elected since. It also matches ErrVersionConflict.
	ErrEpochFenced = errors.New("zkutil: controller epoch znode version changed")
	// ErrElectionLost: RegisterController found /controller taken or
	// /controller_epoch moved by another broker.
	ErrElectionLost = errors.New("zkutil: another broker registered as controller")
	// ErrNotEmpty: a delete found children under the znode.
	ErrNotEmpty = errors.New("zkutil: znode has children")
	// ErrSessionExpired: ZooKeeper expired the session while the write was
	// in flight; the write may or may not have happened, and the session's
	// ephemeral znodes are gone.
	ErrSessionExpired = errors.New("zkutil: ZooKeeper session expired")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("zkutil: client closed")
	// ErrMalformed: a znode holds data zkutil cannot decode.
	ErrMalformed = errors.New("zkutil: malformed znode data")
	// ErrInvalidName: a topic, group or entity name cannot be a znode name.
	ErrInvalidName = errors.New("zkutil: invalid znode name")
	// ErrProducerIDsExhausted: the next producer id block would pass the
	// largest int64.
	ErrProducerIDsExhausted = errors.New("zkutil: producer ids exhausted")
)

// zkError pairs one of our sentinels with go-zookeeper's error. Its message
// is go-zookeeper's.
type zkError struct {
	sentinel error
	cause    error
}

func (e *zkError) Error() string   { return e.cause.Error() }
func (e *zkError) Unwrap() []error { return []error{e.sentinel, e.cause} }

// classify maps a go-zookeeper error to one that also matches our sentinel.
func classify(err error) error {
	var sentinel error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, zk.ErrNoNode):
		sentinel = ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		sentinel = ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		sentinel = ErrVersionConflict
	case errors.Is(err, zk.ErrNotEmpty):
		sentinel = ErrNotEmpty
	case errors.Is(err, zk.ErrSessionExpired):
		sentinel = ErrSessionExpired
	case errors.Is(err, zk.ErrClosing):
		sentinel = ErrClosed
	default:
		return err
	}
	return &zkError{sentinel: sentinel, cause: err}
}

// opError is the error of an operation on a znode: "zkutil: <op> <path>:
// <cause>", with path relative to the chroot.
func opError(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("zkutil: %s %s: %w", op, path, classify(err))
}

// fencedError marks a failed epoch check: it matches ErrEpochFenced and
// ErrVersionConflict.
type fencedError struct{ expected int32 }

func (e *fencedError) Error() string {
	return fmt.Sprintf("zkutil: controller epoch znode is no longer at version %d", e.expected)
}
func (e *fencedError) Unwrap() []error { return []error{ErrEpochFenced, ErrVersionConflict} }

// malformed reports undecodable data in a znode.
func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
}
