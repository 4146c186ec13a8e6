package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"txxt/world"
)

func TestICSLines(t *testing.T) {
	var w icsWriter
	long := "SUMMARY:" + strings.Repeat("ä", 60) // 128 octets, two-byte characters
	w.line(long)
	lines := strings.Split(strings.TrimSuffix(w.buf.String(), "\r\n"), "\r\n")
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
	s := w.buf.String()
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
// the world and encoding it.
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
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := calendarOf(w, f).encode("txxt.example", now); err != nil {
			b.Fatal(err)
		}
	}
}
