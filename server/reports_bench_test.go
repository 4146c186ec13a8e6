package server

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"txxt/world"
)

// BenchmarkHoursReport computes a month's report (by service and
// assignee, with capacity, encoded as JSON) over a world of 100,000
// scheduled tasks spread over three months, 20 services and 20 people,
// and reports the p99 of the runs beside the mean.
func BenchmarkHoursReport(b *testing.B) {
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
	q, msg := parseReportQuery("2026-04-01", "2026-04-30", "service,assignee")
	if msg != "" {
		b.Fatal(msg)
	}
	var took []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		rep := buildReport(w, q, members)
		if _, err := json.Marshal(rep); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}
