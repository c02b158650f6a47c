package network

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func BenchmarkParseRequestHeader(b *testing.B) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("producer-1"))
	for _, bc := range []struct {
		name string
		req  kmsg.Request
	}{
		{"v1_metadata_v8", metadataRequest(8, "topic")},
		{"v2_metadata_v9", metadataRequest(9, "topic")},
	} {
		frame := formatter.AppendRequest(nil, bc.req, 42)[4:]
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				if _, _, err := ParseRequestHeader(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendResponse(b *testing.B) {
	av := kmsg.NewPtrApiVersionsResponse()
	av.SetVersion(3)
	for key := int16(0); key < 60; key++ {
		av.ApiKeys = append(av.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: key, MaxVersion: 9})
	}
	md := kmsg.NewPtrMetadataResponse()
	md.SetVersion(9)
	for i := range 10 {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic = kmsg.StringPtr("topic-" + itoa(i))
		for p := range 12 {
			pt := kmsg.NewMetadataResponseTopicPartition()
			pt.Partition = int32(p)
			pt.Replicas = []int32{1, 2, 3}
			pt.ISR = []int32{1, 2, 3}
			t.Partitions = append(t.Partitions, pt)
		}
		md.Topics = append(md.Topics, t)
	}
	for _, bc := range []struct {
		name string
		hv   int8
		resp kmsg.Response
	}{
		{"api_versions_v3", 0, av},
		{"metadata_v9_10x12", 1, md},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var ok bool
				buf, ok = appendResponse(buf[:0], bc.hv, 42, bc.resp)
				if !ok {
					b.Fatal("too large")
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkParseRequestHeaderSameClient is the server's case: a connection
// parses headers with the client id it saw last.
func BenchmarkParseRequestHeaderSameClient(b *testing.B) {
	formatter := kmsg.NewRequestFormatter(kmsg.FormatterClientID("producer-1"))
	frame := formatter.AppendRequest(nil, metadataRequest(9, "topic"), 42)[4:]
	prev := kmsg.StringPtr("producer-1")
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if h, _, err := parseRequestHeader(frame, prev); err != nil || h.ClientID != prev {
			b.Fatal(err)
		}
	}
}
