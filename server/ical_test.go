package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"txxt/world"
)

func TestICSLines(t *testing.T) {
	var w icsWriter
	long := "SUMMARY:" + strings.Repeat("ä", 60) // 128 octets, two-byte characters
	w.line(long)
	lines := strings.Split(strings.TrimSuffix(string(w.buf), "\r\n"), "\r\n")
	joined := lines[0]
	for i, l := range lines {
		if len(l) > 75 {
			t.Errorf("line %d is %d octets", i, len(l))
		}
		if i > 0 {
			if !strings.HasPrefix(l, " ") {
				t.Errorf("continuation %d does not start with a space: %q", i, l)
			}
			joined += l[1:]
		}
	}
	if joined != long {
		t.Errorf("unfolded %q, want %q", joined, long)
	}
	if got := escapeText("a,b;c\\d\ne\r"); got != `a\,b\;c\\d\ne` {
		t.Errorf("escaped %q", got)
	}
	if offsetWords(3600) != "+0100" || offsetWords(-16200) != "-0430" {
		t.Errorf("offsets %s %s", offsetWords(3600), offsetWords(-16200))
	}
}

// The VTIMEZONE of Europe/Berlin for 2027 holds its two changes, each at
// the local time before it.
func TestVTimezone(t *testing.T) {
	loc, _ := time.LoadLocation("Europe/Berlin")
	var w icsWriter
	writeTimezone(&w, "Europe/Berlin", loc, 2027, 2027)
	s := string(w.buf)
	for _, want := range []string{
		"BEGIN:DAYLIGHT\r\nDTSTART:20270328T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n",
		"BEGIN:STANDARD\r\nDTSTART:20271031T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
}

// BenchmarkCalendarFeed is a 5,000-task team's feed: copying it out of
// the world and encoding it. It reports the median and the p99 of the
// iterations' wall time, and the process's CPU time per feed (a busy
// machine stretches the wall time, not the CPU time).
func BenchmarkCalendarFeed(b *testing.B) {
	w := world.New()
	svc := world.ID{1}
	w.Apply(world.Command{Kind: world.CmdCreateService, Service: svc, Text: "Ops"})
	w.Apply(world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 480, WorkdayEnd: 1080, TimeZone: "Europe/Berlin"}})
	for i := range 5000 {
		id := world.ID{2, byte(i >> 8), byte(i)}
		if _, err := w.Apply(world.Command{Kind: world.CmdCreateTask, Task: id, Service: svc, Slot: world.Slot{Date: 20400 + uint16(i%90), Start: uint16(i%20) * 30, Duration: 60}, Text: fmt.Sprintf("task number %d with a title of ordinary length", i)}); err != nil {
			b.Fatal(err)
		}
	}
	f := feedRecord{Scope: scopeTeam}
	now := time.Now()
	var zones zoneCache
	took := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := calendarOf(w, f).encode("txxt.example", now, &zones); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	cpu = cpuTime() - cpu
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// One event, byte for byte: its lines, escaped and folded, a task that
// ends at midnight ending at the next day's 00:00, and the zone's
// VTIMEZONE built once for every feed that needs it.
func TestFeedEvent(t *testing.T) {
	w := world.New()
	svc, ann := world.ID{1}, world.ID{9}
	w.Apply(world.Command{Kind: world.CmdCreateService, Service: svc, Text: "Ops; night"})
	w.Apply(world.Command{Kind: world.CmdCreateUser, User: ann, Text: "ann"})
	w.Apply(world.Command{Kind: world.CmdCreateTask, Task: world.ID{2}, Service: svc, Assignee: ann, Slot: world.Slot{Date: 20423, Start: 1380, Duration: 60}, Text: "Backup, then check"})
	w.Apply(world.Command{Kind: world.CmdCreateTask, Task: world.ID{3}, Service: svc, Slot: world.NoSlot, Text: "staged: not in a feed"})
	var zones zoneCache
	body, err := calendarOf(w, feedRecord{Scope: scopeTeam}).encode("txxt.example", time.Date(2026, 12, 1, 10, 41, 0, 0, time.UTC), &zones)
	if err != nil {
		t.Fatal(err)
	}
	want := "BEGIN:VEVENT\r\nUID:02000000-0000-0000-0000-000000000000@txxt.example\r\nDTSTAMP:20261201T104100Z\r\n" +
		"DTSTART:20251201T230000Z\r\nDTEND:20251202T000000Z\r\nSUMMARY:Backup\\, then check\r\n" +
		"DESCRIPTION:Service: Ops\\; night\\nStatus: planned\\nAssignee: ann\r\nCATEGORIES:Ops\\; night\r\n" +
		"STATUS:CONFIRMED\r\nTRANSP:OPAQUE\r\nX-TXXT-STATUS:planned\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if !strings.HasSuffix(string(body), want) || strings.Count(string(body), "BEGIN:VEVENT") != 1 {
		t.Errorf("the feed:\n%s\nwant it to end with\n%s", body, want)
	}
	w.Apply(world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 480, WorkdayEnd: 1080, TimeZone: "Europe/Berlin"}})
	for range 2 {
		body, err = calendarOf(w, feedRecord{Scope: scopeMe, Owner: ann}).encode("txxt.example", time.Date(2026, 12, 1, 10, 41, 0, 0, time.UTC), &zones)
		if err != nil || !strings.Contains(string(body), "DTSTART;TZID=Europe/Berlin:20251201T230000\r\n") || !strings.Contains(string(body), "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n") {
			t.Fatalf("in Berlin: %v\n%s", err, body)
		}
	}
	if len(zones.m) != 1 {
		t.Errorf("%d VTIMEZONEs built for one zone", len(zones.m))
	}
}
