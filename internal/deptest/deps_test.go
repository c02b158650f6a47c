package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/gregor-broker/gregor"

// rules lists, per package (prefix), the packages of ours it must not depend
// on, directly or not, with the reason.
var rules = []struct {
	pkg       string
	forbidden map[string]string
}{
	{"conf", map[string]string{
		"logstore": "conf is a leaf: plain data and parsing", "network": "conf is a leaf", "zkutil": "conf is a leaf",
		"coordinator": "conf is a leaf", "server": "conf is a leaf",
	}},
	{"logstore", map[string]string{
		"server":      "logstore must not know about requests or replicas",
		"zkutil":      "logstore must not know about cluster metadata",
		"coordinator": "logstore sits below the coordinators",
		"network":     "logstore knows nothing of the network",
	}},
	{"zkutil", map[string]string{
		"server": "zkutil holds no broker logic", "coordinator": "zkutil holds no controller policy",
		"logstore": "zkutil is about znodes only", "network": "zkutil is about znodes only",
	}},
	{"internal/zktest", map[string]string{
		"zkutil": "zktest runs the ZooKeeper that zkutil is tested against; it must not depend on zkutil",
		"server": "zktest is a test harness below everything", "coordinator": "zktest is a test harness below everything",
		"network": "zktest is a test harness below everything", "logstore": "zktest is a test harness below everything",
	}},
	{"network", map[string]string{
		"server":      "network dispatches to a Handler interface it defines; it never knows what a request means",
		"coordinator": "network sits below the coordinators", "zkutil": "network knows nothing of ZooKeeper",
		"logstore": "network frames bytes; it does not read logs",
	}},
	{"coordinator", map[string]string{"server": "coordinators declare the small interfaces they need; server satisfies them"}},
	{"coordinator/controller", map[string]string{"coordinator/group": "the coordinators don't import one another", "coordinator/txn": "the coordinators don't import one another"}},
	{"coordinator/group", map[string]string{"coordinator/controller": "the coordinators don't import one another", "coordinator/txn": "the coordinators don't import one another"}},
	{"coordinator/txn", map[string]string{"coordinator/controller": "the coordinators don't import one another", "coordinator/group": "the coordinators don't import one another"}},
	{"", map[string]string{"cmd": "nothing imports cmd", "integration": "nothing imports the integration tests"}},
}

// TestImportDirection runs `go list -deps` on every package of the module and
// fails when one depends on a package its rule forbids.
func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, mod+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := strings.TrimPrefix(fields[0], mod+"/"), fields[1:]
		for _, r := range rules {
			if r.pkg != "" && pkg != r.pkg && !strings.HasPrefix(pkg, r.pkg+"/") {
				continue
			}
			checked++
			for _, dep := range deps {
				rel, ours := strings.CutPrefix(dep, mod+"/")
				if !ours {
					continue
				}
				for bad, why := range r.forbidden {
					if (rel == bad || strings.HasPrefix(rel, bad+"/")) && !strings.HasPrefix(pkg, bad) {
						t.Errorf("%s depends on %s: %s", pkg, rel, why)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package was checked: is the module path right?")
	}
}
