package network

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps enforces that network imports, among Gregor's packages, only
// conf (STYLE.md section 1): it dispatches to a Handler it defines, so it
// never needs the server, and it frames bytes without knowing logs or
// ZooKeeper. internal/deptest checks the module-wide rules; this is the
// stricter, positive form for this package.
func TestDeps(t *testing.T) {
	const module = "github.com/gregor-broker/gregor"
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if rel, ours := strings.CutPrefix(dep, module+"/"); ours && rel != "network" && rel != "conf" {
			t.Errorf("network depends on %s: network may import only conf among Gregor's packages", dep)
		}
	}
}
