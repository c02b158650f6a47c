package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

const (
	higher = "higher"
	lower  = "lower"
)

// row is one figure of one case, for both systems.
type row struct {
	Case   string   `json:"case"`
	Metric string   `json:"metric"`
	Gregor *float64 `json:"gregor"`
	Kfake  *float64 `json:"kfake"`
	Ratio  *float64 `json:"ratio"`  // gregor / kfake
	Better string   `json:"better"` // which direction is better: "higher" or "lower"
}

type caseUsage struct {
	Case   string `json:"case"`
	System string `json:"system"`
	Usage  usage  `json:"usage"`
}

// target is one goal of the performance issue and whether this run met it.
type target struct {
	Name     string   `json:"name"`
	Measured *float64 `json:"measured"` // nil: not measured by this suite yet
	Goal     string   `json:"goal"`
	Holds    *bool    `json:"holds"`
	Note     string   `json:"note,omitempty"`
}

type results struct {
	Date      string      `json:"date"`
	Command   string      `json:"command"`
	CPUs      int         `json:"cpus"`
	GoVersion string      `json:"go_version"`
	Records   int         `json:"records_per_produce_case"`
	Loadavg   string      `json:"loadavg_at_end"`
	Rows      []*row      `json:"rows"`
	Usage     []caseUsage `json:"usage"`
	Targets   []target    `json:"targets"`

	usage []caseUsage
}

func newResults(cfg config) *results {
	return &results{
		Date:      time.Now().UTC().Format(time.RFC3339),
		Command:   cfg.command,
		CPUs:      runtime.NumCPU(),
		GoVersion: runtime.Version(),
		Records:   cfg.records,
	}
}

func (r *results) find(c, metric string) *row {
	for _, x := range r.Rows {
		if x.Case == c && x.Metric == metric {
			return x
		}
	}
	return nil
}

// add records system's figure v for metric of case c.
func (r *results) add(c, metric, system string, v float64, better string) {
	x := r.find(c, metric)
	if x == nil {
		x = &row{Case: c, Metric: metric, Better: better}
		r.Rows = append(r.Rows, x)
	}
	if system == "gregor" {
		x.Gregor = &v
	} else {
		x.Kfake = &v
	}
	if x.Gregor != nil && x.Kfake != nil && *x.Kfake != 0 {
		ratio := *x.Gregor / *x.Kfake
		x.Ratio = &ratio
	}
}

// value returns Gregor's (or kfake's) figure, nil if not measured.
func (r *results) value(c, metric, system string) *float64 {
	x := r.find(c, metric)
	if x == nil {
		return nil
	}
	if system == "gregor" {
		return x.Gregor
	}
	return x.Kfake
}

func (r *results) ratio(c, metric string) *float64 {
	if x := r.find(c, metric); x != nil {
		return x.Ratio
	}
	return nil
}

// evaluate fills in Targets from the rows (the targets of the issue).
func (r *results) evaluate(cfg config) {
	r.Targets = nil
	check := func(name, goal string, v *float64, ok func(float64) bool, note string) {
		t := target{Name: name, Goal: goal, Measured: v, Note: note}
		if v != nil {
			h := ok(*v)
			t.Holds = &h
		}
		r.Targets = append(r.Targets, t)
	}
	atLeast := func(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
	atMost := func(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
	for _, size := range cfg.sizes {
		check(fmt.Sprintf("produce RF 1 acks=1 %s, records/s, Gregor/kfake", sizeLabel(size)), "≥ 1.2",
			r.ratio(fmt.Sprintf("1 broker, RF 1, acks=1, %s: produce", sizeLabel(size)), "records/s"), atLeast(1.2), "")
	}
	for _, size := range cfg.sizes {
		check(fmt.Sprintf("consume RF 1 %s, records/s, Gregor/kfake", sizeLabel(size)), "≥ 1.2",
			r.ratio(fmt.Sprintf("1 broker, RF 1, %s: consume", sizeLabel(size)), "records/s"), atLeast(1.2), "")
	}
	e2e1 := fmt.Sprintf("1 broker, RF 1, acks=1, %s at %d/s: end to end", sizeLabel(cfg.e2eSize), cfg.e2eRate)
	e2e3 := fmt.Sprintf("3 brokers, RF 3, min.insync 2, acks=all, %s at %d/s: end to end", sizeLabel(cfg.e2eSize), cfg.e2eRate)
	check("end-to-end p99, RF 1, Gregor, ms", "≤ 2", r.value(e2e1, "latency p99, ms", "gregor"), atMost(2), "")
	check("end-to-end p99, RF 3 acks=all, Gregor, ms", "≤ 5", r.value(e2e3, "latency p99, ms", "gregor"), atMost(5), "")
	for _, size := range cfg.sizes {
		a := r.value(fmt.Sprintf("3 brokers, RF 3, min.insync 2, acks=all, %s: produce", sizeLabel(size)), "records/s", "gregor")
		b := r.value(fmt.Sprintf("3 brokers, RF 1, acks=1, %s: produce", sizeLabel(size)), "records/s", "gregor")
		var v *float64
		if a != nil && b != nil && *b != 0 {
			x := *a / *b
			v = &x
		}
		check(fmt.Sprintf("RF 3 acks=all / RF 1 acks=1 records/s, %s, Gregor's 3 brokers", sizeLabel(size)), "≥ 0.6", v, atLeast(0.6), "")
	}
	check(fmt.Sprintf("zero-copy: broker CPU per consumed GB, sendfile / copying, %s", sizeLabel(zeroCopySize)), "≤ 0.6",
		r.zeroCopyRatio(zeroCopySize), atMost(0.6), "")
	// Measured by bench/cmd/scale (its memory run, the last step of make
	// bench): 10 GiB take minutes to write and 10 GiB of disk. Kept here
	// so that the table lists every target.
	check("memory: broker RSS with 1,000 partitions holding 10 GiB, MiB", "≤ 300", nil, nil,
		"measured by bench/cmd/scale's memory run (make bench), not by the suite")
}

func f(v *float64) string {
	if v == nil {
		return "-"
	}
	switch a := *v; {
	case a >= 1000:
		return fmt.Sprintf("%.0f", a)
	case a >= 10:
		return fmt.Sprintf("%.1f", a)
	default:
		return fmt.Sprintf("%.2f", a)
	}
}

func (r *results) print(w io.Writer) {
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		r.Loadavg = strings.TrimSpace(string(load))
	}
	r.Usage = r.usage
	fmt.Fprintf(w, "\nGregor against kfake, %d records per produce case, %s, %d CPUs, load average at the end %s\n\n",
		r.Records, r.GoVersion, r.CPUs, r.Loadavg)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "case\tmetric\t%10s\t%10s\t%12s\n", "gregor", "kfake", "gregor/kfake")
	last := ""
	for _, x := range r.Rows {
		c := x.Case
		if c == last {
			c = ""
		}
		last = x.Case
		better := ""
		if x.Ratio != nil {
			better = " (" + x.Better + " is better)"
			if x.Better == higher {
				better = ""
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%10s\t%10s\t%12s%s\n", c, x.Metric, f(x.Gregor), f(x.Kfake), f(x.Ratio), better)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nTargets:")
	for _, t := range r.Targets {
		holds := "not measured"
		if t.Holds != nil {
			holds = map[bool]string{true: "holds", false: "DOES NOT HOLD"}[*t.Holds]
		}
		measured := "-"
		if t.Measured != nil {
			// Three decimals, so that a ratio just under its bound
			// does not print as the bound.
			measured = fmt.Sprintf("%.3f", *t.Measured)
		}
		line := fmt.Sprintf("  %-70s %9s  goal %-6s %s", t.Name, measured, t.Goal, holds)
		if t.Note != "" {
			line += " (" + t.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
}

func (r *results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
