package server

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"txxt/world"
)

// calendar is what a feed shows, copied out of the world on the engine's
// goroutine, so that encoding it makes the engine wait for nothing. The
// copy is small: each event's fields, and each service's and person's
// name once (the titles are the world's own strings, which never change).
type calendar struct {
	zone     string
	events   []calEvent
	services []string // names, by calEvent.service
	users    []string // names, by calEvent.assignee
}

type calEvent struct {
	id                world.ID
	slot              world.Slot
	status            world.Status
	created           uint64
	title             string
	service, assignee int32 // index into services, users; -1: none
}

// calendarOf copies the scheduled tasks a feed shows.
func calendarOf(w *world.World, f feedRecord) calendar {
	c := calendar{zone: w.Schedule().TimeZone}
	if f.Scope == scopeTeam {
		n, _, _ := w.Counts()
		c.events = make([]calEvent, 0, n)
	}
	services, users := map[world.ID]int32{}, map[world.ID]int32{}
	index := func(id world.ID, seen map[world.ID]int32, names *[]string, name func(world.ID) (string, bool)) int32 {
		if i, ok := seen[id]; ok {
			return i
		}
		i := int32(-1)
		if n, ok := name(id); ok {
			i = int32(len(*names))
			*names = append(*names, n)
		}
		seen[id] = i
		return i
	}
	serviceName := func(id world.ID) (string, bool) { s, ok := w.Service(id); return s.Name, ok }
	userName := func(id world.ID) (string, bool) { u, ok := w.User(id); return u.Name, ok }
	w.EachTask(func(t world.Task) {
		if t.Slot.Date == world.NoDate {
			return
		}
		switch f.Scope {
		case scopeMe:
			if t.Assignee != f.Owner {
				return
			}
		case scopeService:
			if t.Service != f.Service {
				return
			}
		}
		e := calEvent{id: t.ID, slot: t.Slot, status: t.Status, created: t.Created, title: t.Title, service: -1, assignee: -1}
		e.service = index(t.Service, services, &c.services, serviceName)
		if !t.Assignee.IsZero() {
			e.assignee = index(t.Assignee, users, &c.users, userName)
		}
		c.events = append(c.events, e)
	})
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

// zoneCache holds each time zone's VTIMEZONE for the years a feed spans,
// built once (loading a zone reads a file; the observances take a few
// hundred allocations) and shared by every feed. It is bounded: past
// maxZones entries it starts again empty. The zero value is ready.
type zoneCache struct {
	mu sync.Mutex
	m  map[zoneYears][]byte
}

type zoneYears struct {
	zone        string
	first, last int
}

const maxZones = 64

// vtimezone returns zone's VTIMEZONE for the years first to last, as
// folded content lines (the bytes are shared: never change them).
func (z *zoneCache) vtimezone(zone string, first, last int) ([]byte, error) {
	k := zoneYears{zone, first, last}
	z.mu.Lock()
	b, ok := z.m[k]
	z.mu.Unlock()
	if ok {
		return b, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, err
	}
	var w icsWriter
	writeTimezone(&w, zone, loc, first, last)
	z.mu.Lock()
	if z.m == nil || len(z.m) >= maxZones {
		z.m = map[zoneYears][]byte{}
	}
	z.m[k] = w.buf
	z.mu.Unlock()
	return w.buf, nil
}

// encode writes the calendar as RFC 5545 text: CRLF line ends, lines
// folded at 75 octets, text escaped; times in the team's zone, described
// by a VTIMEZONE built from Go's zone data for the years the events span
// (every transition as its own STANDARD or DAYLIGHT component, so a
// client needs no zone database of its own and none that disagrees).
// Events are in the tasks' creation order. It appends into one buffer
// sized for the events: a few allocations, whatever their number.
func (c calendar) encode(host string, now time.Time, zones *zoneCache) ([]byte, error) {
	utc := c.zone == "UTC" || c.zone == "Etc/UTC"
	var tz []byte
	if !utc {
		first, last := now.Year(), now.Year()
		for i := range c.events {
			y := time.Unix(int64(c.events[i].slot.Date)*86400, 0).UTC().Year()
			first, last = min(first, y), max(last, y)
		}
		var err error
		if tz, err = zones.vtimezone(c.zone, first, last); err != nil {
			return nil, fmt.Errorf("feed time zone %q: %w", c.zone, err)
		}
	}
	// In creation order; the events stay where they are (sorting them
	// would move 88 bytes and a pointer each): their order is sorted.
	type key struct {
		created uint64
		i       int32
	}
	order := make([]key, len(c.events))
	size := 512 + len(tz)
	for i := range c.events {
		e := &c.events[i]
		order[i] = key{e.created, int32(i)}
		// Every line but the texts is fixed or nearly (ids, times,
		// status words); a text escaped is at most twice as long.
		size += 320 + 2*len(c.zone) + len(host) + 2*len(e.title)
		if e.service >= 0 {
			size += 4 * len(c.services[e.service])
		}
		if e.assignee >= 0 {
			size += 2 * len(c.users[e.assignee])
		}
	}
	slices.SortFunc(order, func(a, b key) int { return cmp.Compare(a.created, b.created) })
	b := icsWriter{buf: make([]byte, 0, size)}
	b.line("BEGIN:VCALENDAR")
	b.line("VERSION:2.0")
	b.line("PRODID:-//txxt//calendar feed//EN")
	b.line("CALSCALE:GREGORIAN")
	b.line("METHOD:PUBLISH")
	b.line("X-WR-CALNAME:txxt")
	if !utc {
		b.line("X-WR-TIMEZONE:" + c.zone)
		b.buf = append(b.buf, tz...)
	}
	stamp := now.AppendFormat(nil, "20060102T150405Z")
	startTZ, endTZ := "DTSTART:", "DTEND:"
	if !utc {
		// Wall-clock times in the team's zone: the grid's times are.
		startTZ, endTZ = "DTSTART;TZID="+c.zone+":", "DTEND;TZID="+c.zone+":"
	}
	for _, k := range order {
		e := &c.events[k.i]
		b.line("BEGIN:VEVENT")
		b.begin()
		b.buf = append(b.buf, "UID:"...)
		b.buf = e.id.Append(b.buf)
		b.buf = append(b.buf, '@')
		b.buf = append(b.buf, host...)
		b.end()
		b.begin()
		b.buf = append(append(b.buf, "DTSTAMP:"...), stamp...)
		b.end()
		b.begin()
		b.buf = appendLocal(append(b.buf, startTZ...), e.slot.Date, e.slot.Start, utc)
		b.end()
		b.begin()
		b.buf = appendLocal(append(b.buf, endTZ...), e.slot.Date, e.slot.Start+e.slot.Duration, utc)
		b.end()
		b.begin()
		b.buf = appendEscaped(append(b.buf, "SUMMARY:"...), e.title)
		b.end()
		service := ""
		if e.service >= 0 {
			service = c.services[e.service]
		}
		status := statusWords(e.status)
		b.begin()
		b.buf = appendEscaped(append(b.buf, "DESCRIPTION:Service: "...), service)
		b.buf = append(append(b.buf, `\nStatus: `...), status...)
		if e.assignee >= 0 && c.users[e.assignee] != "" {
			b.buf = appendEscaped(append(b.buf, `\nAssignee: `...), c.users[e.assignee])
		}
		b.end()
		if service != "" {
			b.begin()
			b.buf = appendEscaped(append(b.buf, "CATEGORIES:"...), service)
			b.end()
		}
		b.line("STATUS:CONFIRMED")
		b.line("TRANSP:OPAQUE")
		b.begin()
		b.buf = append(append(b.buf, "X-TXXT-STATUS:"...), status...)
		b.end()
		b.line("END:VEVENT")
	}
	b.line("END:VCALENDAR")
	return b.buf, nil
}

// appendLocal appends the moment minute minutes into day date as
// 20060102T150405 (and Z when utc); minute 1440 is the next midnight.
func appendLocal(dst []byte, date, minute uint16, utc bool) []byte {
	d := int64(date) + int64(minute/world.MinutesPerDay)
	minute %= world.MinutesPerDay
	y, m, day := time.Unix(d*86400, 0).UTC().Date()
	dst = append2(append2(dst, y/100), y%100)
	dst = append2(append2(dst, int(m)), day)
	dst = append(dst, 'T')
	dst = append2(append2(dst, int(minute/60)), int(minute%60))
	dst = append(dst, '0', '0')
	if utc {
		dst = append(dst, 'Z')
	}
	return dst
}

// append2 appends v, 0 to 99, as two digits.
func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

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
func escapeText(s string) string { return string(appendEscaped(nil, s)) }

// appendEscaped appends s escaped as a TEXT value (RFC 5545 3.3.11):
// backslash, semicolon, comma and newline escaped, other control
// characters left out.
func appendEscaped(dst []byte, s string) []byte {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] != 0x7f && s[i] != '\\' && s[i] != ';' && s[i] != ',' {
		i++
	}
	dst = append(dst, s[:i]...) // most texts are plain: one copy
	for ; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, '\\', '\\')
		case ';':
			dst = append(dst, '\\', ';')
		case ',':
			dst = append(dst, '\\', ',')
		case '\n':
			dst = append(dst, '\\', 'n')
		default:
			if c < 0x20 || c == 0x7f {
				continue // control characters are not allowed in TEXT
			}
			dst = append(dst, c) // UTF-8 passes through byte by byte
		}
	}
	return dst
}

// icsWriter writes content lines, CRLF-terminated and folded at 75 octets
// without splitting a UTF-8 character (RFC 5545 3.1). A line is either
// given whole (line) or appended to buf between begin and end.
type icsWriter struct {
	buf   []byte
	mark  int    // where the line being written began
	spare []byte // a long line on its way to being folded
}

func (w *icsWriter) line(s string) {
	w.begin()
	w.buf = append(w.buf, s...)
	w.end()
}

func (w *icsWriter) begin() { w.mark = len(w.buf) }

// end folds the line written since begin and ends it.
func (w *icsWriter) end() {
	if len(w.buf)-w.mark <= 75 {
		w.buf = append(w.buf, '\r', '\n')
		return
	}
	w.spare = append(w.spare[:0], w.buf[w.mark:]...)
	w.buf = w.buf[:w.mark]
	s, limit := w.spare, 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		w.buf = append(w.buf, s[:cut]...)
		w.buf = append(w.buf, '\r', '\n', ' ')
		s = s[cut:]
		limit = 74 // the continuation's leading space counts
	}
	w.buf = append(w.buf, s...)
	w.buf = append(w.buf, '\r', '\n')
}
