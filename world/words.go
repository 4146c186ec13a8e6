package world

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The words of a refusal. A refusal is read by a person (programs act on
// its code): it names the task by its title, says what to do, and never
// shows a command's name, an id or a number the person never typed. Times
// are written as 09:30, lengths as "1 hour 30
// minutes".

// taskName is how a refusal names a task: its title in quotes, or "this
// task" for a task without one.
func taskName(title string) string {
	if strings.TrimSpace(title) == "" {
		return "this task"
	}
	return "'" + title + "'"
}

// upper gives s a capital first letter, for a task's name at the start of
// a sentence ("This task …"). A quoted title is left as it is.
func upper(s string) string {
	if c := s[0]; c >= 'a' && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}

// clock writes minutes from midnight as "08:30" (24:00 for midnight at
// the end of a day).
func clock(m uint16) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// length writes minutes as "45 minutes", "1 hour" or "2 hours 30 minutes".
func length(m uint32) string {
	plural := func(n uint32, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch h, rest := m/60, m%60; {
	case h == 0:
		return plural(rest, "minute")
	case rest == 0:
		return plural(h, "hour")
	default:
		return plural(h, "hour") + " " + plural(rest, "minute")
	}
}

// bytesNote says why a text counts more bytes than it shows letters, when
// it does: "(é counts as 2)".
func bytesNote(s string) string {
	for _, r := range s {
		if n := utf8.RuneLen(r); n > 1 {
			return fmt.Sprintf(" (%c counts as %d)", r, n)
		}
	}
	return ""
}

// transition says why a task in status st refuses kind, and what to do
// instead.
func transition(title string, kind CommandKind, st Status) string {
	n := taskName(title)
	N := upper(n)
	act := map[CommandKind]string{
		CmdScheduleTask:   "schedule it",
		CmdMoveTask:       "move it",
		CmdUnscheduleTask: "take it off the calendar",
		CmdCompleteTask:   "mark it done",
		CmdStartTask:      "start it",
	}[kind]
	switch {
	case kind == CmdReopenTask:
		return N + " is not done: there is nothing to reopen."
	case kind == CmdCompleteTask && st == Completed:
		return N + " is done already."
	case kind == CmdStartTask && st == Active:
		return N + " is started already."
	case st == Completed:
		return N + " is done already: reopen it before you " + act + "."
	case kind == CmdScheduleTask:
		return N + " is on the calendar already: drag it to move it."
	case kind == CmdUnscheduleTask && st == Staged:
		return N + " is not on the calendar: there is nothing to take off."
	case st == Staged:
		return N + " is not on the calendar yet: schedule it before you " + act + "."
	}
	return fmt.Sprintf("%s cannot be changed that way while it is %s.", N, st)
}
