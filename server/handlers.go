package server

import (
	"github.com/sirupsen/logrus"
)

const debugLevel = logrus.DebugLevel

// handlers serves the Kafka APIs: one method per API, each in its own file
// named after the API's key (00_produce.go, 18_api_versions.go, ...). It
// holds what the handlers share; handlers are thin: decode, check, call the
// replica manager or a coordinator, encode.
//
// Safe for concurrent use: network calls Handle from its worker goroutines.
type handlers struct {
	log *logrus.Entry
}

// requestFields are the log fields of a request (STYLE.md section 9).
func requestFields(r *request) logrus.Fields {
	return logrus.Fields{
		"api_key":        r.header.APIKey,
		"api_version":    r.header.APIVersion,
		"correlation_id": r.header.CorrelationID,
		"client_id":      r.clientID(),
		"remote_addr":    r.conn.RemoteAddr.String(),
	}
}
