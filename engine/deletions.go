package engine

import (
	"fmt"
	"time"

	"txxt/world"
)

// deletions remembers the tasks deleted most recently, so that a command
// naming one is refused with who deleted it and when ("'Deploy backup' was
// deleted by ann 2 minutes ago.") rather than "that task does not exist":
// the world forgets a deleted task at once.
//
// It lives in memory only (a restart forgets it, and the refusal falls
// back to the world's words) and is bounded: a ring of Options.Deletions
// entries (default 4096), the oldest forgotten first. An entry holds a
// title of at most world.MaxTitle bytes and a name of at most
// world.MaxName, so the default costs at most about 1 MiB per engine.
//
// Owned by the engine goroutine.
type deletions struct {
	ring []deletion // grows to max as entries come, then the oldest is at next
	max  int
	next int                 // where the next entry goes
	byID map[world.ID]uint64 // task → seq of its newest entry
	seq  uint64              // entries ever added
}

type deletion struct {
	task  world.ID
	title string
	by    world.ID // who deleted it
	name  string   // their name, from the world's users ("" when unknown)
	at    time.Time
	seq   uint64
}

// newDeletions remembers up to n; its ring and map grow as deletions come,
// so a team that deletes nothing holds none.
func newDeletions(n int) *deletions {
	return &deletions{max: n, byID: map[world.ID]uint64{}}
}

// add remembers d, forgetting the oldest entry when the ring is full.
func (r *deletions) add(d deletion) {
	r.seq++
	d.seq = r.seq
	if len(r.ring) < r.max {
		r.ring = append(r.ring, d) // at next, which is len(r.ring) until full
	} else {
		if old := r.ring[r.next]; r.byID[old.task] == old.seq {
			delete(r.byID, old.task)
		}
		r.ring[r.next] = d
	}
	r.byID[d.task] = d.seq
	r.next = (r.next + 1) % r.max
}

// get returns the newest deletion of task, if it is still remembered.
func (r *deletions) get(task world.ID) (deletion, bool) {
	seq, ok := r.byID[task]
	if !ok {
		return deletion{}, false
	}
	return r.ring[(seq-1)%uint64(r.max)], true
}

// refusal is the words of a command that named d's task after it was
// deleted, for the person asker, at now.
func (d deletion) refusal(asker world.ID, now time.Time) string {
	title := "That task"
	if d.title != "" {
		title = "'" + d.title + "'"
	}
	ago := since(now.Sub(d.at))
	switch {
	case !asker.IsZero() && asker == d.by:
		return fmt.Sprintf("You deleted %s %s.", lowerThat(title), ago)
	case d.name != "":
		return fmt.Sprintf("%s was deleted by %s %s.", title, d.name, ago)
	}
	return fmt.Sprintf("%s was deleted %s.", title, ago)
}

func lowerThat(title string) string {
	if title == "That task" {
		return "that task"
	}
	return title
}

// since writes how long ago something happened: "a moment ago" under a
// minute, then minutes, hours and days.
func since(d time.Duration) string {
	n, unit := 0, ""
	switch {
	case d < time.Minute:
		return "a moment ago"
	case d < time.Hour:
		n, unit = int(d/time.Minute), "minute"
	case d < 24*time.Hour:
		n, unit = int(d/time.Hour), "hour"
	default:
		n, unit = int(d/(24*time.Hour)), "day"
	}
	if n == 1 {
		return "1 " + unit + " ago"
	}
	return fmt.Sprintf("%d %ss ago", n, unit)
}
