package wire

import "txxt/world"

// The non-working days' frames (protocol 3): commands 0x27–0x2A, events
// 0x36–0x39, and the Snapshot's second trailer, which follows the
// schedule only when the team has a holiday or a time off (so a snapshot
// without any is byte for byte what protocol 2 wrote):
//
//	holiday_count u32 · time_off_count u32 ·
//	holiday_count × (date u16 · name 64) ·
//	time_off_count × (time_off_id · user_id · from u16 · to u16 · note 64)

// nonWorkingSize is the length of st's second trailer: 0 without any.
func nonWorkingSize(st *world.State) int {
	if len(st.Holidays) == 0 && len(st.TimeOff) == 0 {
		return 0
	}
	return 8 + holidaySize*len(st.Holidays) + timeOffSize*len(st.TimeOff)
}

func appendNonWorking(dst []byte, st *world.State) []byte {
	if nonWorkingSize(st) == 0 {
		return dst
	}
	dst = appendU32(dst, uint32(len(st.Holidays)))
	dst = appendU32(dst, uint32(len(st.TimeOff)))
	for _, h := range st.Holidays {
		dst = appendU16(dst, h.Date)
		dst = appendPadded(dst, h.Name, nameSize)
	}
	for i := range st.TimeOff {
		dst = appendTimeOff(dst, &st.TimeOff[i])
	}
	return dst
}

func appendTimeOff(dst []byte, t *world.TimeOff) []byte {
	dst = append(dst, t.ID[:]...)
	dst = append(dst, t.User[:]...)
	dst = appendU16(dst, t.From)
	dst = appendU16(dst, t.To)
	return appendPadded(dst, t.Note, nameSize)
}

func readTimeOff(b []byte) world.TimeOff {
	return world.TimeOff{ID: readID(b[:16]), User: readID(b[16:32]), From: le.Uint16(b[32:]), To: le.Uint16(b[34:]), Note: trimZeros(b[36:timeOffSize])}
}

// readNonWorking reads the second trailer (b is everything after the
// schedule): empty, or exactly what its counts say.
func readNonWorking(b []byte, st *world.State) error {
	if len(b) == 0 {
		return nil
	}
	if len(b) < 8 {
		return badFrame("snapshot non-working days shorter than their 8-byte counts")
	}
	nh, nt := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:]))
	if nh == 0 && nt == 0 {
		// Written only when it holds something: one layout per world.
		return badFrame("snapshot non-working days trailer holds nothing: it is left out then")
	}
	if uint64(len(b)-8) != nh*holidaySize+nt*timeOffSize {
		return badFrame("snapshot non-working days do not match their counts")
	}
	b = b[8:]
	if nh > 0 {
		st.Holidays = make([]world.Holiday, nh)
	}
	for i := range st.Holidays {
		st.Holidays[i] = world.Holiday{Date: le.Uint16(b), Name: trimZeros(b[2:holidaySize])}
		b = b[holidaySize:]
	}
	if nt > 0 {
		st.TimeOff = make([]world.TimeOff, nt)
	}
	for i := range st.TimeOff {
		st.TimeOff[i] = readTimeOff(b)
		b = b[timeOffSize:]
	}
	return nil
}

// decodeNonWorking reads a command's body (after type and request id),
// whose length DecodeCommand has checked.
func decodeNonWorking(t byte, b []byte, c *world.Command) {
	switch t {
	case TypeAddHoliday:
		c.Holiday = world.Holiday{Date: le.Uint16(b), Name: trimZeros(b[2:])}
	case TypeRemoveHoliday:
		c.Holiday.Date = le.Uint16(b)
	case TypeAddTimeOff:
		c.TimeOff = world.TimeOff{User: readID(b[:16]), From: le.Uint16(b[16:]), To: le.Uint16(b[18:]), Note: trimZeros(b[20:])}
	case TypeRemoveTimeOff:
		c.TimeOff = world.TimeOff{ID: readID(b[:16]), User: readID(b[16:32])}
	}
}

func appendNonWorkingCommand(dst []byte, t byte, c *world.Command) []byte {
	switch t {
	case TypeAddHoliday:
		dst = appendU16(dst, c.Holiday.Date)
		return append(dst, c.Holiday.Name...)
	case TypeRemoveHoliday:
		return appendU16(dst, c.Holiday.Date)
	case TypeAddTimeOff:
		dst = append(dst, c.TimeOff.User[:]...)
		dst = appendU16(dst, c.TimeOff.From)
		dst = appendU16(dst, c.TimeOff.To)
		return append(dst, c.TimeOff.Note...)
	}
	dst = append(dst, c.TimeOff.ID[:]...)
	return append(dst, c.TimeOff.User[:]...)
}

func appendNonWorkingEvent(dst []byte, ev *world.Event) []byte {
	switch ev.Kind {
	case world.EvHolidayAdded:
		dst = appendU16(dst, ev.Holiday.Date)
		return appendPadded(dst, ev.Holiday.Name, nameSize)
	case world.EvHolidayRemoved:
		return appendU16(dst, ev.Holiday.Date)
	case world.EvTimeOffAdded:
		return appendTimeOff(dst, &ev.TimeOff)
	}
	dst = append(dst, ev.TimeOff.ID[:]...)
	return append(dst, ev.TimeOff.User[:]...)
}

func decodeNonWorkingEvent(b []byte, ev *world.Event) {
	switch ev.Kind {
	case world.EvHolidayAdded:
		ev.Holiday = world.Holiday{Date: le.Uint16(b), Name: trimZeros(b[2:holidaySize])}
	case world.EvHolidayRemoved:
		ev.Holiday.Date = le.Uint16(b)
	case world.EvTimeOffAdded:
		ev.TimeOff = readTimeOff(b)
	case world.EvTimeOffRemoved:
		ev.TimeOff = world.TimeOff{ID: readID(b[:16]), User: readID(b[16:32])}
	}
}
