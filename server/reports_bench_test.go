package server

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"txxt/engine"
	"txxt/store"
	"txxt/wire"
	"txxt/world"
)

// BenchmarkHoursReport computes a month's report (by service and
// assignee, with capacity, encoded as JSON) over a world of 100,000
// scheduled tasks spread over three months, 20 services and 20 people,
// and reports the p99 of the runs beside the mean.
func BenchmarkHoursReport(b *testing.B) {
	w, members := reportBenchWorld(b)
	q, msg := parseReportQuery("2026-04-01", "2026-04-30", "service,assignee")
	if msg != "" {
		b.Fatal(msg)
	}
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		rep := buildReport(takeReport(w, q), q, members)
		if _, err := json.Marshal(rep); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// reportBenchWorld is 100,000 scheduled tasks over three months from
// 2026-03-02, 20 services and 20 people, a third of the tasks completed,
// one holiday.
func reportBenchWorld(b *testing.B) (*world.World, []Member) {
	w := world.New()
	var members []Member
	var services []world.ID
	apply := func(c world.Command) {
		if _, err := w.Apply(c); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20 {
		s, u := world.ID{1, byte(i)}, world.ID{2, byte(i)}
		services = append(services, s)
		apply(world.Command{Kind: world.CmdCreateService, Service: s, Text: "service"})
		apply(world.Command{Kind: world.CmdCreateUser, User: u, Text: "person"})
		members = append(members, Member{User: u, Name: "person", Role: RoleMember})
	}
	const first = uint16(20514) // 2026-03-02
	for i := range 100000 {
		id := world.ID{3, byte(i), byte(i >> 8), byte(i >> 16)}
		apply(world.Command{Kind: world.CmdCreateTask, Task: id, Service: services[i%20], Assignee: members[(i/20)%20].User,
			Slot: world.Slot{Date: first + uint16(i%91), Start: uint16(i%40) * 30, Duration: 30}})
		if i%3 == 0 {
			apply(world.Command{Kind: world.CmdCompleteTask, Task: id})
		}
	}
	apply(world.Command{Kind: world.CmdAddHoliday, Holiday: world.Holiday{Date: first + 10, Name: "holiday"}})
	return w, members
}

// BenchmarkReportInFlight measures a command's answer time (MoveTask of a
// task in the month reported, through the engine, on a save file that
// does not fsync, so that the engine's CPU is what is measured) while
// nothing else runs, while a month's report over 100,000 tasks is built
// again and again the way the handler builds it (the view taken on the
// engine's goroutine, the report added up and encoded as JSON beside it),
// and while the same report is built inside engine.Read (the way it was
// built before). The phases alternate in rounds in one run; it reports
// each phase's p50 and p99, the ratios to the quiet phase, the reports
// made, and how long one held the engine's goroutine (the median): the
// stall every command queued behind it waits out, whatever the machine's
// load. Beside the engine a report still takes CPU from the same cores.
func BenchmarkReportInFlight(b *testing.B) {
	w, members := reportBenchWorld(b)
	st, err := store.Open(filepath.Join(b.TempDir(), "save"), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	state := w.State()
	if err := st.Rewrite(context.Background(), state.Revision, wire.AppendSnapshot(nil, &state, true), nil); err != nil { // a save file that begins at this snapshot
		b.Fatal(err)
	}
	eng, err := engine.Open(st, engine.Options{SnapshotEvery: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	q, msg := parseReportQuery("2026-04-01", "2026-04-30", "service,assignee")
	if msg != "" {
		b.Fatal(msg)
	}
	ctx := context.Background()
	held := make([][]time.Duration, 3) // how long each report held the engine's goroutine
	task := world.ID{3, 31, 0, 0}      // a planned task of the month reported
	phases := []struct {
		name   string
		report func() error
	}{
		{"quiet", nil},
		{"report beside the engine", func() error {
			var in reportInputs
			if err := eng.Read(ctx, func(w *world.World) {
				t0 := time.Now()
				in = takeReport(w, q)
				held[1] = append(held[1], time.Since(t0))
			}); err != nil {
				return err
			}
			_, err := json.Marshal(buildReport(in, q, members))
			return err
		}},
		{"report inside engine.Read", func() error {
			var rep Report
			if err := eng.Read(ctx, func(w *world.World) {
				t0 := time.Now()
				rep = buildReport(takeReport(w, q), q, members)
				held[2] = append(held[2], time.Since(t0))
			}); err != nil {
				return err
			}
			_, err := json.Marshal(rep)
			return err
		}},
	}
	took := make([][]time.Duration, len(phases))
	reports := make([]int, len(phases))
	const perRound = 200
	start := uint16(0)
	b.ResetTimer()
	for round := 0; round*perRound < max(b.N, 4000); round++ {
		for p, ph := range phases {
			stop := make(chan struct{})
			done := make(chan error, 1)
			if ph.report != nil {
				go func() {
					for {
						select {
						case <-stop:
							done <- nil
							return
						default:
						}
						if err := ph.report(); err != nil {
							done <- err
							return
						}
						reports[p]++
					}
				}()
			}
			for range perRound {
				start = (start + 30) % 1380
				t0 := time.Now()
				res, err := eng.Do(ctx, engine.Request{Command: world.Command{Kind: world.CmdMoveTask, Task: task, Slot: world.Slot{Date: 20544, Start: start, Duration: 30}}})
				if err != nil || res.Err != nil {
					b.Fatalf("move: %v %v", err, res.Err)
				}
				took[p] = append(took[p], time.Since(t0))
			}
			if ph.report != nil {
				close(stop)
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.StopTimer()
	pct := func(d []time.Duration, p int) float64 {
		slices.Sort(d)
		return float64(d[len(d)*p/100].Microseconds()) / 1000
	}
	quiet50, quiet99 := pct(took[0], 50), pct(took[0], 99)
	b.ReportMetric(quiet50, "quiet-p50-ms")
	b.ReportMetric(quiet99, "quiet-p99-ms")
	for p, name := range []string{"", "beside", "inside"} {
		if p == 0 {
			continue
		}
		p50, p99 := pct(took[p], 50), pct(took[p], 99)
		b.ReportMetric(p50, name+"-p50-ms")
		b.ReportMetric(p99, name+"-p99-ms")
		b.ReportMetric(p99/quiet99, name+"-p99-ratio")
		b.ReportMetric(float64(reports[p]), name+"-reports")
		b.ReportMetric(pct(held[p], 50), name+"-engine-held-p50-ms")
	}
}
