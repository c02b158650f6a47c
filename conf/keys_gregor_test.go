package conf

import (
	"strings"
	"testing"
)

// TestGregorKeys: Gregor's own keys have Gregor's defaults, parse into
// their fields without an "unknown key" warning, are described, and reject
// bad values naming the key.
func TestGregorKeys(t *testing.T) {
	c := Default()
	if !c.FetchZeroCopy || c.PprofListener != "" {
		t.Fatalf("defaults: zero copy %v, pprof %q; want true and \"\"", c.FetchZeroCopy, c.PprofListener)
	}
	for _, k := range Keys() {
		if strings.HasPrefix(k.Name, GregorKeyPrefix) && !strings.HasPrefix(k.Doc, "Gregor:") {
			t.Errorf("%s: doc %q does not say the key is Gregor's", k.Name, k.Doc)
		}
	}

	c, warnings, err := Parse(withZooKeeper(map[string]string{
		"gregor.fetch.zero.copy": "false",
		"gregor.pprof.listener":  "127.0.0.1:6060",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings %v", warnings)
	}
	if c.FetchZeroCopy || c.PprofListener != "127.0.0.1:6060" {
		t.Errorf("parsed zero copy %v, pprof %q", c.FetchZeroCopy, c.PprofListener)
	}
	e, ok := c.DescribeKey("gregor.fetch.zero.copy")
	if !ok || e.Value == nil || *e.Value != "false" || e.Source != SourceStaticBroker {
		t.Errorf("describe: %+v, %v", e, ok)
	}

	for _, tt := range []struct{ key, value, want string }{
		{"gregor.fetch.zero.copy", "yes", "gregor.fetch.zero.copy=yes: not a valid boolean"},
		{"gregor.pprof.listener", "6060", "gregor.pprof.listener=6060: must be empty or host:port"},
		{"gregor.pprof.listener", "localhost:http", "gregor.pprof.listener=localhost:http: must be empty or host:port with a port from 0 to 65535"},
		{"gregor.pprof.listener", "localhost:70000", "gregor.pprof.listener=localhost:70000: must be empty or host:port with a port from 0 to 65535"},
	} {
		_, _, err := Parse(withZooKeeper(map[string]string{tt.key: tt.value}))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%s=%s: error %v, want %q", tt.key, tt.value, err, tt.want)
		}
	}
	for _, ok := range []string{":6060", "[::1]:0", "localhost:6060"} {
		if _, _, err := Parse(withZooKeeper(map[string]string{"gregor.pprof.listener": ok})); err != nil {
			t.Errorf("gregor.pprof.listener=%s: %v", ok, err)
		}
	}
}
