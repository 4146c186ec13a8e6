// Package world is txxt's domain: tasks, services and users on a shared
// calendar grid, the commands that change them, the events those commands
// yield, and the rules that decide which commands are accepted.
//
// The world is a pure state machine. It does no IO, reads no clock and draws
// no random numbers: identifiers for new entities arrive inside the command
// (the engine draws them), so applying the same commands, or replaying the
// same events, always yields the same world. It imports nothing of txxt.
//
// A World is not safe for concurrent use. Exactly one goroutine (the engine's)
// owns it; everyone else talks to that goroutine.
package world

import (
	"encoding/hex"
	"fmt"
	"sort"
)

// ID is a 16-byte UUID. The zero ID means "none" (an unassigned task).
type ID [16]byte

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// String returns id in the canonical 8-4-4-4-12 hexadecimal form.
func (id ID) String() string {
	var b [36]byte
	return string(id.Append(b[:0]))
}

// Append appends id in its canonical form to dst, allocating nothing
// when dst has room.
func (id ID) Append(dst []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, 36)...)
	b := dst[n:]
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return dst
}

// MarshalText writes id as String does, so JSON shows ids as UUIDs.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText reads what ParseID reads.
func (id *ID) UnmarshalText(b []byte) error {
	v, ok := ParseID(string(b))
	if !ok {
		return fmt.Errorf("%q is not a UUID", b)
	}
	*id = v
	return nil
}

// ParseID parses a UUID written with or without dashes.
func ParseID(s string) (ID, bool) {
	var id ID
	clean := make([]byte, 0, 32)
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			clean = append(clean, s[i])
		}
	}
	if len(clean) != 32 {
		return id, false
	}
	if _, err := hex.Decode(id[:], clean); err != nil {
		return ID{}, false
	}
	return id, true
}

// Status is where a task stands. The values are the wire's.
type Status uint8

const (
	Staged    Status = 0 // in the staging queue, no slot
	Scheduled Status = 1 // has a slot on the grid
	Active    Status = 2 // has a slot and is being worked on
	Completed Status = 3 // done; keeps its slot
)

func (s Status) String() string {
	switch s {
	case Staged:
		return "staged"
	case Scheduled:
		return "scheduled"
	case Active:
		return "active"
	case Completed:
		return "completed"
	}
	return "invalid"
}

// Priority orders the staging queue. The values are the wire's.
type Priority uint8

const (
	Low    Priority = 0
	Medium Priority = 1
	High   Priority = 2
	Urgent Priority = 3
)

func (p Priority) String() string {
	switch p {
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	case Urgent:
		return "urgent"
	}
	return "invalid"
}

// NoDate is the date of a task that has no slot.
const NoDate uint16 = 0xFFFF

// MinutesPerDay bounds every slot: a task never crosses midnight.
const MinutesPerDay = 1440

// DefaultGrid is the time grid, in minutes, of a new world.
const DefaultGrid = 5

// Limits on text fields, in bytes of UTF-8 (the wire's field sizes).
const (
	MaxTitle = 128
	MaxName  = 64
)

// Slot is a task's place on the grid. Date counts days since 1970-01-01
// (NoDate when the task has no slot); Start and Duration count minutes.
type Slot struct {
	Date     uint16
	Start    uint16
	Duration uint16
}

// NoSlot is the slot of a staged task.
var NoSlot = Slot{Date: NoDate}

// Task is one block of work.
type Task struct {
	ID       ID
	Status   Status
	Priority Priority
	Slot     Slot
	Service  ID
	Assignee ID // zero: unassigned
	Title    string
	// Created is the revision at which the task was created; it orders the
	// staging queue among tasks of equal priority.
	Created uint64
}

// Service is who pays for the time.
type Service struct {
	ID   ID
	Name string
	// Color is 0xRRGGBB; 0 means none was chosen and the client picks one
	// from its palette.
	Color uint32
	// Archived services take no new tasks (CreateTask, CloneTask and
	// SetService into them are refused); the tasks they have stay.
	Archived bool
}

// MaxColor is the largest colour, 0xRRGGBB.
const MaxColor = 0xFFFFFF

// Schedule is the team's working week, as every page shows it.
type Schedule struct {
	WorkdayStart uint16 // minutes from midnight; WorkdayStart < WorkdayEnd
	WorkdayEnd   uint16 // minutes from midnight, at most MinutesPerDay
	FirstDay     uint8  // first day of the week: 0 Monday … 6 Sunday
	// TimeZone is an IANA name such as "Europe/Berlin". The world checks
	// only its shape (it does no IO); whoever submits CmdSetSchedule
	// checks that the zone exists.
	TimeZone string
	// WorkingDays is the team's working days, a bit a weekday: bit 0
	// Monday … bit 6 Sunday (MondayToFriday by default). A world's is
	// never 0; in CmdSetSchedule, 0 keeps the world's (a command from a
	// client that knows no working days).
	WorkingDays uint8
}

// MondayToFriday is the working days of a world that never set any.
const MondayToFriday uint8 = 0x1F

// AllWeek is every working-day bit.
const AllWeek uint8 = 0x7F

// Works reports whether weekday (0 Monday … 6 Sunday) is a working day.
func (s Schedule) Works(weekday int) bool { return s.WorkingDays&(1<<weekday) != 0 }

// WorksOn reports whether date (days since 1970-01-01) falls on a
// working day.
func (s Schedule) WorksOn(date uint16) bool { return s.Works((int(date) + 3) % 7) }

// MaxTimeZone is the longest time zone name, in bytes (the wire's field).
const MaxTimeZone = 64

// DefaultSchedule is the schedule of a new world: 08:00 to 18:00, weeks
// starting on Monday, Monday to Friday, in UTC.
func DefaultSchedule() Schedule {
	return Schedule{WorkdayStart: 480, WorkdayEnd: 1080, FirstDay: 0, TimeZone: "UTC", WorkingDays: MondayToFriday}
}

// User is a member of the team as the world sees them: someone a task can be
// assigned to. Passwords and sessions are not the world's business.
type User struct {
	ID   ID
	Name string
}

// World is the whole state of one team's calendar at one revision.
type World struct {
	rev      uint64
	grid     uint16
	schedule Schedule
	tasks    map[ID]*Task
	services map[ID]*Service
	users    map[ID]*User

	// holidays and timeOff are the team's non-working days (nonworking.go);
	// totals adds up the scheduled minutes (totals.go), kept by change.
	holidays map[uint16]string
	timeOff  map[ID]*TimeOff
	totals   Totals

	// journal records how to undo each change since Begin; nil when no
	// batch is open. See Begin, Rollback and Commit.
	journal []undo
	inBatch bool
}

// New returns an empty world at revision 0 with the default grid and
// schedule.
func New() *World {
	return &World{
		grid:     DefaultGrid,
		schedule: DefaultSchedule(),
		tasks:    make(map[ID]*Task),
		services: make(map[ID]*Service),
		users:    make(map[ID]*User),
		holidays: make(map[uint16]string),
		timeOff:  make(map[ID]*TimeOff),
		totals:   newTotals(),
	}
}

// Revision is the revision of the last accepted command (0 for a new world).
func (w *World) Revision() uint64 { return w.rev }

// Grid is the time grid in minutes: every start and duration is a multiple.
func (w *World) Grid() uint16 { return w.grid }

// Schedule is the team's working week.
func (w *World) Schedule() Schedule { return w.schedule }

// Task returns a copy of the task with the given id.
func (w *World) Task(id ID) (Task, bool) {
	t, ok := w.tasks[id]
	if !ok {
		return Task{}, false
	}
	return *t, true
}

// Service returns a copy of the service with the given id.
func (w *World) Service(id ID) (Service, bool) {
	s, ok := w.services[id]
	if !ok {
		return Service{}, false
	}
	return *s, true
}

// User returns a copy of the user with the given id.
func (w *World) User(id ID) (User, bool) {
	u, ok := w.users[id]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Counts returns how many tasks, services and users the world holds.
func (w *World) Counts() (tasks, services, users int) {
	return len(w.tasks), len(w.services), len(w.users)
}

// Tasks returns every task in creation order (oldest first).
func (w *World) Tasks() []Task {
	out := make([]Task, 0, len(w.tasks))
	for _, t := range w.tasks {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created < out[j].Created })
	return out
}

// EachTask calls fn with a copy of each task, in no set order: a reader
// of many tasks (a calendar feed) takes what it needs without the copy
// and sort of Tasks.
func (w *World) EachTask(fn func(Task)) {
	for _, t := range w.tasks {
		fn(*t)
	}
}

// Services returns every service, ordered by name then id.
func (w *World) Services() []Service {
	out := make([]Service, 0, len(w.services))
	for _, s := range w.services {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return lessID(out[i].ID, out[j].ID)
	})
	return out
}

// Users returns every user, ordered by name then id.
func (w *World) Users() []User {
	out := make([]User, 0, len(w.users))
	for _, u := range w.users {
		out = append(out, *u)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return lessID(out[i].ID, out[j].ID)
	})
	return out
}

// StagingQueue returns the Staged tasks in the order the staging panel shows
// them: by priority, Urgent first, then by creation, oldest first.
func (w *World) StagingQueue() []Task {
	var out []Task
	for _, t := range w.tasks {
		if t.Status == Staged {
			out = append(out, *t)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority > out[j].Priority
		}
		return out[i].Created < out[j].Created
	})
	return out
}

// State is a world's full content, as a snapshot carries it.
type State struct {
	Revision uint64
	Grid     uint16
	Schedule Schedule // the zero Schedule means DefaultSchedule; WorkingDays 0 means MondayToFriday
	Tasks    []Task   // in creation order
	Services []Service
	Users    []User
	Holidays []Holiday // by date
	TimeOff  []TimeOff // by user, then first day
}

// State returns the world's full content.
func (w *World) State() State {
	return State{
		Revision: w.rev,
		Grid:     w.grid,
		Schedule: w.schedule,
		Tasks:    w.Tasks(),
		Services: w.Services(),
		Users:    w.Users(),
		Holidays: w.Holidays(),
		TimeOff:  w.TimeOffs(),
	}
}

// FromState builds a world holding exactly s. It trusts s (a snapshot the
// store has checksummed) except where trusting it would break the world's
// invariants: duplicate ids, a grid that does not divide a day, a schedule
// the rules would refuse and a colour over MaxColor are refused. A zero
// Grid or Schedule means the default.
func FromState(s State) (*World, error) {
	w := New()
	w.rev = s.Revision
	if s.Grid != 0 {
		w.grid = s.Grid
	}
	if !validGrid(w.grid) {
		return nil, errorf(CodeInvalidGrid, "snapshot grid %d minutes does not divide a day", w.grid)
	}
	if s.Schedule != (Schedule{}) {
		w.schedule = s.Schedule
		if w.schedule.WorkingDays == 0 { // a state from before working days
			w.schedule.WorkingDays = MondayToFriday
		}
	}
	if err := checkSchedule(w.schedule); err != nil {
		e := err.(*Error)
		return nil, errorf(e.Code, "snapshot schedule: %s", e.Message)
	}
	for i := range s.Tasks {
		t := s.Tasks[i]
		if _, dup := w.tasks[t.ID]; dup {
			return nil, errorf(CodeDuplicateID, "snapshot holds task %s twice", t.ID)
		}
		w.tasks[t.ID] = &t
		w.totals.add(&t)
	}
	for i := range s.Services {
		sv := s.Services[i]
		if _, dup := w.services[sv.ID]; dup {
			return nil, errorf(CodeDuplicateID, "snapshot holds service %s twice", sv.ID)
		}
		if sv.Color > MaxColor {
			return nil, errorf(CodeInvalidColor, "snapshot service %s has colour %#x, over 0xFFFFFF", sv.ID, sv.Color)
		}
		w.services[sv.ID] = &sv
	}
	for i := range s.Users {
		u := s.Users[i]
		if _, dup := w.users[u.ID]; dup {
			return nil, errorf(CodeDuplicateID, "snapshot holds user %s twice", u.ID)
		}
		w.users[u.ID] = &u
	}
	if err := w.nonWorkingFromState(s); err != nil {
		return nil, err
	}
	return w, nil
}

// Equal reports whether two worlds hold the same content at the same
// revision.
func Equal(a, b *World) bool {
	if a.rev != b.rev || a.grid != b.grid || a.schedule != b.schedule ||
		len(a.tasks) != len(b.tasks) || len(a.services) != len(b.services) || len(a.users) != len(b.users) {
		return false
	}
	for id, t := range a.tasks {
		u, ok := b.tasks[id]
		if !ok || *t != *u {
			return false
		}
	}
	for id, s := range a.services {
		u, ok := b.services[id]
		if !ok || *s != *u {
			return false
		}
	}
	for id, s := range a.users {
		u, ok := b.users[id]
		if !ok || *s != *u {
			return false
		}
	}
	return equalNonWorking(a, b)
}

func lessID(a, b ID) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}
