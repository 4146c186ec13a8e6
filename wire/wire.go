// Package wire is txxt's binary codec: the original protocol ("v0") byte for
// byte, and the txxt.v1 extension negotiated with the WebSocket subprotocol
// "txxt.v1". docs/PROTOCOL.md describes every frame; the layouts are also
// written beside the type constants below.
//
// Integers are little-endian, ids 16 raw bytes, strings UTF-8 zero-padded to
// their field (a reader strips trailing zeros). The first byte of a frame is
// its type; its length is the WebSocket message's length.
//
// Encoders append to a caller's buffer and allocate nothing else. Decoders
// check structure only (lengths, type bytes, enums in server records);
// whether a command makes sense is the world's to judge. A decoder never
// allocates more than its input's size.
package wire

import (
	"encoding/binary"

	"txxt/world"
)

// Subprotocol is the WebSocket subprotocol that selects txxt.v1.
const Subprotocol = "txxt.v1"

// ProtocolVersion is the extension's version, sent in Welcome. A client
// built for another one must reload instead of reading frames it would
// misread. 2: the v1 Snapshot's trailer (service colours and archives, the
// schedule) and the events ServiceRecolored, ServiceArchived and
// ScheduleChanged, which a client of 1 refuses. 3: non-working days (the
// Snapshot's second trailer and the events 0x36–0x39). 4: the schedule's
// working days (a byte appended to the schedule record: the Snapshot's
// trailer and ScheduleChanged one byte longer).
const ProtocolVersion = 4

// Frame types. Server → client world frames (both versions):
const (
	TypeSnapshot        = 0x01 // revision u64 · task_count u32 · service_count u32 · tasks · services [v1: · user_count u32 · grid u16 · users · service_count × (color u32 · archived u8) · schedule (69)]
	TypeTaskCreated     = 0x02 // revision u64 · task record (192)
	TypeTaskScheduled   = 0x03 // revision u64 · task_id · date u16 · start u16 · duration u16
	TypeTaskMoved       = 0x04 // as TaskScheduled
	TypeTaskUnscheduled = 0x05 // revision u64 · task_id
	TypeTaskCompleted   = 0x06 // revision u64 · task_id
	TypeTaskDeleted     = 0x07 // revision u64 · task_id
)

// Server → client, v1 extension events:
const (
	TypeTaskRenamed        = 0x08 // revision u64 · task_id · title 128
	TypeTaskPrioritized    = 0x09 // revision u64 · task_id · priority u8
	TypeTaskAssigned       = 0x0A // revision u64 · task_id · user_id
	TypeTaskStarted        = 0x0B // revision u64 · task_id
	TypeTaskReopened       = 0x0C // revision u64 · task_id
	TypeServiceCreated     = 0x0D // revision u64 · service record (80)
	TypeServiceRenamed     = 0x0E // revision u64 · service record (80)
	TypeGridChanged        = 0x0F // revision u64 · grid u16
	TypeUserCreated        = 0x30 // revision u64 · user record (80)
	TypeUserRenamed        = 0x31 // revision u64 · user record (80)
	TypeTaskServiceChanged = 0x32 // revision u64 · task_id · service_id
	TypeServiceRecolored   = 0x33 // revision u64 · service_id · color u32 (0xRRGGBB; 0: none chosen)
	TypeServiceArchived    = 0x34 // revision u64 · service_id · archived u8 (0 restored, 1 archived)
	TypeScheduleChanged    = 0x35 // revision u64 · schedule: workday_start u16 · workday_end u16 · first_day u8 · time_zone 64
	TypeHolidayAdded       = 0x36 // revision u64 · date u16 · name 64
	TypeHolidayRemoved     = 0x37 // revision u64 · date u16
	TypeTimeOffAdded       = 0x38 // revision u64 · time_off_id · user_id · from u16 · to u16 · note 64
	TypeTimeOffRemoved     = 0x39 // revision u64 · time_off_id · user_id
)

// Server → client, v1 control frames:
const (
	TypeWelcome     = 0xF0 // protocol u16 · flags u16 · server_time u64 · grid u16 · role u8 · 0 · session · user · client · server_version 16 · user_name 64 · profile JSON (rest)
	TypeAck         = 0xF1 // request_id u32 · revision u64
	TypePresence    = 0xF2 // op u8 · count u16 · count × (session · user)
	TypeTelemetry   = 0xF3 // server_time u64 · window_ms u32 · count u8 · count × (stage u8 · samples u32 · p50 · p95 · p99 · max u32)
	TypeServerState = 0xF4 // state u8 · reason (rest)
	TypePong        = 0xF5 // nonce u32 · client_time u64 · server_time u64
	TypeError       = 0xFF // request_id u32 · code u16 · message (rest)
)

// Client → server. In v1 every command has a request_id u32 after the type.
const (
	TypeCreateTask     = 0x10 // priority u8 · service · assignee · date u16 · start u16 · duration u16 · title (rest)
	TypeScheduleTask   = 0x11 // task_id · date u16 · start u16 · duration u16
	TypeMoveTask       = 0x12 // as ScheduleTask
	TypeUnscheduleTask = 0x13 // task_id
	TypeCompleteTask   = 0x14 // task_id
	TypeDeleteTask     = 0x15 // task_id
	TypeCloneTask      = 0x16 // v1: source_task_id · date u16 · start u16 · duration u16
	TypeRenameTask     = 0x17 // v1: task_id · title (rest)
	TypeSetPriority    = 0x18 // v1: task_id · priority u8
	TypeAssignTask     = 0x19 // v1: task_id · user_id (zero: unassign)
	TypeStartTask      = 0x1A // v1: task_id
	TypeReopenTask     = 0x1B // v1: task_id
	TypeCreateService  = 0x1C // v1: name (rest)
	TypeRenameService  = 0x1D // v1: service_id · name (rest)
	TypeSetGrid        = 0x1E // v1: grid u16
	TypeSetService     = 0x1F // v1: task_id · service_id
	TypePing           = 0x20 // v1, no request id: nonce u32 · client_time u64
	TypeClientStats    = 0x21 // v1, no request id: rtt_p50_us u32 · rtt_p95_us u32 · fps u16
	TypeRecolorService = 0x24 // v1: service_id · color u32
	TypeArchiveService = 0x25 // v1: service_id · archived u8 (0 restore, 1 archive; anything else is BAD_FRAME)
	TypeSetSchedule    = 0x26 // v1: workday_start u16 · workday_end u16 · first_day u8 · time_zone (rest)
	TypeAddHoliday     = 0x27 // v1: date u16 · name (rest)
	TypeRemoveHoliday  = 0x28 // v1: date u16
	TypeAddTimeOff     = 0x29 // v1: user_id · from u16 · to u16 · note (rest)
	TypeRemoveTimeOff  = 0x2A // v1: time_off_id · user_id
)

// Record sizes.
const (
	TaskRecordSize    = 192
	ServiceRecordSize = 80
	UserRecordSize    = 80
	titleSize         = 128
	nameSize          = 64
	timeZoneSize      = 64
	scheduleSize      = 6 + timeZoneSize // workday_start u16 · workday_end u16 · first_day u8 · time_zone 64 · working_days u8
	oldScheduleSize   = 5 + timeZoneSize // before protocol 4: no working_days (Monday to Friday)
	serviceStateSize  = 5                // the v1 snapshot's trailer, per service: color u32 · archived u8
	holidaySize       = 2 + nameSize     // date u16 · name 64
	timeOffSize       = 36 + nameSize    // id · user · from u16 · to u16 · note 64
	versionSize       = 16
	snapshotHeader    = 17
	welcomeHeader     = 145
)

var le = binary.LittleEndian

func badFrame(msg string) error {
	return &world.Error{Code: world.CodeBadFrame, Message: msg}
}

func unknownType(t byte) error {
	return &world.Error{Code: world.CodeUnknownType, Message: "unknown frame type 0x" + hex2(t)}
}

func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

// appendPadded appends s cut or zero-padded to exactly n bytes.
func appendPadded(dst []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	dst = append(dst, s...)
	for range n - len(s) {
		dst = append(dst, 0)
	}
	return dst
}

// trimZeros returns b without its trailing zero bytes, as a string.
func trimZeros(b []byte) string {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return string(b[:n])
}

func appendU16(dst []byte, v uint16) []byte { return le.AppendUint16(dst, v) }
func appendU32(dst []byte, v uint32) []byte { return le.AppendUint32(dst, v) }
func appendU64(dst []byte, v uint64) []byte { return le.AppendUint64(dst, v) }

func readID(b []byte) (id world.ID) {
	copy(id[:], b)
	return id
}

// appendTask appends a 192-byte task record; v1 puts the created revision
// in the reserved bytes 184-191, v0 leaves them zero.
func appendTask(dst []byte, t *world.Task, v1 bool) []byte {
	dst = append(dst, t.ID[:]...)
	dst = append(dst, byte(t.Status), byte(t.Priority))
	slot := t.Slot
	if t.Status == world.Staged {
		slot = world.Slot{Date: world.NoDate}
	}
	dst = appendU16(dst, slot.Date)
	dst = appendU16(dst, slot.Start)
	dst = appendU16(dst, slot.Duration)
	dst = append(dst, t.Service[:]...)
	dst = append(dst, t.Assignee[:]...)
	dst = appendPadded(dst, t.Title, titleSize)
	var created uint64
	if v1 {
		created = t.Created
	}
	return appendU64(dst, created)
}

// readTask reads a task record; b must hold TaskRecordSize bytes.
func readTask(b []byte) (world.Task, error) {
	t := world.Task{
		ID:       readID(b[0:16]),
		Status:   world.Status(b[16]),
		Priority: world.Priority(b[17]),
		Slot:     world.Slot{Date: le.Uint16(b[18:]), Start: le.Uint16(b[20:]), Duration: le.Uint16(b[22:])},
		Service:  readID(b[24:40]),
		Assignee: readID(b[40:56]),
		Title:    trimZeros(b[56:184]),
		Created:  le.Uint64(b[184:]),
	}
	if t.Status > world.Completed {
		return t, badFrame("task status byte over 3")
	}
	if t.Priority > world.Urgent {
		return t, badFrame("task priority byte over 3")
	}
	return t, nil
}

func appendNamed(dst []byte, id world.ID, name string) []byte {
	dst = append(dst, id[:]...)
	return appendPadded(dst, name, nameSize)
}

func readNamed(b []byte) (world.ID, string) {
	return readID(b[:16]), trimZeros(b[16:80])
}

// appendSchedule appends a 70-byte schedule: workday_start u16 ·
// workday_end u16 · first_day u8 · time_zone 64, zero-padded ·
// working_days u8 (bit 0 Monday … bit 6 Sunday; 0 is written as Monday
// to Friday, which a world's never is).
func appendSchedule(dst []byte, s *world.Schedule) []byte {
	dst = appendU16(dst, s.WorkdayStart)
	dst = appendU16(dst, s.WorkdayEnd)
	dst = append(dst, s.FirstDay)
	dst = appendPadded(dst, s.TimeZone, timeZoneSize)
	days := s.WorkingDays
	if days == 0 {
		days = world.MondayToFriday
	}
	return append(dst, days)
}

// readSchedule reads a schedule of scheduleSize bytes, or of
// oldScheduleSize (written before working days: Monday to Friday).
func readSchedule(b []byte) world.Schedule {
	s := world.Schedule{WorkdayStart: le.Uint16(b), WorkdayEnd: le.Uint16(b[2:]), FirstDay: b[4], TimeZone: trimZeros(b[5:oldScheduleSize]), WorkingDays: world.MondayToFriday}
	if len(b) >= scheduleSize {
		s.WorkingDays = b[oldScheduleSize]
	}
	return s
}

// readFlag reads a boolean byte: 0 or 1, anything else is a bad frame.
func readFlag(b byte, what string) (bool, error) {
	switch b {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, badFrame(what + " byte is not 0 or 1")
}

func flag(v bool) byte {
	if v {
		return 1
	}
	return 0
}
