package zkutil

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// /latest_producer_id_block records the last block of producer ids handed
// to a broker's transaction coordinator:
//
//	{"version":1,"broker":1,"block_start":"1000","block_end":"1999"}
//
// (the numbers as strings, as Kafka writes them). A broker claims the next
// block by a conditional set on the version it read, so two brokers never
// get overlapping blocks; an empty znode (as Kafka creates it) means no
// block was handed out yet, and the first is 0-999.
const producerIDBlockPath = "/latest_producer_id_block"

// ProducerIDBlockSize is how many producer ids a claim hands out (Kafka's
// ProducerIdManager.PidBlockSize).
const ProducerIDBlockSize = 1000

// ProducerIDBlock is a block of producer ids, Start to End inclusive,
// handed to BrokerID.
type ProducerIDBlock struct {
	BrokerID int32
	Start    int64
	End      int64
}

type producerIDBlockJSON struct {
	Version    int           `json:"version"`
	Broker     int32         `json:"broker"`
	BlockStart decimalString `json:"block_start"`
	BlockEnd   decimalString `json:"block_end"`
}

func encodeProducerIDBlock(b ProducerIDBlock) []byte {
	return marshal(producerIDBlockJSON{Version: 1, Broker: b.BrokerID, BlockStart: decimalString(b.Start), BlockEnd: decimalString(b.End)})
}

func decodeProducerIDBlock(data []byte) (ProducerIDBlock, error) {
	var v struct {
		Version    *int           `json:"version"`
		Broker     *int32         `json:"broker"`
		BlockStart *decimalString `json:"block_start"`
		BlockEnd   *decimalString `json:"block_end"`
	}
	if err := unmarshal("producer id block", data, &v); err != nil {
		return ProducerIDBlock{}, err
	}
	switch {
	case v.Version == nil || *v.Version != 1:
		return ProducerIDBlock{}, malformed("producer id block", errors.New("version is not 1"))
	case v.Broker == nil || v.BlockStart == nil || v.BlockEnd == nil:
		return ProducerIDBlock{}, malformed("producer id block", errors.New("broker, block_start or block_end missing"))
	case *v.BlockStart < 0 || *v.BlockEnd < *v.BlockStart:
		return ProducerIDBlock{}, malformed("producer id block", fmt.Errorf("block %d-%d", *v.BlockStart, *v.BlockEnd))
	}
	return ProducerIDBlock{BrokerID: *v.Broker, Start: int64(*v.BlockStart), End: int64(*v.BlockEnd)}, nil
}

// ClaimProducerIDBlock claims the next block of ProducerIDBlockSize
// producer ids for brokerID. Concurrent claimers (on any broker) get
// disjoint blocks: each claim is a set conditional on the version read,
// and a claimer that loses the race reads again and claims the block
// after the winner's.
func (c *Client) ClaimProducerIDBlock(ctx context.Context, brokerID int32) (ProducerIDBlock, error) {
	for {
		data, st, err := c.get(ctx, producerIDBlockPath)
		exists := err == nil
		if err != nil && !errors.Is(err, ErrNoNode) {
			return ProducerIDBlock{}, err
		}
		next := ProducerIDBlock{BrokerID: brokerID, Start: 0, End: ProducerIDBlockSize - 1}
		if len(data) > 0 {
			prev, err := decodeProducerIDBlock(data)
			if err != nil {
				return ProducerIDBlock{}, fmt.Errorf("zkutil: %s: %w", producerIDBlockPath, err)
			}
			if prev.End > math.MaxInt64-ProducerIDBlockSize {
				return ProducerIDBlock{}, fmt.Errorf("%w: the last block ends at %d", ErrProducerIDsExhausted, prev.End)
			}
			next.Start, next.End = prev.End+1, prev.End+ProducerIDBlockSize
		}
		encoded := encodeProducerIDBlock(next)
		if exists {
			_, err = c.set(ctx, producerIDBlockPath, encoded, st.Version)
		} else {
			_, err = c.create(ctx, producerIDBlockPath, encoded, zk.FlagPersistent)
		}
		switch {
		case err == nil:
			c.log.WithFields(logrus.Fields{"broker_id": brokerID, "block_start": next.Start, "block_end": next.End}).
				Info("claimed producer id block")
			return next, nil
		case errors.Is(err, ErrVersionConflict) || errors.Is(err, ErrNodeExists):
			c.log.WithField("broker_id", brokerID).Debug("producer id block claimed by another, trying the next")
			continue // ctx is checked by the next get
		}
		return ProducerIDBlock{}, err
	}
}
