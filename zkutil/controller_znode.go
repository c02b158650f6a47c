package zkutil

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// /controller is the ephemeral znode of the elected controller:
//
//	{"version":1,"brokerid":1,"timestamp":"1620000000000"}
//
// /controller_epoch is a persistent znode holding the controller epoch as
// a decimal integer ("3"). A broker becomes controller by creating
// /controller and setting /controller_epoch to the next epoch in one
// transaction, conditional on the epoch znode's version (Kafka's
// registerControllerAndIncrementControllerEpoch). That znode version is
// then the controller's fence: every write the controller makes is a
// transaction that first checks it (Fence), so a controller that has been
// replaced (a long GC pause, a partition from ZooKeeper) cannot overwrite
// its successor's decisions: its writes fail with ErrEpochFenced.
const (
	controllerPath      = "/controller"
	controllerEpochPath = "/controller_epoch"
)

// initialControllerEpoch is what /controller_epoch is created with before
// the first election (Kafka's KafkaController.InitialControllerEpoch), so
// the first controller has epoch 1.
const initialControllerEpoch = 0

// ControllerInfo is the content of /controller.
type ControllerInfo struct {
	BrokerID  int32
	Timestamp int64 // ms since the epoch, when the controller was elected
}

type controllerJSON struct {
	Version   int           `json:"version"`
	BrokerID  int32         `json:"brokerid"`
	Timestamp decimalString `json:"timestamp"`
}

func encodeController(info ControllerInfo) []byte {
	return marshal(controllerJSON{Version: 1, BrokerID: info.BrokerID, Timestamp: decimalString(info.Timestamp)})
}

// decodeController reads /controller. Kafka reads only brokerid; the
// timestamp is optional here.
func decodeController(data []byte) (ControllerInfo, error) {
	var v struct {
		Version   *int           `json:"version"`
		BrokerID  *int32         `json:"brokerid"`
		Timestamp *decimalString `json:"timestamp"`
	}
	if err := unmarshal("controller", data, &v); err != nil {
		return ControllerInfo{}, err
	}
	switch {
	case v.Version == nil || *v.Version != 1:
		return ControllerInfo{}, malformed("controller", errors.New("version is not 1"))
	case v.BrokerID == nil:
		return ControllerInfo{}, malformed("controller", errors.New("no brokerid"))
	}
	info := ControllerInfo{BrokerID: *v.BrokerID}
	if v.Timestamp != nil {
		info.Timestamp = int64(*v.Timestamp)
	}
	return info, nil
}

func encodeControllerEpoch(epoch int32) []byte {
	return []byte(strconv.FormatInt(int64(epoch), 10))
}

// decodeControllerEpoch reads /controller_epoch as Kafka's toInt does.
func decodeControllerEpoch(data []byte) (int32, error) {
	n, err := parseDecimal(string(data))
	if err != nil || n != int64(int32(n)) {
		return 0, malformed("controller epoch", fmt.Errorf("%q is not an int32", data))
	}
	return int32(n), nil
}

// Controller reads /controller; ok is false when there is no controller.
func (c *Client) Controller(ctx context.Context) (info ControllerInfo, ok bool, err error) {
	data, _, err := c.get(ctx, controllerPath)
	if errors.Is(err, ErrNoNode) {
		return ControllerInfo{}, false, nil
	}
	if err != nil {
		return ControllerInfo{}, false, err
	}
	info, err = decodeController(data)
	if err != nil {
		return ControllerInfo{}, false, fmt.Errorf("zkutil: %s: %w", controllerPath, err)
	}
	return info, true, nil
}

// WatchController reads /controller like Controller and sets a watch that
// fires when it is created, changed or deleted (Kafka's
// ControllerChangeHandler).
func (c *Client) WatchController(ctx context.Context) (info ControllerInfo, ok bool, watch <-chan WatchEvent, err error) {
	exists, _, watch, err := c.existsW(ctx, controllerPath)
	if err != nil || !exists {
		return ControllerInfo{}, false, watch, err
	}
	// The watch is set; a change between the two reads fires it.
	info, ok, err = c.Controller(ctx)
	return info, ok, watch, err
}

// ControllerEpoch reads /controller_epoch: the epoch and the znode's
// version. ok is false when no controller was ever elected.
func (c *Client) ControllerEpoch(ctx context.Context) (epoch, zkVersion int32, ok bool, err error) {
	data, st, err := c.get(ctx, controllerEpochPath)
	if errors.Is(err, ErrNoNode) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	epoch, err = decodeControllerEpoch(data)
	if err != nil {
		return 0, 0, false, fmt.Errorf("zkutil: %s: %w", controllerEpochPath, err)
	}
	return epoch, st.Version, true, nil
}

// Election is what winning the controller election gives: the new
// controller epoch and the version of /controller_epoch that fences every
// write of this controller.
type Election struct {
	Epoch          int32
	EpochZkVersion int32
}

// Fence is the fence of the elected controller's writes.
func (e Election) Fence() Fence { return ControllerEpochFence(e.EpochZkVersion) }

// RegisterController tries to make brokerID the controller: it creates
// /controller (ephemeral) and bumps /controller_epoch in one transaction,
// conditional on the epoch znode's version. It fails with ErrElectionLost
// when another broker is controller or won a race for the epoch; exactly
// one of several brokers racing wins. zkutil does not decide what losing
// means: the caller watches /controller (WatchController) and tries again
// when it goes.
func (c *Client) RegisterController(ctx context.Context, brokerID int32) (Election, error) {
	epoch, epochVersion, ok, err := c.ControllerEpoch(ctx)
	if err != nil {
		return Election{}, err
	}
	if !ok {
		_, err := c.create(ctx, controllerEpochPath, encodeControllerEpoch(initialControllerEpoch), zk.FlagPersistent)
		switch {
		case err == nil:
			epoch, epochVersion = initialControllerEpoch, 0
		case errors.Is(err, ErrNodeExists):
			if epoch, epochVersion, _, err = c.ControllerEpoch(ctx); err != nil {
				return Election{}, err
			}
		default:
			return Election{}, err
		}
	}
	newEpoch := epoch + 1
	controllerData := encodeController(ControllerInfo{BrokerID: brokerID, Timestamp: c.now()})
	var won Election
	err = c.doWrite(ctx, func(attempt int) error {
		res, _, err := c.multi(
			&zk.CreateRequest{Path: c.abs(controllerPath), Data: controllerData, Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral},
			&zk.SetDataRequest{Path: c.abs(controllerEpochPath), Data: encodeControllerEpoch(newEpoch), Version: epochVersion},
		)
		switch {
		case err == nil:
			won = Election{Epoch: newEpoch, EpochZkVersion: res[1].Stat.Version}
			return nil
		case errors.Is(err, zk.ErrNodeExists) || errors.Is(err, zk.ErrBadVersion):
			// Lost, unless this is a retry and the lost attempt won.
			if attempt > 0 {
				if e, ok := c.checkElected(ctx, newEpoch); ok {
					won = e
					return nil
				}
			}
			return fmt.Errorf("%w: %w", ErrElectionLost, classify(err))
		}
		return err
	})
	if err != nil {
		return Election{}, fmt.Errorf("zkutil: register broker %d as controller (epoch %d): %w", brokerID, newEpoch, err)
	}
	c.log.WithFields(logrus.Fields{"broker_id": brokerID, "controller_epoch": won.Epoch, "zk_version": won.EpochZkVersion}).
		Info("registered as controller")
	return won, nil
}

// checkElected reports whether this session holds /controller and the
// epoch is newEpoch: then an election attempt whose answer was lost won.
func (c *Client) checkElected(ctx context.Context, newEpoch int32) (Election, bool) {
	_, st, err := c.get(ctx, controllerPath)
	if err != nil || st.EphemeralOwner != c.SessionID() {
		return Election{}, false
	}
	epoch, version, ok, err := c.ControllerEpoch(ctx)
	if err != nil || !ok || epoch != newEpoch {
		return Election{}, false
	}
	return Election{Epoch: epoch, EpochZkVersion: version}, true
}

// DeleteController deletes /controller, fenced: a controller resigning
// removes its own registration and nobody else's.
func (c *Client) DeleteController(ctx context.Context, f Fence) error {
	return c.fencedDelete(ctx, f, controllerPath, MatchAnyVersion)
}

// Fence makes a write conditional on /controller_epoch still being at the
// version the controller's election left it at: the write and a check of
// that version go to ZooKeeper as one transaction (Kafka's
// wrapRequestWithControllerEpochCheck). Every controller write takes one.
// NoFence, the zero Fence, makes a plain write, for writers that are not
// the controller (admin requests, tools).
type Fence struct {
	epochZkVersion int32
	set            bool
}

// NoFence is the Fence of writes that are not the controller's.
var NoFence Fence

// ControllerEpochFence fences writes with /controller_epoch's znode
// version, as Election.Fence does.
func ControllerEpochFence(epochZkVersion int32) Fence {
	return Fence{epochZkVersion: epochZkVersion, set: true}
}

func (f Fence) String() string {
	if !f.set {
		return "no fence"
	}
	return fmt.Sprintf("controller epoch zk version %d", f.epochZkVersion)
}

// runFenced makes one attempt at op (a *zk.CreateRequest, *zk.SetDataRequest
// or *zk.DeleteRequest with an absolute path) behind f's check. A failed
// check is a *fencedError.
func (c *Client) runFenced(f Fence, op any) (zk.MultiResponse, error) {
	res, failed, err := c.multi(&zk.CheckVersionRequest{Path: c.abs(controllerEpochPath), Version: f.epochZkVersion}, op)
	switch {
	case err == nil:
		return res[1], nil
	case failed == 0:
		return zk.MultiResponse{}, &fencedError{expected: f.epochZkVersion}
	}
	return zk.MultiResponse{}, err
}

// fencedCreate creates a znode behind f (plainly with NoFence).
func (c *Client) fencedCreate(ctx context.Context, f Fence, p string, data []byte, flags int32) (string, error) {
	if !f.set {
		return c.create(ctx, p, data, flags)
	}
	var created string
	err := c.doWrite(ctx, func(attempt int) error {
		res, err := c.runFenced(f, &zk.CreateRequest{Path: c.abs(p), Data: data, Acl: zk.WorldACL(zk.PermAll), Flags: flags})
		if attempt > 0 && flags&zk.FlagSequence == 0 && errors.Is(err, zk.ErrNodeExists) && c.resolveCreate(ctx, p, data, flags) {
			res.String, err = c.abs(p), nil
		}
		created = res.String
		return err
	})
	if err != nil {
		return "", opError("create", p, err)
	}
	return c.rel(created), nil
}

// fencedSet sets a znode's data behind f (plainly with NoFence), if its
// version is expected.
func (c *Client) fencedSet(ctx context.Context, f Fence, p string, data []byte, expected int32) (Stat, error) {
	return c.fencedSetResolving(ctx, f, p, data, expected, false)
}

// fencedSetResolving is fencedSet; with maybeApplied, the write may have
// been applied already (by a transaction whose answer was lost), so that a
// version conflict on the first attempt is checked against it too.
func (c *Client) fencedSetResolving(ctx context.Context, f Fence, p string, data []byte, expected int32, maybeApplied bool) (Stat, error) {
	if !f.set && !maybeApplied {
		return c.set(ctx, p, data, expected)
	}
	var st Stat
	err := c.doWrite(ctx, func(attempt int) error {
		var res zk.MultiResponse
		var err error
		if f.set {
			res, err = c.runFenced(f, &zk.SetDataRequest{Path: c.abs(p), Data: data, Version: expected})
		} else {
			res.Stat, err = c.conn.Set(c.abs(p), data, expected)
		}
		if (attempt > 0 || maybeApplied) && errors.Is(err, zk.ErrBadVersion) {
			if resolved, ok := c.resolveSet(ctx, p, data, expected); ok {
				res.Stat, err = &resolved, nil
			}
		}
		st = statOf(res.Stat)
		return err
	})
	if err != nil {
		return Stat{}, opError("set", p, err)
	}
	return st, nil
}

// fencedDelete deletes a znode behind f (plainly with NoFence), if its
// version is expected.
func (c *Client) fencedDelete(ctx context.Context, f Fence, p string, expected int32) error {
	if !f.set {
		return c.delete(ctx, p, expected)
	}
	err := c.doWrite(ctx, func(attempt int) error {
		_, err := c.runFenced(f, &zk.DeleteRequest{Path: c.abs(p), Version: expected})
		if attempt > 0 && errors.Is(err, zk.ErrNoNode) {
			return nil
		}
		return err
	})
	return opError("delete", p, err)
}
