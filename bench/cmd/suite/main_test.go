package main

import (
	"context"
	"encoding/json"
	"github.com/gregor-broker/gregor/bench/internal/cluster"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/internal/zktest"
)

// TestRun runs the whole suite small: ZooKeeper, Gregor built from the
// source tree with one and three brokers, kfake-server with one and
// three, every case, the table and its JSON. Each row must have both
// systems' figures and each target of the suite a verdict.
func TestRun(t *testing.T) {
	zktest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config{records: 2000, sizes: []int{100, 1024}, partitions: 3, linger: time.Millisecond, maxBuffered: 1000,
		e2eRate: 2000, e2eDuration: 500 * time.Millisecond, e2eSize: 100, Source: cluster.Source{Src: "../../.."},
		caseTimeout: time.Minute, json: filepath.Join(t.TempDir(), "out", "suite.json")}
	res, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	res.evaluate(cfg)
	var sb strings.Builder
	res.print(&sb)
	t.Log(sb.String())
	if err := res.writeJSON(cfg.json); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(cfg.json)
	if err != nil {
		t.Fatal(err)
	}
	var got results
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// 2 clusters × 2 sizes × 3 cases + 2 end-to-end cases, and the
	// zero-copy comparison's 2 (Gregor only).
	cases := map[string]bool{}
	for _, r := range got.Rows {
		cases[r.Case] = true
		if r.Metric == cpuPerGB {
			if r.Gregor == nil || *r.Gregor <= 0 || r.Kfake != nil {
				t.Errorf("%s, %s: gregor %v, kfake %v; want a positive figure for gregor only", r.Case, r.Metric, r.Gregor, r.Kfake)
			}
			continue
		}
		if r.Gregor == nil || r.Kfake == nil {
			t.Errorf("%s, %s: gregor %v, kfake %v", r.Case, r.Metric, r.Gregor, r.Kfake)
		}
		if strings.Contains(r.Metric, "records/s") && (*r.Gregor <= 0 || *r.Kfake <= 0) {
			t.Errorf("%s, %s: gregor %v, kfake %v", r.Case, r.Metric, *r.Gregor, *r.Kfake)
		}
	}
	if len(cases) != 16 {
		t.Errorf("%d cases in the table, want 16: %v", len(cases), cases)
	}
	if len(got.Usage) != 30 {
		t.Errorf("%d usage entries, want 30", len(got.Usage))
	}
	for _, u := range got.Usage {
		if u.Usage.PeakRSSMiB <= 0 {
			t.Errorf("%s on %s: peak RSS %v", u.Case, u.System, u.Usage.PeakRSSMiB)
		}
	}
	measured := 0
	for _, tg := range got.Targets {
		if tg.Measured != nil {
			measured++
			if tg.Holds == nil {
				t.Errorf("target %q measured but no verdict", tg.Name)
			}
		}
	}
	if measured != 9 || len(got.Targets) != 10 {
		t.Errorf("%d targets, %d measured; want 10, 9 measured", len(got.Targets), measured)
	}
}

// TestEvaluate checks each target's verdict on both sides of its bound.
func TestEvaluate(t *testing.T) {
	cfg := config{sizes: []int{100}, e2eRate: 10000, e2eSize: 100}
	p1 := "1 broker, RF 1, acks=1, 100 B: produce"
	c1 := "1 broker, RF 1, 100 B: consume"
	e1 := "1 broker, RF 1, acks=1, 100 B at 10000/s: end to end"
	e3 := "3 brokers, RF 3, min.insync 2, acks=all, 100 B at 10000/s: end to end"
	p3a := "3 brokers, RF 3, min.insync 2, acks=all, 100 B: produce"
	p3b := "3 brokers, RF 1, acks=1, 100 B: produce"
	for _, tc := range []struct {
		name      string
		gregor    map[[2]string]float64
		kfake     map[[2]string]float64
		zeroCopy  map[bool]float64 // CPU per GB with sendfile on and off
		wantHolds []bool           // in the order of the targets; the last one is never measured
	}{
		{"all hold",
			map[[2]string]float64{{p1, "records/s"}: 120, {c1, "records/s"}: 240, {e1, "latency p99, ms"}: 2, {e3, "latency p99, ms"}: 5, {p3a, "records/s"}: 60, {p3b, "records/s"}: 100},
			map[[2]string]float64{{p1, "records/s"}: 100, {c1, "records/s"}: 200},
			map[bool]float64{true: 0.6, false: 1},
			[]bool{true, true, true, true, true, true}},
		{"none holds",
			map[[2]string]float64{{p1, "records/s"}: 119, {c1, "records/s"}: 100, {e1, "latency p99, ms"}: 2.01, {e3, "latency p99, ms"}: 5.5, {p3a, "records/s"}: 59, {p3b, "records/s"}: 100},
			map[[2]string]float64{{p1, "records/s"}: 100, {c1, "records/s"}: 200},
			map[bool]float64{true: 0.61, false: 1},
			[]bool{false, false, false, false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newResults(cfg)
			for k, v := range tc.gregor {
				r.add(k[0], k[1], "gregor", v, higher)
			}
			for k, v := range tc.kfake {
				r.add(k[0], k[1], "kfake", v, higher)
			}
			for on, v := range tc.zeroCopy {
				r.add(zeroCopyCase(zeroCopySize, on), cpuPerGB, "gregor", v, lower)
			}
			r.evaluate(cfg)
			if len(r.Targets) != len(tc.wantHolds)+1 {
				t.Fatalf("%d targets, want %d", len(r.Targets), len(tc.wantHolds)+1)
			}
			for i, want := range tc.wantHolds {
				tg := r.Targets[i]
				if tg.Holds == nil || *tg.Holds != want {
					t.Errorf("%s: holds %v, want %v (measured %v)", tg.Name, tg.Holds, want, f(tg.Measured))
				}
			}
			for _, tg := range r.Targets[len(tc.wantHolds):] {
				if tg.Measured != nil || tg.Holds != nil {
					t.Errorf("%s: measured %v, holds %v; want neither", tg.Name, tg.Measured, tg.Holds)
				}
			}
		})
	}
}

// TestKfakeStartFails checks that a kfake-server that does not say it
// listens is an error, not a hang.
func TestKfakeStartFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, bin := range []string{"/bin/true", "/bin/echo"} {
		if _, err := startKfake(ctx, bin, t.TempDir(), 1); err == nil {
			t.Errorf("startKfake with %s: no error", bin)
		}
	}
}

func TestPct(t *testing.T) {
	ds := make([]time.Duration, 1000)
	for i := range ds {
		ds[i] = time.Duration(i + 1)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {0, 1}} {
		if got := pct(ds, tc.p); got != tc.want {
			t.Errorf("p%g = %d, want %d", tc.p, got, tc.want)
		}
	}
	if got := pct(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %d", got)
	}
}
