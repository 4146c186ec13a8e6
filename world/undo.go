package world

// The journal lets the engine apply a batch of commands optimistically and
// take all of them back if the batch cannot be made durable. Between Begin
// and Commit (or Rollback) every change records the value it replaced; the
// journal's memory is kept between batches so a steady state allocates
// nothing.

type undoKind uint8

const (
	undoRev undoKind = iota
	undoTask
	undoService
	undoUser
	undoGrid
	undoSchedule
	undoHoliday
	undoTimeOff
)

type undo struct {
	kind     undoKind
	existed  bool // the entity existed before the change
	id       ID
	rev      uint64
	grid     uint16
	schedule Schedule
	task     Task
	service  Service
	user     User
	date     uint16  // undoHoliday
	name     string  // undoHoliday
	timeOff  TimeOff // undoTimeOff
}

// Begin opens a batch: changes from now on can be taken back by Rollback.
// Begin on an open batch keeps the batch open and its journal.
func (w *World) Begin() {
	if !w.inBatch {
		w.inBatch = true
		w.journal = w.journal[:0]
	}
}

// Commit closes the batch: its changes are final.
func (w *World) Commit() {
	w.inBatch = false
	clear(w.journal) // drop references to old titles and time zones
	w.journal = w.journal[:0]
}

// Rollback takes back every change since Begin, newest first, and closes
// the batch. The world is then exactly as it was at Begin.
func (w *World) Rollback() {
	for i := len(w.journal) - 1; i >= 0; i-- {
		u := &w.journal[i]
		switch u.kind {
		case undoRev:
			w.rev = u.rev
		case undoGrid:
			w.grid = u.grid
		case undoSchedule:
			w.schedule = u.schedule
		case undoTask:
			w.totals.sub(w.tasks[u.id])
			if u.existed {
				t := u.task
				w.tasks[u.id] = &t
				w.totals.add(&t)
			} else {
				delete(w.tasks, u.id)
			}
		case undoHoliday, undoTimeOff:
			w.undoNonWorking(u)
		case undoService:
			if u.existed {
				s := u.service
				w.services[u.id] = &s
			} else {
				delete(w.services, u.id)
			}
		case undoUser:
			if u.existed {
				us := u.user
				w.users[u.id] = &us
			} else {
				delete(w.users, u.id)
			}
		}
	}
	w.Commit()
}

func (w *World) note(u undo) {
	if w.inBatch {
		w.journal = append(w.journal, u)
	}
}
