package server

import (
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Checks shared by the controller's requests to brokers: LeaderAndIsr (4),
// StopReplica (5) and UpdateMetadata (6). Each carries the controller epoch
// and (v5+ of UpdateMetadata, KIP-380) the broker epoch the controller knows
// for the target, so that a broker ignores a deposed controller and
// requests meant for an earlier incarnation of itself.

// unknownBrokerEpoch is the broker epoch of a request from a controller that
// predates KIP-380 (and of UpdateMetadata before v5): never stale.
const unknownBrokerEpoch int64 = -1

// controllerEpochFence remembers the latest controller epoch the broker
// accepted (Kafka keeps it in ReplicaManager.controllerEpoch) and refuses
// requests from an older one.
//
// Safe for concurrent use. apply runs the state change under mu, so that the
// check, the change and the new epoch are one step, as Kafka does under
// replicaStateChangeLock.
type controllerEpochFence struct {
	mu    sync.Mutex // guards epoch; held while apply's fn runs
	epoch int32      // 0 until a controller is heard from (KafkaController.InitialControllerEpoch)
}

// apply runs fn and records controllerEpoch, unless controllerEpoch is older
// than the latest accepted: then it returns an error wrapping
// STALE_CONTROLLER_EPOCH and runs nothing. An equal epoch is accepted: one
// controller sends many requests.
func (f *controllerEpochFence) apply(controllerEpoch int32, fn func()) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if controllerEpoch < f.epoch {
		return fmt.Errorf("server: controller epoch %d is older than the latest known %d: %w",
			controllerEpoch, f.epoch, kerr.StaleControllerEpoch)
	}
	fn()
	f.epoch = controllerEpoch
	return nil
}

// latest returns the latest controller epoch accepted.
func (f *controllerEpochFence) latest() int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.epoch
}

// brokerEpochStale reports whether a control request was meant for an
// earlier registration of this broker (KIP-380): its broker epoch is older
// than the czxid of our current /brokers/ids znode. A newer one is
// accepted: the controller can learn of a re-registration before the broker
// does (Kafka's KafkaApis.isBrokerEpochStale).
func (h *handlers) brokerEpochStale(requestEpoch int64) bool {
	return requestEpoch != unknownBrokerEpoch && requestEpoch < h.brokerEpoch.Load()
}
