package server

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"txxt/world"
)

// calendar is what a feed shows, copied out of the world on the engine's
// goroutine, so that encoding it makes the engine wait for nothing.
type calendar struct {
	zone   string
	events []calEvent
}

type calEvent struct {
	task     world.Task
	service  string
	assignee string
}

// calendarOf copies the scheduled tasks a feed shows.
func calendarOf(w *world.World, f feedRecord) calendar {
	c := calendar{zone: w.Schedule().TimeZone}
	for _, t := range w.Tasks() {
		if t.Slot.Date == world.NoDate {
			continue
		}
		switch f.Scope {
		case scopeMe:
			if t.Assignee != f.Owner {
				continue
			}
		case scopeService:
			if t.Service != f.Service {
				continue
			}
		}
		e := calEvent{task: t}
		if s, ok := w.Service(t.Service); ok {
			e.service = s.Name
		}
		if u, ok := w.User(t.Assignee); ok {
			e.assignee = u.Name
		}
		c.events = append(c.events, e)
	}
	return c
}

// statusWords says a task's status as the page does.
func statusWords(s world.Status) string {
	switch s {
	case world.Active:
		return "in progress"
	case world.Completed:
		return "done"
	}
	return "planned"
}

// encode writes the calendar as RFC 5545 text: CRLF line ends, lines
// folded at 75 octets, text escaped; times in the team's zone, described
// by a VTIMEZONE built from Go's zone data for the years the events span
// (every transition as its own STANDARD or DAYLIGHT component, so a
// client needs no zone database of its own and none that disagrees).
func (c calendar) encode(host string, now time.Time) ([]byte, error) {
	loc, err := time.LoadLocation(c.zone)
	if err != nil {
		return nil, fmt.Errorf("feed time zone %q: %w", c.zone, err)
	}
	utc := c.zone == "UTC" || c.zone == "Etc/UTC"
	var b icsWriter
	b.buf.Grow(1024 + 400*len(c.events))
	b.line("BEGIN:VCALENDAR")
	b.line("VERSION:2.0")
	b.line("PRODID:-//txxt//calendar feed//EN")
	b.line("CALSCALE:GREGORIAN")
	b.line("METHOD:PUBLISH")
	b.line("X-WR-CALNAME:" + escapeText("txxt"))
	if !utc {
		b.line("X-WR-TIMEZONE:" + c.zone)
		first, last := now.Year(), now.Year()
		for _, e := range c.events {
			y := time.Unix(int64(e.task.Slot.Date)*86400, 0).UTC().Year()
			first, last = min(first, y), max(last, y)
		}
		writeTimezone(&b, c.zone, loc, first, last)
	}
	stamp := now.Format("20060102T150405Z")
	for _, e := range c.events {
		t := e.task
		day := time.Unix(int64(t.Slot.Date)*86400, 0).UTC()
		start := day.Add(time.Duration(t.Slot.Start) * time.Minute)
		end := day.Add(time.Duration(t.Slot.Start+t.Slot.Duration) * time.Minute)
		b.line("BEGIN:VEVENT")
		b.line("UID:" + t.ID.String() + "@" + host)
		b.line("DTSTAMP:" + stamp)
		if utc {
			b.line("DTSTART:" + start.Format("20060102T150405Z"))
			b.line("DTEND:" + end.Format("20060102T150405Z"))
		} else {
			// Wall-clock times in the team's zone: the grid's times are.
			b.line("DTSTART;TZID=" + c.zone + ":" + start.Format("20060102T150405"))
			b.line("DTEND;TZID=" + c.zone + ":" + end.Format("20060102T150405"))
		}
		b.line("SUMMARY:" + escapeText(t.Title))
		desc := "Service: " + e.service + "\nStatus: " + statusWords(t.Status)
		if e.assignee != "" {
			desc += "\nAssignee: " + e.assignee
		}
		b.line("DESCRIPTION:" + escapeText(desc))
		if e.service != "" {
			b.line("CATEGORIES:" + escapeText(e.service))
		}
		b.line("STATUS:CONFIRMED")
		b.line("TRANSP:OPAQUE")
		b.line("X-TXXT-STATUS:" + statusWords(t.Status))
		b.line("END:VEVENT")
	}
	b.line("END:VCALENDAR")
	return b.buf.Bytes(), nil
}

// writeTimezone writes zone's VTIMEZONE for the years first to last: the
// observance in force on 1 January of first, then every transition until
// the end of last.
func writeTimezone(b *icsWriter, zone string, loc *time.Location, first, last int) {
	b.line("BEGIN:VTIMEZONE")
	b.line("TZID:" + zone)
	from := time.Date(first, 1, 1, 0, 0, 0, 0, loc)
	until := time.Date(last+1, 1, 1, 0, 0, 0, 0, loc)
	observance := func(at time.Time) {
		_, offFrom := at.Add(-time.Second).Zone()
		name, offTo := at.Zone()
		kind := "STANDARD"
		if at.IsDST() {
			kind = "DAYLIGHT"
		}
		b.line("BEGIN:" + kind)
		// DTSTART is the onset in the local time before it (RFC 5545 3.6.5).
		b.line("DTSTART:" + at.In(time.FixedZone("", offFrom)).Format("20060102T150405"))
		b.line("TZOFFSETFROM:" + offsetWords(offFrom))
		b.line("TZOFFSETTO:" + offsetWords(offTo))
		if name != "" && !strings.ContainsAny(name, "+-") {
			b.line("TZNAME:" + escapeText(name))
		}
		b.line("END:" + kind)
	}
	start, end := from.ZoneBounds()
	if start.IsZero() { // in force since the zone's data began
		start = time.Date(1970, 1, 1, 0, 0, 0, 0, loc)
		if from.Before(start) {
			start = from
		}
	}
	observance(start)
	for !end.IsZero() && end.Before(until) {
		observance(end)
		_, end = end.ZoneBounds()
	}
	b.line("END:VTIMEZONE")
}

// offsetWords writes a UTC offset as RFC 5545 does: +0100, -0430.
func offsetWords(secs int) string {
	sign := '+'
	if secs < 0 {
		sign, secs = '-', -secs
	}
	s := fmt.Sprintf("%c%02d%02d", sign, secs/3600, secs/60%60)
	if secs%60 != 0 {
		s += fmt.Sprintf("%02d", secs%60)
	}
	return s
}

// escapeText escapes a TEXT value (RFC 5545 3.3.11).
func escapeText(s string) string {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c != 0x7f && c != '\\' && c != ';' && c != ','
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case ';':
			b.WriteString(`\;`)
		case ',':
			b.WriteString(`\,`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			if r < 0x20 || r == 0x7f {
				continue // control characters are not allowed in TEXT
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// icsWriter writes content lines, CRLF-terminated and folded at 75 octets
// without splitting a UTF-8 character (RFC 5545 3.1).
type icsWriter struct{ buf bytes.Buffer }

func (w *icsWriter) line(s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		w.buf.WriteString(s[:cut])
		w.buf.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the continuation's leading space counts
	}
	w.buf.WriteString(s)
	w.buf.WriteString("\r\n")
}
