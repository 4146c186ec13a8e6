package wire

import "txxt/world"

// ClientFrame is one decoded client frame. Command is set for command types,
// Ping for TypePing, Stats for TypeClientStats. Request is the v1 request id
// (0 in v0), set even when decoding failed after reading it, so that the
// Error can name it.
type ClientFrame struct {
	Type    byte
	Request uint32
	Command world.Command
	Ping    Ping
	Stats   ClientStats
}

// Ping asks for a Pong, to measure the round trip.
type Ping struct {
	Nonce      uint32
	ClientTime uint64 // unix ms, echoed
}

// ClientStats is what a client measured, reported for the server's figures.
type ClientStats struct {
	RTTp50, RTTp95 uint32 // microseconds
	FPS            uint16
}

// commandKinds maps a client frame type to its command; 0 for control and
// unknown types.
var commandKinds = [256]world.CommandKind{
	TypeCreateTask: world.CmdCreateTask, TypeScheduleTask: world.CmdScheduleTask,
	TypeMoveTask: world.CmdMoveTask, TypeUnscheduleTask: world.CmdUnscheduleTask,
	TypeCompleteTask: world.CmdCompleteTask, TypeDeleteTask: world.CmdDeleteTask,
	TypeCloneTask: world.CmdCloneTask, TypeRenameTask: world.CmdRenameTask,
	TypeSetPriority: world.CmdSetPriority, TypeAssignTask: world.CmdAssignTask,
	TypeStartTask: world.CmdStartTask, TypeReopenTask: world.CmdReopenTask,
	TypeCreateService: world.CmdCreateService, TypeRenameService: world.CmdRenameService,
	TypeSetGrid: world.CmdSetGrid, TypeSetService: world.CmdSetService,
	TypeRecolorService: world.CmdRecolorService, TypeArchiveService: world.CmdArchiveService,
	TypeSetSchedule: world.CmdSetSchedule,
	TypeAddHoliday:  world.CmdAddHoliday, TypeRemoveHoliday: world.CmdRemoveHoliday,
	TypeAddTimeOff: world.CmdAddTimeOff, TypeRemoveTimeOff: world.CmdRemoveTimeOff,
}

var commandTypes = func() (m [256]byte) {
	for t, k := range commandKinds {
		if k != 0 {
			m[k] = byte(t)
		}
	}
	return m
}()

// bodySizes is each command body's length after the type (and request id):
// exact, or the minimum for the frames that end with text (textFrames).
var bodySizes = [256]int{
	TypeCreateTask: 39, TypeScheduleTask: 22, TypeMoveTask: 22,
	TypeUnscheduleTask: 16, TypeCompleteTask: 16, TypeDeleteTask: 16,
	TypeCloneTask: 22, TypeRenameTask: 16, TypeSetPriority: 17, TypeAssignTask: 32,
	TypeStartTask: 16, TypeReopenTask: 16, TypeCreateService: 0, TypeRenameService: 16,
	TypeSetGrid: 2, TypeSetService: 32,
	TypeRecolorService: 20, TypeArchiveService: 17, TypeSetSchedule: 5,
	TypeAddHoliday: 2, TypeRemoveHoliday: 2, TypeAddTimeOff: 20, TypeRemoveTimeOff: 32,
}

var textFrames = [256]bool{TypeCreateTask: true, TypeRenameTask: true, TypeCreateService: true, TypeRenameService: true,
	TypeSetSchedule: true, TypeAddHoliday: true, TypeAddTimeOff: true}

// v0Types are the commands of the original protocol.
func v0Type(t byte) bool { return t >= TypeCreateTask && t <= TypeDeleteTask }

// DecodeCommand decodes a client frame of the given protocol version.
// Errors are *world.Error: BAD_FRAME for a wrong length, UNKNOWN_TYPE for a
// type this version does not have.
func DecodeCommand(frame []byte, v1 bool) (ClientFrame, error) {
	var f ClientFrame
	if len(frame) == 0 {
		return f, badFrame("empty frame")
	}
	f.Type = frame[0]
	switch {
	case v1 && f.Type == TypePing:
		if len(frame) != 13 {
			return f, badFrame("Ping is 13 bytes")
		}
		f.Ping = Ping{Nonce: le.Uint32(frame[1:]), ClientTime: le.Uint64(frame[5:])}
		return f, nil
	case v1 && f.Type == TypeClientStats:
		if len(frame) != 11 {
			return f, badFrame("ClientStats is 11 bytes")
		}
		f.Stats = ClientStats{RTTp50: le.Uint32(frame[1:]), RTTp95: le.Uint32(frame[5:]), FPS: le.Uint16(frame[9:])}
		return f, nil
	}
	kind := commandKinds[f.Type]
	if kind == 0 || (!v1 && !v0Type(f.Type)) {
		if v1 && len(frame) >= 5 {
			// Every v1 command starts type · request id: report it, so
			// the client can tell which of its frames was refused.
			f.Request = le.Uint32(frame[1:])
		}
		return f, unknownType(f.Type)
	}
	b := frame[1:]
	if v1 {
		if len(b) < 4 {
			return f, badFrame(kind.String() + " frame too short for its request id")
		}
		f.Request = le.Uint32(b)
		b = b[4:]
	}
	if size := bodySizes[f.Type]; len(b) < size || (!textFrames[f.Type] && len(b) != size) {
		return f, badFrame(kind.String() + " frame has the wrong length")
	}
	c := &f.Command
	c.Kind = kind
	switch f.Type {
	case TypeCreateTask:
		c.Priority = world.Priority(b[0])
		c.Service = readID(b[1:17])
		c.Assignee = readID(b[17:33])
		c.Slot = world.Slot{Date: le.Uint16(b[33:]), Start: le.Uint16(b[35:]), Duration: le.Uint16(b[37:])}
		c.Text = trimZeros(b[39:])
	case TypeCloneTask:
		c.Source = readID(b[:16])
		c.Slot = world.Slot{Date: le.Uint16(b[16:]), Start: le.Uint16(b[18:]), Duration: le.Uint16(b[20:])}
	case TypeCreateService:
		c.Text = trimZeros(b)
	case TypeRenameService:
		c.Service = readID(b[:16])
		c.Text = trimZeros(b[16:])
	case TypeSetGrid:
		c.Grid = le.Uint16(b)
	case TypeRecolorService:
		c.Service = readID(b[:16])
		c.Color = le.Uint32(b[16:])
	case TypeArchiveService:
		c.Service = readID(b[:16])
		var err error
		if c.Archived, err = readFlag(b[16], "ArchiveService archived"); err != nil {
			f.Command = world.Command{}
			return f, err
		}
	case TypeSetSchedule:
		// time_zone is the rest, unless the rest ends with a NUL and a
		// non-zero byte: then that byte is working_days (protocol 4). No
		// valid frame of before reads otherwise: a zone holds no NUL.
		zone, days := b[5:], byte(0)
		if n := len(zone); n >= 2 && zone[n-1] != 0 && zone[n-2] == 0 {
			zone, days = zone[:n-2], zone[n-1]
		}
		c.Schedule = world.Schedule{WorkdayStart: le.Uint16(b), WorkdayEnd: le.Uint16(b[2:]), FirstDay: b[4], TimeZone: trimZeros(zone), WorkingDays: days}
	case TypeAddHoliday, TypeRemoveHoliday, TypeAddTimeOff, TypeRemoveTimeOff:
		decodeNonWorking(f.Type, b, c)
	default:
		c.Task = readID(b[:16])
		switch f.Type {
		case TypeScheduleTask, TypeMoveTask:
			c.Slot = world.Slot{Date: le.Uint16(b[16:]), Start: le.Uint16(b[18:]), Duration: le.Uint16(b[20:])}
		case TypeRenameTask:
			c.Text = trimZeros(b[16:])
		case TypeSetPriority:
			c.Priority = world.Priority(b[16])
		case TypeAssignTask:
			c.Assignee = readID(b[16:])
		case TypeSetService:
			c.Service = readID(b[16:])
		}
	}
	return f, nil
}

// AppendCommand appends c as a client frame of the given version (request
// is written only in v1). Commands without a
// client frame (user management) panic: they come from the server's tools.
func AppendCommand(dst []byte, v1 bool, request uint32, c *world.Command) []byte {
	t := commandTypes[c.Kind]
	if t == 0 {
		panic("wire: no client frame for " + c.Kind.String())
	}
	dst = append(dst, t)
	if v1 {
		dst = appendU32(dst, request)
	}
	switch t {
	case TypeCreateTask:
		dst = append(dst, byte(c.Priority))
		dst = append(dst, c.Service[:]...)
		dst = append(dst, c.Assignee[:]...)
		dst = appendSlot(dst, c.Slot)
		return append(dst, c.Text...)
	case TypeCloneTask:
		dst = append(dst, c.Source[:]...)
		return appendSlot(dst, c.Slot)
	case TypeCreateService:
		return append(dst, c.Text...)
	case TypeRenameService:
		dst = append(dst, c.Service[:]...)
		return append(dst, c.Text...)
	case TypeSetGrid:
		return appendU16(dst, c.Grid)
	case TypeRecolorService:
		dst = append(dst, c.Service[:]...)
		return appendU32(dst, c.Color)
	case TypeArchiveService:
		dst = append(dst, c.Service[:]...)
		return append(dst, flag(c.Archived))
	case TypeSetSchedule:
		dst = appendU16(dst, c.Schedule.WorkdayStart)
		dst = appendU16(dst, c.Schedule.WorkdayEnd)
		dst = append(dst, c.Schedule.FirstDay)
		dst = append(dst, c.Schedule.TimeZone...)
		if c.Schedule.WorkingDays != 0 {
			dst = append(dst, 0, c.Schedule.WorkingDays)
		}
		return dst
	case TypeAddHoliday, TypeRemoveHoliday, TypeAddTimeOff, TypeRemoveTimeOff:
		return appendNonWorkingCommand(dst, t, c)
	}
	dst = append(dst, c.Task[:]...)
	switch t {
	case TypeScheduleTask, TypeMoveTask:
		return appendSlot(dst, c.Slot)
	case TypeRenameTask:
		return append(dst, c.Text...)
	case TypeSetPriority:
		return append(dst, byte(c.Priority))
	case TypeAssignTask:
		return append(dst, c.Assignee[:]...)
	case TypeSetService:
		return append(dst, c.Service[:]...)
	}
	return dst
}

func appendSlot(dst []byte, s world.Slot) []byte {
	dst = appendU16(dst, s.Date)
	dst = appendU16(dst, s.Start)
	return appendU16(dst, s.Duration)
}

// AppendPing appends a Ping frame.
func AppendPing(dst []byte, p *Ping) []byte {
	dst = append(dst, TypePing)
	dst = appendU32(dst, p.Nonce)
	return appendU64(dst, p.ClientTime)
}

// AppendClientStats appends a ClientStats frame.
func AppendClientStats(dst []byte, s *ClientStats) []byte {
	dst = append(dst, TypeClientStats)
	dst = appendU32(dst, s.RTTp50)
	dst = appendU32(dst, s.RTTp95)
	return appendU16(dst, s.FPS)
}
