package zkutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/gregor-broker/gregor/conf"
)

// /brokers/ids/<id> is a live broker's registration, an ephemeral znode
// that vanishes with the broker's session. Kafka 2.8 writes version 5:
//
//	{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},
//	 "endpoints":["PLAINTEXT://host:9092"],"jmx_port":-1,"host":"host",
//	 "port":9092,"timestamp":"1620000000000","version":5,"rack":"r1",
//	 "features":{}}
//
// host and port repeat the first PLAINTEXT endpoint for clients older than
// 0.10 (null and -1 when there is none); rack appears only when set. The
// znode's czxid (the zxid of its creation) is the broker epoch, which
// the controller sends with every request to that broker so that a
// broker that re-registered ignores requests meant for its previous life.
//
// /brokers/seqid is a persistent znode whose version is bumped to hand out
// broker ids when broker.id is not configured.
const (
	brokersPath     = "/brokers"
	brokerIDsPath   = "/brokers/ids"
	brokerSeqIDPath = "/brokers/seqid"
)

func brokerPath(id int32) string {
	return brokerIDsPath + "/" + strconv.Itoa(int(id))
}

// BrokerInfo is a broker's registration.
type BrokerInfo struct {
	ID        int32           // the znode's name; not in the JSON
	Endpoints []conf.Listener // advertised listeners, in order
	JMXPort   int32           // -1: no JMX
	Rack      string          // "": no rack
	Timestamp int64           // ms since the epoch; RegisterBroker sets it
	// Features are the features and version ranges the broker supports
	// (KIP-584); Gregor supports none yet.
	Features map[string]FeatureRange
}

// FeatureRange is the range of versions of a feature a broker supports.
type FeatureRange struct {
	MinVersion int16
	MaxVersion int16
}

// BrokerRegistration is a registered broker and its epoch.
type BrokerRegistration struct {
	Info  BrokerInfo
	Epoch int64 // the czxid of the broker's znode
}

// BrokerRegisteredError is RegisterBroker's error when the broker id is
// registered by another session: a live broker with the same broker.id,
// or this broker's previous session, not yet expired. It matches
// ErrNodeExists.
type BrokerRegisteredError struct {
	BrokerID       int32
	OwnerSessionID int64
}

func (e *BrokerRegisteredError) Error() string {
	return fmt.Sprintf("zkutil: broker id %d is already registered, by session 0x%x", e.BrokerID, e.OwnerSessionID)
}

func (e *BrokerRegisteredError) Is(target error) bool { return target == ErrNodeExists }

type brokerJSON struct {
	ListenerSecurityProtocolMap map[string]string       `json:"listener_security_protocol_map"`
	Endpoints                   []string                `json:"endpoints"`
	JMXPort                     int32                   `json:"jmx_port"`
	Host                        *string                 `json:"host"`
	Port                        int32                   `json:"port"`
	Timestamp                   decimalString           `json:"timestamp"`
	Version                     int                     `json:"version"`
	Rack                        *string                 `json:"rack,omitempty"`
	Features                    map[string]featureRange `json:"features"`
}

type featureRange struct {
	MinVersion int16 `json:"min_version"`
	MaxVersion int16 `json:"max_version"`
}

// brokerJSONVersion is the registration version Kafka 2.7 and later write.
const brokerJSONVersion = 5

func encodeBroker(info BrokerInfo) []byte {
	v := brokerJSON{
		ListenerSecurityProtocolMap: make(map[string]string, len(info.Endpoints)),
		Endpoints:                   make([]string, len(info.Endpoints)),
		JMXPort:                     info.JMXPort,
		Port:                        -1,
		Timestamp:                   decimalString(info.Timestamp),
		Version:                     brokerJSONVersion,
		Features:                    make(map[string]featureRange, len(info.Features)),
	}
	for i, l := range info.Endpoints {
		v.Endpoints[i] = l.String()
		v.ListenerSecurityProtocolMap[l.Name] = string(l.SecurityProtocol)
		if v.Host == nil && l.SecurityProtocol == conf.Plaintext {
			host := l.Host
			v.Host, v.Port = &host, int32(l.Port)
		}
	}
	if info.Rack != "" {
		rack := info.Rack
		v.Rack = &rack
	}
	for name, r := range info.Features {
		v.Features[name] = featureRange(r)
	}
	return marshal(v)
}

// knownProtocols maps each security protocol's name to itself: the
// listener map of registrations older than version 4, which had none.
var knownProtocols = map[string]conf.SecurityProtocol{
	string(conf.Plaintext): conf.Plaintext, string(conf.SSL): conf.SSL,
	string(conf.SASLPlaintext): conf.SASLPlaintext, string(conf.SASLSSL): conf.SASLSSL,
}

// decodeBroker reads a registration of any version from 1 on, as Kafka's
// BrokerIdZNode.decode does: version 1 has only host and port (a PLAINTEXT
// endpoint); from 2 on the endpoints are authoritative and host and port
// are ignored; the listener map (from 4) names each endpoint's protocol.
func decodeBroker(id int32, data []byte) (BrokerInfo, error) {
	var v struct {
		ListenerSecurityProtocolMap map[string]string       `json:"listener_security_protocol_map"`
		Endpoints                   *[]string               `json:"endpoints"`
		JMXPort                     *int32                  `json:"jmx_port"`
		Host                        *string                 `json:"host"`
		Port                        *int32                  `json:"port"`
		Timestamp                   *decimalString          `json:"timestamp"`
		Version                     *int                    `json:"version"`
		Rack                        *string                 `json:"rack"`
		Features                    map[string]featureRange `json:"features"`
	}
	what := "broker " + strconv.Itoa(int(id))
	if err := unmarshal(what, data, &v); err != nil {
		return BrokerInfo{}, err
	}
	switch {
	case v.Version == nil || *v.Version < 1:
		return BrokerInfo{}, malformed(what, errors.New("no version from 1 on"))
	case v.JMXPort == nil:
		return BrokerInfo{}, malformed(what, errors.New("no jmx_port"))
	}
	info := BrokerInfo{ID: id, JMXPort: *v.JMXPort, Endpoints: []conf.Listener{}, Features: map[string]FeatureRange{}}
	if *v.Version == 1 {
		if v.Host == nil || v.Port == nil || *v.Port < 0 || *v.Port > 65535 {
			return BrokerInfo{}, malformed(what, errors.New("version 1 needs a host and a port"))
		}
		ep := string(conf.Plaintext) + "://" + net.JoinHostPort(*v.Host, strconv.Itoa(int(*v.Port)))
		ls, err := conf.ParseListeners(ep, knownProtocols)
		if err == nil && len(ls) != 1 {
			err = errors.New("not one endpoint")
		}
		if err != nil {
			return BrokerInfo{}, malformed(what, fmt.Errorf("host and port: %w", err))
		}
		info.Endpoints = append(info.Endpoints, ls[0])
	} else {
		if v.Endpoints == nil {
			return BrokerInfo{}, malformed(what, errors.New("no endpoints"))
		}
		protocols := knownProtocols
		if v.ListenerSecurityProtocolMap != nil {
			protocols = make(map[string]conf.SecurityProtocol, len(v.ListenerSecurityProtocolMap))
			for name, p := range v.ListenerSecurityProtocolMap {
				sp, ok := knownProtocols[upper(p)]
				if !ok {
					return BrokerInfo{}, malformed(what, fmt.Errorf("listener %q has unknown security protocol %q", name, p))
				}
				if _, dup := protocols[upper(name)]; dup {
					return BrokerInfo{}, malformed(what, fmt.Errorf("listener %q is mapped twice", name))
				}
				protocols[upper(name)] = sp
			}
		}
		for _, ep := range *v.Endpoints {
			ls, err := conf.ParseListeners(ep, protocols)
			if err == nil && len(ls) != 1 {
				err = errors.New("not one endpoint")
			}
			if err != nil {
				return BrokerInfo{}, malformed(what, fmt.Errorf("endpoint %q: %w", ep, err))
			}
			info.Endpoints = append(info.Endpoints, ls[0])
		}
	}
	if v.Rack != nil {
		info.Rack = *v.Rack
	}
	if v.Timestamp != nil {
		info.Timestamp = int64(*v.Timestamp)
	}
	for name, r := range v.Features {
		info.Features[name] = FeatureRange(r)
	}
	return info, nil
}

// upper upper-cases ASCII, as Kafka normalises listener names and
// protocol names.
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// RegisterBroker registers the broker: it creates its ephemeral znode,
// stamped with the current time, and returns the broker epoch. When the id
// is registered by another session it fails with *BrokerRegisteredError.
// Registering again within the same session (a retry, or after
// SessionReconnected) updates the data and returns the same epoch; after
// SessionNew the broker must call it again: its znode went with the old
// session.
func (c *Client) RegisterBroker(ctx context.Context, info BrokerInfo) (epoch int64, err error) {
	info.Timestamp = c.now()
	p := brokerPath(info.ID)
	data := encodeBroker(info)
	// Create empty, then set the data, in one transaction: the set's
	// answer carries the znode's stat, and with it the czxid.
	for {
		var st *zk.Stat
		err := c.doWrite(ctx, func(int) error {
			res, _, err := c.multi(
				&zk.CreateRequest{Path: c.abs(p), Acl: zk.WorldACL(zk.PermAll), Flags: zk.FlagEphemeral},
				&zk.SetDataRequest{Path: c.abs(p), Data: data, Version: 0},
			)
			if err == nil {
				st = res[1].Stat
			}
			return err
		})
		switch {
		case err == nil:
			epoch = st.Czxid
		case errors.Is(err, zk.ErrNoNode): // no /brokers/ids yet
			if err := c.ensurePath(ctx, brokerIDsPath); err != nil {
				return 0, err
			}
			continue
		case errors.Is(err, zk.ErrNodeExists):
			existing, err := c.ownedEphemeral(ctx, p, data)
			if errors.Is(err, ErrNoNode) {
				continue // it went away meanwhile: try again
			}
			if err != nil {
				var taken *BrokerRegisteredError
				if errors.As(err, &taken) {
					taken.BrokerID = info.ID
				}
				return 0, err
			}
			epoch = existing.Czxid
		default:
			return 0, opError("register broker at", p, err)
		}
		c.log.WithFields(logrus.Fields{"broker_id": info.ID, "broker_epoch": epoch, "endpoints": endpointStrings(info.Endpoints)}).
			Info("registered broker")
		return epoch, nil
	}
}

// ownedEphemeral handles finding an ephemeral znode already at p: when
// this session owns it, its data is brought up to date and its stat
// returned; when another session owns it, *BrokerRegisteredError.
func (c *Client) ownedEphemeral(ctx context.Context, p string, data []byte) (Stat, error) {
	got, st, err := c.get(ctx, p)
	if err != nil {
		return Stat{}, err
	}
	if st.EphemeralOwner != c.SessionID() {
		return Stat{}, &BrokerRegisteredError{OwnerSessionID: st.EphemeralOwner}
	}
	if string(got) == string(data) {
		return st, nil
	}
	return c.set(ctx, p, data, st.Version)
}

// UpdateBroker rewrites a registered broker's data (new endpoints, say),
// stamped with the current time; its epoch does not change.
func (c *Client) UpdateBroker(ctx context.Context, info BrokerInfo) error {
	info.Timestamp = c.now()
	_, err := c.set(ctx, brokerPath(info.ID), encodeBroker(info), MatchAnyVersion)
	return err
}

// Broker reads one broker's registration; ErrNoNode when it is not
// registered.
func (c *Client) Broker(ctx context.Context, id int32) (BrokerRegistration, error) {
	data, st, err := c.get(ctx, brokerPath(id))
	if err != nil {
		return BrokerRegistration{}, err
	}
	info, err := decodeBroker(id, data)
	if err != nil {
		return BrokerRegistration{}, fmt.Errorf("zkutil: %s: %w", brokerPath(id), err)
	}
	return BrokerRegistration{Info: info, Epoch: st.Czxid}, nil
}

// WatchBroker reads one broker's registration and sets a watch that fires
// when it changes or goes (Kafka's BrokerModificationsHandler).
func (c *Client) WatchBroker(ctx context.Context, id int32) (BrokerRegistration, <-chan WatchEvent, error) {
	data, st, watch, err := c.getW(ctx, brokerPath(id))
	if err != nil {
		return BrokerRegistration{}, nil, err
	}
	info, err := decodeBroker(id, data)
	if err != nil {
		return BrokerRegistration{}, watch, fmt.Errorf("zkutil: %s: %w", brokerPath(id), err)
	}
	return BrokerRegistration{Info: info, Epoch: st.Czxid}, watch, nil
}

// BrokerIDs lists the registered broker ids, in increasing order.
func (c *Client) BrokerIDs(ctx context.Context) ([]int32, error) {
	names, err := c.children(ctx, brokerIDsPath)
	if errors.Is(err, ErrNoNode) {
		return []int32{}, nil
	}
	if err != nil {
		return nil, err
	}
	return c.brokerIDs(names), nil
}

// WatchBrokerIDs lists the registered broker ids and sets a watch that
// fires when a broker registers or goes (Kafka's BrokerChangeHandler).
func (c *Client) WatchBrokerIDs(ctx context.Context) ([]int32, <-chan WatchEvent, error) {
	names, watch, err := c.childrenW(ctx, brokerIDsPath)
	if err != nil {
		return nil, nil, err
	}
	return c.brokerIDs(names), watch, nil
}

// brokerIDs turns the children of /brokers/ids into ids, in increasing
// order; a child that is not a number is not a broker and is skipped.
func (c *Client) brokerIDs(names []string) []int32 {
	ids := make([]int32, 0, len(names))
	for _, name := range names {
		id, ok := parseID(name)
		if !ok {
			c.log.WithField("znode", joinPath(brokerIDsPath, name)).Warn("skipping a znode that is not a broker id")
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Brokers reads every registered broker, in increasing id order. A broker
// that goes between the listing and the read is left out.
func (c *Client) Brokers(ctx context.Context) ([]BrokerRegistration, error) {
	ids, err := c.BrokerIDs(ctx)
	if err != nil {
		return nil, err
	}
	regs := make([]BrokerRegistration, len(ids))
	errs := make([]error, len(ids))
	c.parallel(len(ids), func(i int) { regs[i], errs[i] = c.Broker(ctx, ids[i]) })
	out := regs[:0]
	for i := range ids {
		switch {
		case errors.Is(errs[i], ErrNoNode):
		case errs[i] != nil:
			return nil, errs[i]
		default:
			out = append(out, regs[i])
		}
	}
	return out, nil
}

// NextBrokerSequenceID returns a number never returned before in this
// cluster: the new version of /brokers/seqid after an unconditional set
// (1, 2, 3, ...). Kafka adds reserved.broker.max.id to it to make a broker
// id; that is the caller's business.
func (c *Client) NextBrokerSequenceID(ctx context.Context) (int32, error) {
	st, err := c.set(ctx, brokerSeqIDPath, nil, MatchAnyVersion)
	if errors.Is(err, ErrNoNode) {
		if err := c.ensurePath(ctx, brokerSeqIDPath); err != nil {
			return 0, err
		}
		st, err = c.set(ctx, brokerSeqIDPath, nil, MatchAnyVersion)
	}
	if err != nil {
		return 0, err
	}
	return st.Version, nil
}

func endpointStrings(ls []conf.Listener) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ",")
}
