package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/xuri/excelize/v2"

	"txxt/engine"
	"txxt/wire"
	"txxt/world"
)

// Monday 2 March 2026 and the days after it.
const mar2 = uint16(20514)

type reportJSON struct {
	Dates []string `json:"dates"`
	Rows  []struct {
		Service    *struct{ ID, Name string } `json:"service"`
		Assignee   *struct{ ID, Name string } `json:"assignee"`
		Status     *struct{ ID, Name string } `json:"status"`
		Planned    int64                      `json:"planned_minutes"`
		InProgress int64                      `json:"in_progress_minutes"`
		Done       int64                      `json:"done_minutes"`
		Total      int64                      `json:"total_minutes"`
		ByDay      []int64                    `json:"by_day"`
	} `json:"rows"`
	Totals struct {
		Planned, InProgress, Done, Total int64
		ByDay                            []int64 `json:"by_day"`
	} `json:"totals"`
	Capacity struct {
		Total   int64   `json:"total_minutes"`
		ByDay   []int64 `json:"by_day"`
		Members []struct {
			Name    string `json:"name"`
			Minutes int64  `json:"minutes"`
		} `json:"members"`
	} `json:"capacity"`
}

// reportWorld fills the harness's world with a week of work, a holiday and
// time off, and returns the two services.
func reportWorld(t *testing.T, h *harness) (ops, billing world.ID) {
	t.Helper()
	ops, billing = h.service("Ops"), h.service("Billing")
	var ann, bob world.ID
	h.eng.Read(context.Background(), func(w *world.World) {
		for _, u := range w.Users() {
			switch u.Name {
			case "ann":
				ann = u.ID
			case "bob":
				bob = u.ID
			}
		}
	})
	n := byte(0)
	do := func(c world.Command) world.ID {
		t.Helper()
		if c.Kind == world.CmdCreateTask {
			n++
			c.Task = world.ID{0xEE, 15: n}
		}
		res, err := h.eng.Do(context.Background(), engine.Request{Command: c})
		if err != nil || res.Err != nil {
			t.Fatalf("%s: %v %v", c.Kind, err, res.Err)
		}
		return c.Task
	}
	task := func(svc, who world.ID, day, start, dur uint16) world.ID {
		return do(world.Command{Kind: world.CmdCreateTask, Service: svc, Assignee: who, Slot: world.Slot{Date: day, Start: start, Duration: dur}, Text: "work"})
	}
	task(ops, ann, mar2, 540, 60)                                                                    // Mon, planned
	do(world.Command{Kind: world.CmdStartTask, Task: task(ops, bob, mar2+1, 600, 90)})               // Tue, in progress
	do(world.Command{Kind: world.CmdCompleteTask, Task: task(billing, world.ID{}, mar2+2, 840, 30)}) // Wed, done
	task(ops, ann, mar2+4, 660, 120)                                                                 // Fri 11:00-13:00: the edge test cuts it at noon
	task(billing, bob, mar2+6, 660, 120)                                                             // Sun
	task(ops, ann, mar2+7, 540, 45)                                                                  // the next Monday: outside
	do(world.Command{Kind: world.CmdCreateTask, Task: world.ID{0xEF}, Service: ops, Slot: world.NoSlot, Text: "staged"})
	do(world.Command{Kind: world.CmdAddHoliday, Holiday: world.Holiday{Date: mar2 + 3, Name: "Founders' Day"}})
	do(world.Command{Kind: world.CmdAddTimeOff, TimeOff: world.TimeOff{User: bob, From: mar2 + 1, To: mar2 + 2, Note: "dentist"}})
	return ops, billing
}

func getReport(t *testing.T, h *harness, token, query string) reportJSON {
	t.Helper()
	res, body := h.do("GET", "/api/reports/hours?"+query, token, nil)
	if res.StatusCode != 200 {
		t.Fatalf("%s: %d %s", query, res.StatusCode, body)
	}
	var rep reportJSON
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestHoursReport(t *testing.T) {
	h := start(t, options{})
	reportWorld(t, h)
	week := "from=2026-03-02&to=2026-03-08"

	t.Run("by service, with capacity less the holiday and time off", func(t *testing.T) {
		rep := getReport(t, h, h.member, week+"&group=service")
		got := map[string][4]int64{}
		for _, r := range rep.Rows {
			got[r.Service.Name] = [4]int64{r.Planned, r.InProgress, r.Done, r.Total}
		}
		want := map[string][4]int64{"Billing": {120, 0, 30, 150}, "Ops": {180, 90, 0, 270}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("rows %v, want %v", got, want)
		}
		if len(rep.Dates) != 7 || rep.Dates[0] != "2026-03-02" || fmt.Sprint(rep.Totals.ByDay) != "[60 90 30 0 120 0 120]" {
			t.Errorf("dates %v, booked by day %v", rep.Dates, rep.Totals.ByDay)
		}
		// 600 minutes a working day (08:00-18:00); Thursday is a
		// holiday; bob is off Tuesday and Wednesday; no weekend.
		if rep.Capacity.Total != 4*600+2*600 || fmt.Sprint(rep.Capacity.ByDay) != "[1200 600 600 0 1200 0 0]" {
			t.Errorf("capacity %d by day %v", rep.Capacity.Total, rep.Capacity.ByDay)
		}
		if len(rep.Capacity.Members) != 2 || rep.Capacity.Members[0].Name != "ann" || rep.Capacity.Members[0].Minutes != 2400 || rep.Capacity.Members[1].Minutes != 1200 {
			t.Errorf("members %+v", rep.Capacity.Members)
		}
	})
	t.Run("a task crossing the range's edge counts only its part inside", func(t *testing.T) {
		rep := getReport(t, h, h.admin, "from=2026-03-02&to=2026-03-06T12:00&group=service")
		for _, r := range rep.Rows {
			if r.Service.Name == "Ops" && (r.Planned != 60+60 || r.ByDay[4] != 60) {
				t.Errorf("Ops planned %d, Friday %d: want 120 and 60 (11:00 to noon)", r.Planned, r.ByDay[4])
			}
		}
		if rep.Capacity.ByDay[4] != 2*240 {
			t.Errorf("Friday's capacity %d, want 08:00 to noon for two", rep.Capacity.ByDay[4])
		}
		rep = getReport(t, h, h.admin, "from=2026-03-06T12:30&to=2026-03-06T17:00&group=status")
		if len(rep.Rows) != 1 || rep.Rows[0].Status.ID != "planned" || rep.Rows[0].Planned != 30 {
			t.Errorf("Friday afternoon: %+v", rep.Rows)
		}
	})
	t.Run("by service and assignee, and by status", func(t *testing.T) {
		rep := getReport(t, h, h.admin, week+"&group=service,assignee")
		var lines []string
		for _, r := range rep.Rows {
			lines = append(lines, fmt.Sprintf("%s/%s:%d", r.Service.Name, r.Assignee.Name, r.Total))
		}
		if fmt.Sprint(lines) != "[Billing/Unassigned:30 Billing/bob:120 Ops/ann:180 Ops/bob:90]" {
			t.Errorf("rows %v", lines)
		}
		rep = getReport(t, h, h.admin, week+"&group=status")
		lines = nil
		for _, r := range rep.Rows {
			lines = append(lines, fmt.Sprintf("%s:%d/%d/%d", r.Status.ID, r.Planned, r.InProgress, r.Done))
		}
		if fmt.Sprint(lines) != "[planned:300/0/0 in_progress:0/90/0 done:0/0/30]" {
			t.Errorf("rows %v", lines)
		}
	})
	t.Run("CSV and XLSX read back equal the JSON", func(t *testing.T) {
		for _, group := range []string{"service", "service,assignee", "status", "assignee"} {
			q := week + "&group=" + group
			rep := getReport(t, h, h.admin, q)
			var want [][]string
			for _, r := range rep.Rows {
				var line []string
				for _, k := range []*struct{ ID, Name string }{r.Service, r.Assignee, r.Status} {
					if k != nil {
						line = append(line, k.ID, k.Name)
					}
				}
				for _, m := range []int64{r.Planned, r.InProgress, r.Done, r.Total} {
					line = append(line, strconv.FormatInt(m, 10))
				}
				want = append(want, line)
			}
			res, body := h.do("GET", "/t/main/api/reports/hours?"+q+"&format=csv", h.admin, nil)
			if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
				t.Fatalf("csv: %d %s", res.StatusCode, body)
			}
			recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(recs[1:]) != fmt.Sprint(want) || len(recs[0]) != len(want[0]) {
				t.Errorf("%s csv\n %v\nwant %v", group, recs, want)
			}
			res, body = h.do("GET", "/api/reports/hours?"+q+"&format=xlsx", h.member, nil)
			if res.StatusCode != 200 {
				t.Fatalf("xlsx: %d %s", res.StatusCode, body)
			}
			f, err := excelize.OpenReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			sheet, err := f.GetRows("Hours")
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(sheet) != fmt.Sprint(recs) {
				t.Errorf("%s xlsx\n %v\nwant %v", group, sheet, recs)
			}
			capacity, _ := f.GetRows("Capacity")
			if len(capacity) != 8 || capacity[1][1] != strconv.FormatInt(rep.Capacity.ByDay[0], 10) {
				t.Errorf("capacity sheet %v", capacity)
			}
			f.Close()
		}
	})
	t.Run("bad queries say what is wrong", func(t *testing.T) {
		for _, q := range []string{"from=2026-03-02", "to=2026-03-02", "from=2026-03-09&to=2026-03-02", "from=2026-3-2&to=2026-03-09",
			"from=2026-01-01&to=2027-06-01", week + "&group=colour", week + "&group=service,service", week + "&format=pdf"} {
			res, body := h.do("GET", "/api/reports/hours?"+q, h.admin, nil)
			var e struct{ Code, Message string }
			json.Unmarshal(body, &e)
			if res.StatusCode != 400 || e.Code != "BAD_REQUEST" || e.Message == "" {
				t.Errorf("%q: %d %s", q, res.StatusCode, body)
			}
		}
		// Without a range: the month of today, in the team's time zone.
		res, body := h.do("GET", "/api/reports/hours", h.admin, nil)
		var rep reportJSON
		json.Unmarshal(body, &rep)
		if res.StatusCode != 200 || len(rep.Dates) < 28 || rep.Dates[0][8:] != "01" {
			t.Errorf("without a range: %d, dates %v", res.StatusCode, rep.Dates)
		}
		if res, _ := h.do("GET", "/api/reports/hours?"+week, "", nil); res.StatusCode != 401 {
			t.Errorf("without a login: %d", res.StatusCode)
		}
	})
}

// The team's working days are its schedule's: set in the settings (one
// ScheduleChanged), they decide the reports' capacity; a SetSchedule of a
// client that knows no working days keeps them.
func TestWorkingDaysInCapacity(t *testing.T) {
	h := start(t, options{})
	reportWorld(t, h)
	week := "from=2026-03-02&to=2026-03-08&group=service"
	// Sunday to Thursday (bits 0-3 and 6): Friday and Saturday off.
	if res, body := h.do("PUT", "/api/settings", h.admin, map[string]int{"working_days": 0x4F}); res.StatusCode != 200 {
		t.Fatalf("PUT working days: %d %s", res.StatusCode, body)
	}
	var set struct {
		WorkingDays int `json:"working_days"`
	}
	if _, body := h.do("GET", "/api/settings", h.member, nil); json.Unmarshal(body, &set) != nil || set.WorkingDays != 0x4F {
		t.Fatalf("settings after the PUT: %s", body)
	}
	// Monday ann and bob, Tuesday and Wednesday ann (bob off), Thursday
	// the holiday, Friday and Saturday not worked, Sunday both.
	rep := getReport(t, h, h.member, week)
	if fmt.Sprint(rep.Capacity.ByDay) != "[1200 600 600 0 0 0 1200]" || rep.Capacity.Total != 3600 {
		t.Errorf("capacity by day %v, total %d", rep.Capacity.ByDay, rep.Capacity.Total)
	}
	// An old client's SetSchedule (no working days) changes the hours and keeps the days.
	c := h.dialAs(h.admin, true, "")
	c.handshake()
	c.send(1, world.Command{Kind: world.CmdSetSchedule, Schedule: world.Schedule{WorkdayStart: 540, WorkdayEnd: 1020, TimeZone: "UTC"}}) // the frame of before working days
	if f, _ := c.answer(1); f.Type != wire.TypeAck {
		t.Fatalf("the old SetSchedule: %+v", f)
	}
	rep = getReport(t, h, h.member, week)
	if fmt.Sprint(rep.Capacity.ByDay) != "[960 480 480 0 0 0 960]" {
		t.Errorf("after an old client's SetSchedule, capacity by day %v", rep.Capacity.ByDay)
	}
	for _, bad := range []int{0, 0x80, -1} {
		if res, body := h.do("PUT", "/api/settings", h.admin, map[string]int{"working_days": bad}); res.StatusCode != 400 || !bytes.Contains(body, []byte("INVALID_DATE")) {
			t.Errorf("working days %d: %d %s", bad, res.StatusCode, body)
		}
	}
}
