package main

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is what a run prints and writes: every run, and per cell and
// variant the medians over rounds.
type report struct {
	When     string   `json:"when"`
	Machine  string   `json:"machine"`
	Rounds   int      `json:"rounds"`
	Writers  int      `json:"writers"`
	Duration string   `json:"duration"`
	Others   []string `json:"others,omitempty"` // --txxt-also variants
	Medians  []median `json:"medians"`
	Runs     []result `json:"runs"`
}

// median is one variant's medians over rounds in one cell.
type median struct {
	Variant  string  `json:"variant"`
	Cell     cell    `json:"cell"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	CPUns    float64 `json:"cpu_ns_per_frame"`
	ConnectS float64 `json:"connect_s"`
	RSSConn  float64 `json:"rss_per_conn_bytes"`
	HeapConn float64 `json:"heap_per_conn_bytes"`
	Missing  int64   `json:"missing"` // the sum over rounds
	Refused  int64   `json:"refused"` // the sum over rounds
}

func med(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func summarize(o options, all []result) report {
	rep := report{When: time.Now().UTC().Format(time.RFC3339), Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Rounds: o.rounds, Writers: o.load.writers, Duration: o.load.duration.String(), Runs: all, Others: o.others}
	for _, c := range o.cells {
		for _, v := range o.variants {
			var rs []result
			for _, r := range all {
				if r.Cell == c && r.Variant == v.name {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				continue
			}
			m := median{Variant: v.name, Cell: c,
				P50:      med(rs, func(r result) float64 { return r.P50 }),
				P99:      med(rs, func(r result) float64 { return r.P99 }),
				CPUns:    med(rs, func(r result) float64 { return r.CPUns }),
				ConnectS: med(rs, func(r result) float64 { return r.ConnectS }),
				RSSConn:  med(rs, func(r result) float64 { return r.RSSConn }),
				HeapConn: med(rs, func(r result) float64 { return r.HeapConn }),
			}
			for _, r := range rs {
				m.Missing += r.Missing
				m.Refused += r.Refused
			}
			rep.Medians = append(rep.Medians, m)
		}
	}
	return rep
}

func (rep report) find(variant string, c cell) (median, bool) {
	for _, m := range rep.Medians {
		if m.Variant == variant && m.Cell == c {
			return m, true
		}
	}
	return median{}, false
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// markdown is the report as two tables: the medians of each variant per
// cell, and txxt ÷ centrifuge per cell.
func (rep report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Medians of %d rounds, %d writers, %s of sending per cell (%s).\n\n", rep.Rounds, rep.Writers, rep.Duration, rep.Machine)
	b.WriteString("| readers × commands/s | server | p50 (ms) | p99 (ms) | CPU per frame (µs) | connect all (s) | RSS per idle conn (KiB) | heap per idle conn (KiB) | missing | refused |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var cells []cell
	for _, m := range rep.Medians {
		if !slices.Contains(cells, m.Cell) {
			cells = append(cells, m.Cell)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.1f | %d | %d |\n",
			m.Cell, m.Variant, m.P50, m.P99, m.CPUns/1000, m.ConnectS, m.RSSConn/1024, m.HeapConn/1024, m.Missing, m.Refused)
	}
	b.WriteString("\n| readers × commands/s | txxt ÷ centrifuge: p50 | p99 | CPU per frame | connect all | txxt ÷ hub: p50 | CPU per frame |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		t, ok1 := rep.find("txxt", c)
		cf, ok2 := rep.find("centrifuge", c)
		h, ok3 := rep.find("hub", c)
		if !ok1 {
			continue
		}
		row := []string{c.String(), "–", "–", "–", "–", "–", "–"}
		if ok2 {
			row[1], row[2], row[3], row[4] = ratio(t.P50, cf.P50), ratio(t.P99, cf.P99), ratio(t.CPUns, cf.CPUns), ratio(t.ConnectS, cf.ConnectS)
		}
		if ok3 {
			row[5], row[6] = ratio(t.P50, h.P50), ratio(t.CPUns, h.CPUns)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	// Two builds of txxt in the same run: each against centrifuge, and
	// txxt against each.
	var pairs [][2]string
	for _, o := range rep.Others {
		pairs = append(pairs, [2]string{o, "centrifuge"}, [2]string{"txxt", o})
	}
	if len(pairs) > 0 {
		b.WriteString("\n| readers × commands/s | ratio | p50 | p99 | CPU per frame | connect all |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|\n")
		for _, c := range cells {
			for _, p := range pairs {
				x, ok1 := rep.find(p[0], c)
				y, ok2 := rep.find(p[1], c)
				if ok1 && ok2 {
					fmt.Fprintf(&b, "| %s | %s ÷ %s | %s | %s | %s | %s |\n", c, p[0], p[1],
						ratio(x.P50, y.P50), ratio(x.P99, y.P99), ratio(x.CPUns, y.CPUns), ratio(x.ConnectS, y.ConnectS))
				}
			}
		}
	}
	return b.String()
}
