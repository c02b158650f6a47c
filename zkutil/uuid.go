package zkutil

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// UUID is a Kafka Uuid (cluster and topic ids): 16 bytes, written as 22
// characters of URL-safe base64 without padding.
type UUID [16]byte

// uuidEncoding is Kafka's Uuid text form. Strict: the two bits the last
// character carries beyond the 128 must be zero, so one UUID has exactly
// one spelling.
var uuidEncoding = base64.RawURLEncoding.Strict()

// NewUUID returns a random (version 4) UUID. Like Kafka's Uuid.randomUuid
// it never returns the zero UUID (which means "no id") or one whose text
// starts with '-' (which command-line tools would take for a flag).
func NewUUID() UUID {
	for {
		var u UUID
		if _, err := rand.Read(u[:]); err != nil {
			panic("zkutil: crypto/rand failed: " + err.Error())
		}
		u[6] = u[6]&0x0f | 0x40 // version 4
		u[8] = u[8]&0x3f | 0x80 // IETF variant
		if s := u.String(); s[0] != '-' {
			return u
		}
	}
}

// ParseUUID reads a UUID's 22-character text form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 22 {
		return u, fmt.Errorf("uuid %q is not 22 characters of base64", s)
	}
	b, err := uuidEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("uuid %q is not 22 characters of base64", s)
	}
	copy(u[:], b)
	return u, nil
}

// String is the UUID's 22-character text form.
func (u UUID) String() string { return uuidEncoding.EncodeToString(u[:]) }

// IsZero reports whether u is the zero UUID, Kafka's "no id".
func (u UUID) IsZero() bool { return u == UUID{} }
