package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Baseline is a run's one-screen summary, written as baseline-summary.json
// and read back by --compare.
type Baseline struct {
	Scenario string  `json:"scenario"`
	Config   Config  `json:"config"`
	Machine  Machine `json:"machine"`
	Client   struct {
		RTT        Summary  `json:"rtt"`
		Throughput float64  `json:"throughput_per_s"`
		Commands   int64    `json:"commands"`
		Errors     int64    `json:"errors"`
		Fanout     *Summary `json:"fanout,omitempty"`
		Connect    *Summary `json:"connect,omitempty"`
	} `json:"client"`
	Server struct {
		Stages     map[string]Summary `json:"stages"` // from /metrics, since the server started
		RSSBytes   int64              `json:"rss_bytes,omitempty"`
		CPUSeconds float64            `json:"cpu_seconds,omitempty"`
	} `json:"server"`
}

// Machine is where a run ran.
type Machine struct {
	CPUs         int     `json:"cpus"`
	OS           string  `json:"os"`
	Arch         string  `json:"arch"`
	Go           string  `json:"go"`
	FsyncFloorUS float64 `json:"fsync_floor_us"` // median of 20 × (64-byte write + fsync) in the output folder
}

// NewBaseline summarises res, the server's stages and its process figures.
func NewBaseline(res *Result, machine Machine, stages map[string]Summary, rss int64, cpu float64) Baseline {
	var b Baseline
	b.Scenario, b.Config, b.Machine = res.Config.Scenario, res.Config, machine
	b.Client.RTT, b.Client.Throughput, b.Client.Commands, b.Client.Errors = res.RTT, res.Throughput, res.Commands, res.Errors
	b.Client.Fanout, b.Client.Connect = res.Fanout, res.Connect
	b.Server.Stages, b.Server.RSSBytes, b.Server.CPUSeconds = stages, rss, cpu
	return b
}

// MeasureMachine describes this machine, with the fsync floor of dir.
func MeasureMachine(dir string) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
	f, err := os.CreateTemp(dir, "fsync-floor-*")
	if err != nil {
		return m, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var ds []time.Duration
	buf := make([]byte, 64)
	for range 20 {
		start := time.Now()
		if _, err := f.Write(buf); err != nil {
			return m, err
		}
		if err := f.Sync(); err != nil {
			return m, err
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	m.FsyncFloorUS = float64(ds[len(ds)/2]) / 1e3
	return m, nil
}

// ScrapeStages reads the server's stage summaries from its /metrics.
func ScrapeStages(ctx context.Context, url string) (map[string]Summary, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", Origin(url)+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("GET /metrics: %s", res.Status)
	}
	out := map[string]Summary{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "txxt_stage_seconds")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		stage := label(fields[0], "stage")
		s := out[stage]
		us := v * 1e6
		switch {
		case strings.HasPrefix(fields[0], "_count"):
			s.Samples = int64(v)
		case strings.HasPrefix(fields[0], "_sum"):
			s.Mean = us // divided by the count below
		default:
			switch label(fields[0], "quantile") {
			case "0.5":
				s.P50 = us
			case "0.95":
				s.P95 = us
			case "0.99":
				s.P99 = us
			case "1":
				s.Max = us
			}
		}
		out[stage] = s
	}
	for k, s := range out {
		if s.Samples > 0 {
			s.Mean /= float64(s.Samples)
		} else {
			s.Mean = 0
		}
		out[k] = s
	}
	return out, sc.Err()
}

// label returns a label's value from `{a="x",b="y"}`-style text.
func label(s, name string) string {
	i := strings.Index(s, name+`="`)
	if i < 0 {
		return ""
	}
	rest := s[i+len(name)+2:]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

// ProcessStats returns a process's resident memory and CPU time so far,
// from /proc (Linux only; zeros elsewhere).
func ProcessStats(pid int) (rss int64, cpu float64) {
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
				rss = kb << 10
			}
		}
	}
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// Fields after the command name (which may hold spaces): utime is
		// the 14th field of the line, stime the 15th, in clock ticks.
		if i := strings.LastIndexByte(string(raw), ')'); i > 0 {
			f := strings.Fields(string(raw)[i+1:])
			if len(f) > 13 {
				u, _ := strconv.ParseFloat(f[11], 64)
				s, _ := strconv.ParseFloat(f[12], 64)
				cpu = (u + s) / 100 // USER_HZ is 100 on Linux
			}
		}
	}
	return rss, cpu
}

// Compare checks cur against base: p95 round trip may rise, and
// throughput fall, by at most maxRegression (0.1 = 10%). It returns one
// line per figure that regressed further.
func Compare(base, cur Baseline, maxRegression float64) []string {
	var out []string
	if base.Scenario != cur.Scenario {
		out = append(out, fmt.Sprintf("scenario %q compared with a baseline of %q", cur.Scenario, base.Scenario))
	}
	if b, c := base.Client.RTT.P95, cur.Client.RTT.P95; b > 0 && c > b*(1+maxRegression) {
		out = append(out, fmt.Sprintf("p95 round trip %.0f µs against %.0f µs: +%.1f%% (allowed %.0f%%)", c, b, (c/b-1)*100, maxRegression*100))
	}
	if b, c := base.Client.Throughput, cur.Client.Throughput; b > 0 && c < b*(1-maxRegression) {
		out = append(out, fmt.Sprintf("throughput %.1f/s against %.1f/s: %.1f%% (allowed -%.0f%%)", c, b, (c/b-1)*100, maxRegression*100))
	}
	return out
}

// ReadBaseline reads a baseline-summary.json.
func ReadBaseline(path string) (Baseline, error) {
	var b Baseline
	raw, err := os.ReadFile(path)
	if err != nil {
		return b, err
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return b, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// WriteOut writes client-metrics.json, baseline-summary.json and
// report.html into dir.
func WriteOut(dir string, res *Result, b Baseline) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, v any) error {
		raw, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), append(raw, '\n'), 0o644)
	}
	if err := write("client-metrics.json", res); err != nil {
		return err
	}
	if err := write("baseline-summary.json", b); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "report.html"))
	if err != nil {
		return err
	}
	if err := reportPage.Execute(f, reportData(res, b)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type bar struct {
	X, Y, W, H float64
	Label      string
}

// reportData lays out the report's SVG charts: the round-trip histogram
// (log-spaced bars) and the per-second throughput and p95.
func reportData(res *Result, b Baseline) map[string]any {
	const w, h = 640.0, 200.0
	var bars []bar
	var most int64
	for _, bk := range res.RTTHist {
		most = max(most, bk.Count)
	}
	if n := len(res.RTTHist); n > 0 && most > 0 {
		bw := w / float64(n)
		for i, bk := range res.RTTHist {
			bh := h * float64(bk.Count) / float64(most)
			bars = append(bars, bar{X: float64(i) * bw, Y: h - bh, W: bw * 0.9, H: bh, Label: fmt.Sprintf("≤ %.0f µs: %d", bk.UpTo, bk.Count)})
		}
	}
	line := func(get func(Second) float64) string {
		var top float64
		for _, s := range res.RTTSeries {
			top = max(top, get(s))
		}
		var pts []string
		for i, s := range res.RTTSeries {
			x := w * float64(i) / float64(max(1, len(res.RTTSeries)-1))
			y := h
			if top > 0 {
				y = h - h*get(s)/top
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		return strings.Join(pts, " ")
	}
	stages := make([]string, 0, len(b.Server.Stages))
	for k := range b.Server.Stages {
		stages = append(stages, k)
	}
	slices.Sort(stages)
	return map[string]any{
		"B": b, "R": res, "W": w, "H": h, "Bars": bars, "Stages": stages,
		"Throughput": line(func(s Second) float64 { return float64(s.Count) }),
		"P95":        line(func(s Second) float64 { return s.P95 }),
	}
}

var reportPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>txxt load: {{.B.Scenario}}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{padding:.2em .8em;text-align:right;border-bottom:1px solid #ddd}th:first-child,td:first-child{text-align:left}svg{background:#fafafa;border:1px solid #ddd}</style>
</head><body>
<h1>txxt load: {{.B.Scenario}}</h1>
<p>{{.R.Started.Format "2006-01-02 15:04:05 MST"}} · {{printf "%.1f" .R.Elapsed}} s · {{.B.Machine.CPUs}} CPUs, {{.B.Machine.OS}}/{{.B.Machine.Arch}}, {{.B.Machine.Go}} · fsync floor {{printf "%.0f" .B.Machine.FsyncFloorUS}} µs</p>
<h2>Client</h2>
<table><tr><th></th><th>samples</th><th>p50 µs</th><th>p95 µs</th><th>p99 µs</th><th>max µs</th></tr>
<tr><td>round trip</td><td>{{.B.Client.RTT.Samples}}</td><td>{{printf "%.0f" .B.Client.RTT.P50}}</td><td>{{printf "%.0f" .B.Client.RTT.P95}}</td><td>{{printf "%.0f" .B.Client.RTT.P99}}</td><td>{{printf "%.0f" .B.Client.RTT.Max}}</td></tr>
{{with .B.Client.Fanout}}<tr><td>fan-out</td><td>{{.Samples}}</td><td>{{printf "%.0f" .P50}}</td><td>{{printf "%.0f" .P95}}</td><td>{{printf "%.0f" .P99}}</td><td>{{printf "%.0f" .Max}}</td></tr>{{end}}
{{with .B.Client.Connect}}<tr><td>connect → snapshot</td><td>{{.Samples}}</td><td>{{printf "%.0f" .P50}}</td><td>{{printf "%.0f" .P95}}</td><td>{{printf "%.0f" .P99}}</td><td>{{printf "%.0f" .Max}}</td></tr>{{end}}
</table>
<p>{{.B.Client.Commands}} done, {{printf "%.1f" .B.Client.Throughput}}/s, {{.B.Client.Errors}} errors{{if .R.FirstError}} (first: {{.R.FirstError}}){{end}}.</p>
<h3>Round trip, distribution</h3>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}">{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="#4a7"><title>{{.Label}}</title></rect>{{end}}</svg>
<h3>Per second: completed (blue), p95 round trip (orange), each on its own scale</h3>
<svg width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}"><polyline fill="none" stroke="#37c" stroke-width="2" points="{{.Throughput}}"/><polyline fill="none" stroke="#e83" stroke-width="2" points="{{.P95}}"/></svg>
<h2>Server (its /metrics, since it started)</h2>
<table><tr><th>stage</th><th>samples</th><th>p50 µs</th><th>p95 µs</th><th>p99 µs</th><th>max µs</th></tr>
{{range $name := .Stages}}{{with index $.B.Server.Stages $name}}<tr><td>{{$name}}</td><td>{{.Samples}}</td><td>{{printf "%.1f" .P50}}</td><td>{{printf "%.1f" .P95}}</td><td>{{printf "%.1f" .P99}}</td><td>{{printf "%.1f" .Max}}</td></tr>{{end}}{{end}}
</table>
{{if .B.Server.RSSBytes}}<p>Server process: {{.B.Server.RSSBytes}} bytes resident, {{printf "%.2f" .B.Server.CPUSeconds}} s of CPU.</p>{{end}}
</body></html>
`))
