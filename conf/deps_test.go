package conf

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces that conf stays a leaf: everything may import it, so it
// may import nothing of Gregor's, and it does no logging.
func TestDeps(t *testing.T) {
	const module = "github.com/gregor-broker/gregor"
	forbidden := map[string]string{
		module + "/":                 "conf is a leaf package: it imports nothing of Gregor's",
		"github.com/sirupsen/logrus": "conf does not log; it returns warnings",
	}
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == module+"/conf" {
			continue
		}
		for prefix, why := range forbidden {
			if strings.HasPrefix(dep, prefix) {
				t.Errorf("conf depends on %s: %s", dep, why)
			}
		}
	}
}
