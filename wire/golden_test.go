package wire

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"txxt/world"
)

// vector is one golden frame: its bytes and what they mean. The file is
// shared with the browser client's tests. The base protocol's vectors were
// written from the original protocol's description, never produced by this
// encoder.
type vector struct {
	Name    string         `json:"name"`
	Dir     string         `json:"dir"`
	Version int            `json:"version"`
	Hex     string         `json:"hex"`
	Fields  map[string]any `json:"fields"`
	// DecodeOnly marks a layout we still read but no longer write (a v1
	// Snapshot from before its trailer, as old save files hold): its
	// fields are checked, and its re-encoding only for the same fields.
	DecodeOnly bool `json:"decodeOnly"`
}

func loadVectors(t testing.TB) []vector {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	return vs
}

func (v vector) bytes(t testing.TB) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(v.Hex, " ", ""))
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	return b
}

// TestGolden decodes every vector and compares it with its fields, then
// encodes the decoded value and compares it with the bytes.
func TestGolden(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			frame := v.bytes(t)
			v1 := v.Version == 1
			var fields map[string]any
			var again []byte
			if v.Dir == "client" {
				f, err := DecodeCommand(frame, v1)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				fields = clientFields(f)
				switch f.Type {
				case TypePing:
					again = AppendPing(nil, &f.Ping)
				case TypeClientStats:
					again = AppendClientStats(nil, &f.Stats)
				default:
					again = AppendCommand(nil, v1, f.Request, &f.Command)
				}
			} else {
				f, err := DecodeServerFrame(frame, v1)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				fields = serverFields(f)
				again = encodeServer(f, v1)
			}
			if want := normalize(t, v.Fields); !reflect.DeepEqual(normalize(t, fields), want) {
				got, _ := json.Marshal(fields)
				exp, _ := json.Marshal(v.Fields)
				t.Errorf("fields\n got %s\nwant %s", got, exp)
			}
			if v.DecodeOnly {
				f, err := DecodeServerFrame(again, v1)
				if err != nil || !reflect.DeepEqual(normalize(t, serverFields(f)), normalize(t, v.Fields)) {
					t.Errorf("re-encoded in today's layout, it reads back differently: %v", err)
				}
				return
			}
			if !bytes.Equal(again, frame) {
				t.Errorf("encoding differs\n got %x\nwant %x", again, frame)
			}
		})
	}
}

// normalize passes a value through JSON so numbers compare as numbers.
func normalize(t testing.TB, v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(raw, &out)
	return out
}

func encodeServer(f ServerFrame, v1 bool) []byte {
	switch {
	case f.Type == TypeSnapshot:
		return AppendSnapshot(nil, f.Snapshot, v1)
	case IsEvent(f.Type):
		return appendEvent(nil, &f.Event, v1)
	}
	switch f.Type {
	case TypeWelcome:
		return AppendWelcome(nil, &f.Welcome)
	case TypeAck:
		return AppendAck(nil, &f.Ack)
	case TypeError:
		return AppendError(nil, &f.Error)
	case TypePresence:
		return AppendPresence(nil, &f.Presence)
	case TypeTelemetry:
		return AppendTelemetry(nil, &f.Telemetry)
	case TypeServerState:
		return AppendServerState(nil, &f.ServerState)
	case TypePong:
		return AppendPong(nil, &f.Pong)
	}
	return nil
}

var eventNames = map[byte]string{
	TypeTaskCreated: "TaskCreated", TypeTaskScheduled: "TaskScheduled", TypeTaskMoved: "TaskMoved",
	TypeTaskUnscheduled: "TaskUnscheduled", TypeTaskCompleted: "TaskCompleted", TypeTaskDeleted: "TaskDeleted",
	TypeTaskRenamed: "TaskRenamed", TypeTaskPrioritized: "TaskPrioritized", TypeTaskAssigned: "TaskAssigned",
	TypeTaskStarted: "TaskStarted", TypeTaskReopened: "TaskReopened", TypeServiceCreated: "ServiceCreated",
	TypeServiceRenamed: "ServiceRenamed", TypeGridChanged: "GridChanged", TypeUserCreated: "UserCreated",
	TypeUserRenamed: "UserRenamed", TypeTaskServiceChanged: "TaskServiceChanged",
	TypeServiceRecolored: "ServiceRecolored", TypeServiceArchived: "ServiceArchived", TypeScheduleChanged: "ScheduleChanged",
	TypeHolidayAdded: "HolidayAdded", TypeHolidayRemoved: "HolidayRemoved", TypeTimeOffAdded: "TimeOffAdded", TypeTimeOffRemoved: "TimeOffRemoved",
}

func timeOffFields(o world.TimeOff) map[string]any {
	return map[string]any{"id": o.ID.String(), "user": o.User.String(), "from": o.From, "to": o.To, "note": o.Note}
}

func scheduleFields(s world.Schedule) map[string]any {
	return map[string]any{"workdayStart": s.WorkdayStart, "workdayEnd": s.WorkdayEnd, "firstDay": s.FirstDay, "timeZone": s.TimeZone, "workingDays": s.WorkingDays}
}

func taskFields(t world.Task) map[string]any {
	return map[string]any{"id": t.ID.String(), "status": t.Status, "priority": t.Priority,
		"date": t.Slot.Date, "start": t.Slot.Start, "duration": t.Slot.Duration,
		"service": t.Service.String(), "assignee": t.Assignee.String(), "title": t.Title, "created": t.Created}
}

func named(id world.ID, name string) map[string]any {
	return map[string]any{"id": id.String(), "name": name}
}

func serverFields(f ServerFrame) map[string]any {
	if f.Type == TypeSnapshot {
		s := f.Snapshot
		tasks, services, users := []any{}, []any{}, []any{}
		for _, t := range s.Tasks {
			tasks = append(tasks, taskFields(t))
		}
		for _, x := range s.Services {
			m := named(x.ID, x.Name)
			m["color"], m["archived"] = x.Color, x.Archived
			services = append(services, m)
		}
		for _, x := range s.Users {
			users = append(users, named(x.ID, x.Name))
		}
		holidays, timeOff := []any{}, []any{}
		for _, h := range s.Holidays {
			holidays = append(holidays, map[string]any{"date": h.Date, "name": h.Name})
		}
		for _, o := range s.TimeOff {
			timeOff = append(timeOff, timeOffFields(o))
		}
		return map[string]any{"type": "Snapshot", "revision": s.Revision, "tasks": tasks, "services": services, "users": users, "grid": s.Grid,
			"schedule": scheduleFields(s.Schedule), "holidays": holidays, "timeOff": timeOff}
	}
	if IsEvent(f.Type) {
		ev := f.Event
		m := map[string]any{"type": eventNames[f.Type], "revision": ev.Revision}
		switch f.Type {
		case TypeTaskCreated:
			m["task"] = taskFields(ev.Task)
		case TypeServiceCreated, TypeServiceRenamed:
			m["service"] = named(ev.Service.ID, ev.Service.Name)
		case TypeUserCreated, TypeUserRenamed:
			m["user"] = named(ev.User.ID, ev.User.Name)
		case TypeGridChanged:
			m["grid"] = ev.Grid
		case TypeServiceRecolored:
			m["id"], m["color"] = ev.Service.ID.String(), ev.Service.Color
		case TypeServiceArchived:
			m["id"], m["archived"] = ev.Service.ID.String(), ev.Service.Archived
		case TypeScheduleChanged:
			m["schedule"] = scheduleFields(ev.Schedule)
		case TypeHolidayAdded:
			m["date"], m["name"] = ev.Holiday.Date, ev.Holiday.Name
		case TypeHolidayRemoved:
			m["date"] = ev.Holiday.Date
		case TypeTimeOffAdded:
			m["timeOff"] = timeOffFields(ev.TimeOff)
		case TypeTimeOffRemoved:
			m["id"], m["user"] = ev.TimeOff.ID.String(), ev.TimeOff.User.String()
		default:
			m["id"] = ev.Task.ID.String()
		}
		switch f.Type {
		case TypeTaskScheduled, TypeTaskMoved:
			m["date"], m["start"], m["duration"] = ev.Task.Slot.Date, ev.Task.Slot.Start, ev.Task.Slot.Duration
		case TypeTaskRenamed:
			m["title"] = ev.Task.Title
		case TypeTaskPrioritized:
			m["priority"] = ev.Task.Priority
		case TypeTaskAssigned:
			m["assignee"] = ev.Task.Assignee.String()
		case TypeTaskServiceChanged:
			m["service"] = ev.Task.Service.String()
		}
		return m
	}
	switch f.Type {
	case TypeWelcome:
		w := f.Welcome
		return map[string]any{"type": "Welcome", "protocol": w.Protocol, "flags": w.Flags, "serverTime": w.ServerTime,
			"grid": w.Grid, "role": w.Role, "session": w.Session.String(), "user": w.User.String(), "client": w.Client.String(),
			"serverVersion": w.ServerVersion, "userName": w.UserName, "profile": string(w.Profile)}
	case TypeAck:
		return map[string]any{"type": "Ack", "request": f.Ack.Request, "revision": f.Ack.Revision}
	case TypeError:
		return map[string]any{"type": "Error", "request": f.Error.Request, "code": f.Error.Code, "message": f.Error.Message}
	case TypePresence:
		entries := []any{}
		for _, e := range f.Presence.Entries {
			entries = append(entries, map[string]any{"session": e.Session.String(), "user": e.User.String()})
		}
		return map[string]any{"type": "Presence", "op": f.Presence.Op, "entries": entries}
	case TypeTelemetry:
		stages := []any{}
		for _, s := range f.Telemetry.Stages {
			stages = append(stages, map[string]any{"stage": s.Stage, "samples": s.Samples, "p50": s.P50, "p95": s.P95, "p99": s.P99, "max": s.Max})
		}
		return map[string]any{"type": "Telemetry", "serverTime": f.Telemetry.ServerTime, "windowMs": f.Telemetry.WindowMs, "stages": stages}
	case TypeServerState:
		return map[string]any{"type": "ServerState", "state": f.ServerState.State, "reason": f.ServerState.Reason}
	case TypePong:
		return map[string]any{"type": "Pong", "nonce": f.Pong.Nonce, "clientTime": f.Pong.ClientTime, "serverTime": f.Pong.ServerTime}
	}
	return nil
}

func clientFields(f ClientFrame) map[string]any {
	switch f.Type {
	case TypePing:
		return map[string]any{"type": "Ping", "nonce": f.Ping.Nonce, "clientTime": f.Ping.ClientTime}
	case TypeClientStats:
		return map[string]any{"type": "ClientStats", "rttP50": f.Stats.RTTp50, "rttP95": f.Stats.RTTp95, "fps": f.Stats.FPS}
	}
	c := f.Command
	m := map[string]any{"type": c.Kind.String(), "request": f.Request}
	slot := func() { m["date"], m["start"], m["duration"] = c.Slot.Date, c.Slot.Start, c.Slot.Duration }
	switch f.Type {
	case TypeCreateTask:
		m["priority"], m["service"], m["assignee"], m["text"] = c.Priority, c.Service.String(), c.Assignee.String(), c.Text
		slot()
	case TypeCloneTask:
		m["source"] = c.Source.String()
		slot()
	case TypeCreateService:
		m["text"] = c.Text
	case TypeRenameService:
		m["service"], m["text"] = c.Service.String(), c.Text
	case TypeSetGrid:
		m["grid"] = c.Grid
	case TypeRecolorService:
		m["service"], m["color"] = c.Service.String(), c.Color
	case TypeArchiveService:
		m["service"], m["archived"] = c.Service.String(), c.Archived
	case TypeSetSchedule:
		m["workdayStart"], m["workdayEnd"], m["firstDay"], m["timeZone"] = c.Schedule.WorkdayStart, c.Schedule.WorkdayEnd, c.Schedule.FirstDay, c.Schedule.TimeZone
		m["workingDays"] = c.Schedule.WorkingDays
	case TypeAddHoliday:
		m["date"], m["name"] = c.Holiday.Date, c.Holiday.Name
	case TypeRemoveHoliday:
		m["date"] = c.Holiday.Date
	case TypeAddTimeOff:
		m["user"], m["from"], m["to"], m["note"] = c.TimeOff.User.String(), c.TimeOff.From, c.TimeOff.To, c.TimeOff.Note
	case TypeRemoveTimeOff:
		m["id"], m["user"] = c.TimeOff.ID.String(), c.TimeOff.User.String()
	default:
		m["task"] = c.Task.String()
		switch f.Type {
		case TypeScheduleTask, TypeMoveTask:
			slot()
		case TypeRenameTask:
			m["text"] = c.Text
		case TypeSetPriority:
			m["priority"] = c.Priority
		case TypeAssignTask:
			m["assignee"] = c.Assignee.String()
		case TypeSetService:
			m["service"] = c.Service.String()
		}
	}
	return m
}
