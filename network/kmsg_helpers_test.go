package network

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataRequest is a Metadata request of version v for one topic, which
// echoHandler answers with the topic as cluster id.
func metadataRequest(v int16, topic string) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.SetVersion(v)
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	r.Topics = append(r.Topics, t)
	return r
}

// apiVersions is an ApiVersions request at v.
func apiVersions(v int16) *kmsg.ApiVersionsRequest {
	r := kmsg.NewPtrApiVersionsRequest()
	r.SetVersion(v)
	if v >= 3 {
		r.ClientSoftwareName = "gregor-test"
		r.ClientSoftwareVersion = "1"
	}
	return r
}

func itoa(i int) string { return strconv.Itoa(i) }
