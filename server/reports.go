package server

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"txxt/world"
)

// The hours report: GET /t/{team}/api/reports/hours?from=…&to=…&group=…&format=…
//
// Booked minutes come from the world's live totals (world.Totals): the
// engine's goroutine only takes a view of the range's days (copy on
// write) and the team's names, and the report is added up on the
// request's goroutine from the cells of its days, never the tasks of the
// world. A range edge given with a time of day (2026-03-02T12:00) cuts its
// day: that day alone is summed from its own tasks, each counting only its
// minutes inside. Capacity is each member's
// (admins and members; viewers plan nothing) working hours on each of the
// team's working days (the world's schedule) less the team's holidays and
// the member's time off, cut by the same edges.

// MaxReportDays is the longest range a report covers.
const MaxReportDays = 366

// reportQuery is a parsed request: days from to to, both inclusive; on
// the first day only minutes from fromMin count, on the last only minutes
// before toMin.
type reportQuery struct {
	from, to       uint16
	fromMin, toMin uint16
	group          []string // of "service", "assignee", "status"
	fromText       string
	toText         string
}

// reportKey names a row's group in one dimension.
type reportKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type reportMinutes struct {
	Planned    int64 `json:"planned_minutes"`
	InProgress int64 `json:"in_progress_minutes"`
	Done       int64 `json:"done_minutes"`
	Total      int64 `json:"total_minutes"`
}

func (m *reportMinutes) add(x world.Minutes) {
	m.Planned += int64(x.Planned)
	m.InProgress += int64(x.InProgress)
	m.Done += int64(x.Done)
	m.Total += int64(x.Total())
}

type reportRow struct {
	Service  *reportKey `json:"service,omitempty"`
	Assignee *reportKey `json:"assignee,omitempty"`
	Status   *reportKey `json:"status,omitempty"`
	reportMinutes
	ByDay []int64 `json:"by_day"` // total minutes on each of Report.Dates
}

type reportMember struct {
	ID      world.ID `json:"id"`
	Name    string   `json:"name"`
	Minutes int64    `json:"minutes"`
}

type reportCapacity struct {
	TotalMinutes int64           `json:"total_minutes"`
	ByDay        []int64         `json:"by_day"`
	Members      []reportMember  `json:"members"`
	Holidays     []world.Holiday `json:"holidays"`
}

// Report is the hours report's JSON.
type Report struct {
	From     string         `json:"from"`
	To       string         `json:"to"`
	Group    []string       `json:"group"`
	Dates    []string       `json:"dates"`
	Rows     []reportRow    `json:"rows"`
	Totals   reportRow      `json:"totals"`
	Capacity reportCapacity `json:"capacity"`
}

var statusKeys = [3]reportKey{{"planned", "Planned"}, {"in_progress", "In progress"}, {"done", "Done"}}

// parseReportQuery reads from, to and group; the message says what is wrong.
func parseReportQuery(from, to, group string) (reportQuery, string) {
	q := reportQuery{toMin: world.MinutesPerDay, fromText: from, toText: to}
	var ok bool
	if q.from, q.fromMin, ok = parseReportDay(from, false); !ok {
		return q, fmt.Sprintf("from %q is not a date (2026-03-02) or a date and time (2026-03-02T12:00)", from)
	}
	if q.to, q.toMin, ok = parseReportDay(to, true); !ok {
		return q, fmt.Sprintf("to %q is not a date (2026-03-08) or a date and time (2026-03-08T12:00)", to)
	}
	if q.to < q.from || (q.to == q.from && q.toMin <= q.fromMin) {
		return q, "the range ends before it starts: give a to on or after from"
	}
	if int(q.to)-int(q.from)+1 > MaxReportDays {
		return q, fmt.Sprintf("the range is %d days; a report covers at most %d", int(q.to)-int(q.from)+1, MaxReportDays)
	}
	if group == "" {
		group = "service"
	}
	seen := map[string]bool{}
	for _, g := range strings.Split(group, ",") {
		if g != "service" && g != "assignee" && g != "status" {
			return q, fmt.Sprintf("group %q is not service, assignee, status or service,assignee", g)
		}
		if seen[g] {
			return q, fmt.Sprintf("group names %q twice", g)
		}
		seen[g] = true
		q.group = append(q.group, g)
	}
	return q, ""
}

// parseReportDay reads 2026-03-02 (a whole day: from its start, or to its
// end when end is set) or 2026-03-02T12:00 (from that minute).
func parseReportDay(s string, end bool) (day, minute uint16, ok bool) {
	var t time.Time
	var err error
	whole := len(s) == len("2006-01-02")
	if whole {
		t, err = time.Parse("2006-01-02", s)
	} else {
		t, err = time.Parse("2006-01-02T15:04", s)
	}
	if err != nil {
		return 0, 0, false
	}
	days := t.Unix() / 86400
	if days < 0 || days >= int64(world.NoDate) {
		return 0, 0, false
	}
	minute = uint16(t.Hour()*60 + t.Minute())
	if whole && end {
		minute = world.MinutesPerDay
	}
	return uint16(days), minute, true
}

// monthOf is the first and last day of the month holding now in the time
// zone (UTC when the server does not know it): a report without a range.
func monthOf(now time.Time, zone string) (from, to string) {
	if loc, err := time.LoadLocation(zone); err == nil {
		now = now.In(loc)
	}
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first.Format("2006-01-02"), first.AddDate(0, 1, -1).Format("2006-01-02")
}

func dayText(d uint16) string { return time.Unix(int64(d)*86400, 0).UTC().Format("2006-01-02") }

// clip is the part of [start, end) inside [lo, hi).
func clip(start, end, lo, hi uint16) uint16 {
	s, e := max(start, lo), min(end, hi)
	if e <= s {
		return 0
	}
	return e - s
}

// reportInputs is what a report reads of the world, taken on the engine's
// goroutine by takeReport in the time of the range's days and the team's
// names (never the world's tasks): a view of the totals (copy on write,
// see world.TotalsView), the tasks of a day cut by a time of day (copied:
// that day's alone), the names, the schedule and the non-working days.
// buildReport then runs on the request's goroutine, so a report over
// 100,000 tasks makes no command wait for it.
type reportInputs struct {
	totals   world.TotalsView
	cut      map[uint16][]world.DayTask // the tasks of a day cut by a time of day
	services map[world.ID]string
	users    map[world.ID]string
	schedule world.Schedule
	holidays map[uint16]string // the range's
	timeOff  []world.TimeOff
}

// takeReport takes what q needs of w. It runs on the engine's goroutine
// (inside engine.Read).
func takeReport(w *world.World, q reportQuery) reportInputs {
	in := reportInputs{
		totals:   w.ViewTotals(q.from, q.to),
		services: map[world.ID]string{},
		users:    map[world.ID]string{},
		schedule: w.Schedule(),
		holidays: map[uint16]string{},
		timeOff:  w.TimeOffs(),
		cut:      map[uint16][]world.DayTask{},
	}
	if q.fromMin != 0 || (q.from == q.to && q.toMin != world.MinutesPerDay) {
		in.cut[q.from] = w.DayTasks(nil, q.from)
	}
	if q.toMin != world.MinutesPerDay {
		in.cut[q.to] = w.DayTasks(nil, q.to)
	}
	for _, sv := range w.Services() {
		in.services[sv.ID] = sv.Name
	}
	for _, u := range w.Users() {
		in.users[u.ID] = u.Name
	}
	for d := uint32(q.from); d <= uint32(q.to); d++ {
		if name, ok := w.HolidayOn(uint16(d)); ok {
			in.holidays[uint16(d)] = name
		}
	}
	return in
}

// off reports whether user has time off on day.
func (in *reportInputs) off(user world.ID, day uint16) bool {
	for _, o := range in.timeOff {
		if o.User == user && o.From <= day && day <= o.To {
			return true
		}
	}
	return false
}

// buildReport computes q from what takeReport took, for the given
// members, on any goroutine: the totals' cells of the range's days, and
// for a day cut by a time of day that day's own tasks.
func buildReport(in reportInputs, q reportQuery, members []Member) Report {
	n := int(q.to) - int(q.from) + 1
	rep := Report{From: q.fromText, To: q.toText, Group: q.group, Dates: make([]string, n)}
	for i := range n {
		rep.Dates[i] = dayText(q.from + uint16(i))
	}
	type rowKey struct {
		service, assignee world.ID
		status            int // 0..2 when grouped by status, else -1
	}
	rows := map[rowKey]*reportRow{}
	bySvc, byUser, byStatus := false, false, false
	for _, g := range q.group {
		bySvc, byUser, byStatus = bySvc || g == "service", byUser || g == "assignee", byStatus || g == "status"
	}
	rep.Totals.ByDay = make([]int64, n)
	put := func(day uint16, k world.TotalsKey, m world.Minutes) {
		parts := [3]world.Minutes{m, {}, {}}
		if byStatus {
			parts = [3]world.Minutes{{Planned: m.Planned}, {InProgress: m.InProgress}, {Done: m.Done}}
		}
		for s, part := range parts {
			if part == (world.Minutes{}) {
				continue
			}
			rk := rowKey{status: -1}
			if bySvc {
				rk.service = k.Service
			}
			if byUser {
				rk.assignee = k.Assignee
			}
			if byStatus {
				rk.status = s
			}
			r := rows[rk]
			if r == nil {
				r = &reportRow{ByDay: make([]int64, n)}
				rows[rk] = r
				if bySvc {
					r.Service = &reportKey{k.Service.String(), in.services[k.Service]}
				}
				if byUser {
					r.Assignee = &reportKey{"", "Unassigned"}
					if !k.Assignee.IsZero() {
						r.Assignee = &reportKey{k.Assignee.String(), in.users[k.Assignee]}
					}
				}
				if byStatus {
					r.Status = &statusKeys[s]
				}
			}
			r.add(part)
			r.ByDay[day-q.from] += int64(part.Total())
			rep.Totals.add(part)
			rep.Totals.ByDay[day-q.from] += int64(part.Total())
		}
	}
	// window is the minutes of day inside the range.
	window := func(day uint16) (lo, hi uint16) {
		lo, hi = 0, world.MinutesPerDay
		if day == q.from {
			lo = q.fromMin
		}
		if day == q.to {
			hi = q.toMin
		}
		return lo, hi
	}
	// A day cut by a time of day is summed from its tasks, each clipped
	// to the window; every other day from its cells.
	for d := uint32(q.from); d <= uint32(q.to); d++ {
		day := uint16(d)
		lo, hi := window(day)
		if lo == 0 && hi == world.MinutesPerDay {
			in.totals.Cells(day, func(k world.TotalsKey, m world.Minutes) { put(day, k, m) })
			continue
		}
		for _, t := range in.cut[day] {
			part := uint32(clip(t.Start, t.Start+t.Duration, lo, hi))
			if part == 0 {
				continue
			}
			var m world.Minutes
			switch {
			case t.Minutes.Planned > 0:
				m.Planned = part
			case t.Minutes.InProgress > 0:
				m.InProgress = part
			default:
				m.Done = part
			}
			put(day, t.Key, m)
		}
	}
	rep.Rows = make([]reportRow, 0, len(rows))
	for _, r := range rows {
		rep.Rows = append(rep.Rows, *r)
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rowLess(&rep.Rows[i], &rep.Rows[j]) })

	// Capacity.
	sch := in.schedule
	rep.Capacity.ByDay = make([]int64, n)
	rep.Capacity.Members = []reportMember{}
	rep.Capacity.Holidays = []world.Holiday{}
	for i := range n {
		if name, ok := in.holidays[q.from+uint16(i)]; ok {
			rep.Capacity.Holidays = append(rep.Capacity.Holidays, world.Holiday{Date: q.from + uint16(i), Name: name})
		}
	}
	for _, m := range members {
		if m.Role == RoleViewer {
			continue
		}
		rm := reportMember{ID: m.User, Name: m.Name}
		for i := range n {
			day := q.from + uint16(i)
			if !sch.WorksOn(day) { // not one of the team's working days
				continue
			}
			if _, ok := in.holidays[day]; ok || in.off(m.User, day) {
				continue
			}
			lo, hi := window(day)
			c := int64(clip(sch.WorkdayStart, sch.WorkdayEnd, lo, hi))
			rm.Minutes += c
			rep.Capacity.ByDay[i] += c
		}
		rep.Capacity.TotalMinutes += rm.Minutes
		rep.Capacity.Members = append(rep.Capacity.Members, rm)
	}
	sort.Slice(rep.Capacity.Members, func(i, j int) bool { return rep.Capacity.Members[i].Name < rep.Capacity.Members[j].Name })
	return rep
}

func keyLess(a, b *reportKey) (less, equal bool) {
	if a == nil || b == nil || *a == *b {
		return false, true
	}
	if a.Name != b.Name {
		return a.Name < b.Name, false
	}
	return a.ID < b.ID, false
}

func rowLess(a, b *reportRow) bool {
	if l, eq := keyLess(a.Service, b.Service); !eq {
		return l
	}
	if l, eq := keyLess(a.Assignee, b.Assignee); !eq {
		return l
	}
	if a.Status != nil && b.Status != nil {
		return statusIndex(a.Status) < statusIndex(b.Status)
	}
	return false
}

func statusIndex(k *reportKey) int {
	for i := range statusKeys {
		if statusKeys[i].ID == k.ID {
			return i
		}
	}
	return 3
}

// reportTable is the rows as the CSV and the spreadsheet hold them: the
// group's keys (id and name of each), then the minutes.
func reportTable(rep *Report) (header []string, rows [][]any) {
	for _, g := range rep.Group {
		header = append(header, g+"_id", g+"_name")
	}
	header = append(header, "planned_minutes", "in_progress_minutes", "done_minutes", "total_minutes")
	for _, r := range rep.Rows {
		var line []any
		for _, g := range rep.Group {
			k := map[string]*reportKey{"service": r.Service, "assignee": r.Assignee, "status": r.Status}[g]
			line = append(line, k.ID, k.Name)
		}
		line = append(line, r.Planned, r.InProgress, r.Done, r.Total)
		rows = append(rows, line)
	}
	return header, rows
}

func reportCSV(rep *Report) []byte {
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	header, rows := reportTable(rep)
	cw.Write(header)
	for _, r := range rows {
		rec := make([]string, len(r))
		for i, v := range r {
			switch v := v.(type) {
			case string:
				rec[i] = v
			case int64:
				rec[i] = strconv.FormatInt(v, 10)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	return buf.Bytes()
}

// reportXLSX writes the rows on the sheet "Hours" (minutes as numbers, so
// a spreadsheet adds them up) and the capacity per day on "Capacity".
func reportXLSX(rep *Report) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", "Hours"); err != nil {
		return nil, err
	}
	header, rows := reportTable(rep)
	cells := append([][]any{toAny(header)}, rows...)
	for i, line := range cells {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Hours", cell, &line); err != nil {
			return nil, err
		}
	}
	if _, err := f.NewSheet("Capacity"); err != nil {
		return nil, err
	}
	f.SetSheetRow("Capacity", "A1", &[]any{"date", "capacity_minutes", "booked_minutes"})
	for i, d := range rep.Dates {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow("Capacity", cell, &[]any{d, rep.Capacity.ByDay[i], rep.Totals.ByDay[i]}); err != nil {
			return nil, err
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// handleHoursReport answers the hours report in JSON, CSV or XLSX.
func (s *Server) handleHoursReport() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		format := v.Get("format")
		if format == "" {
			format = "json"
		}
		if format != "json" && format != "csv" && format != "xlsx" {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, fmt.Sprintf("Format %q is not json, csv or xlsx.", format))
			return
		}
		t := teamFrom(r).t
		members, err := s.accounts.Members(t.slug)
		if err != nil {
			s.apiError(w, r, err)
			return
		}
		from, to := v.Get("from"), v.Get("to")
		if from == "" && to == "" {
			// The zone is looked up here, not on the engine's goroutine:
			// loading it may read a file.
			var zone string
			if err := t.eng.Read(r.Context(), func(wd *world.World) { zone = wd.Schedule().TimeZone }); err != nil {
				s.apiError(w, r, err)
				return
			}
			from, to = monthOf(s.now(), zone)
		}
		q, msg := parseReportQuery(from, to, v.Get("group"))
		if msg != "" {
			writeError(w, http.StatusBadRequest, world.CodeBadRequest, sentence(msg))
			return
		}
		var in reportInputs
		if err := t.eng.Read(r.Context(), func(wd *world.World) { in = takeReport(wd, q) }); err != nil {
			s.apiError(w, r, err)
			return
		}
		rep := buildReport(in, q, members) // off the engine's goroutine

		name := fmt.Sprintf("hours-%s-%s", dayText(q.from), dayText(q.to))
		w.Header().Set("Cache-Control", "no-store")
		switch format {
		case "json":
			writeJSON(w, http.StatusOK, rep)
		case "csv":
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			w.Write(reportCSV(&rep))
		case "xlsx":
			b, err := reportXLSX(&rep)
			if err != nil {
				s.apiError(w, r, fmt.Errorf("write the report's spreadsheet: %w", err))
				return
			}
			w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.xlsx"`)
			w.Write(b)
		}
	})
}
