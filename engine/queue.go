package engine

import (
	"sync"

	"txxt/world"
)

// queue holds the commands waiting for the engine, one queue per user (the
// Request's Actor), and hands them out round-robin: a batch takes one
// command of each user in turn, so no user's commands wait behind another
// user's backlog, and a user's share of a batch is bounded by the number
// of users waiting.
//
// Bounds: a user holds at most perUser commands; past that, that user's
// next one is refused (ErrOverloaded) and nobody else's. All users together
// hold at most total commands, except that a user holding less than a fair
// share (total over the users waiting) is still taken: a bystander is
// never refused because someone else filled the queue. So the queue never
// holds more than 2 × total.
type queue struct {
	mu      sync.Mutex
	users   map[world.ID]*userQueue
	active  []*userQueue // users with commands waiting, in round-robin order
	next    int          // index into active of the next user to take from
	length  int          // commands waiting, all users
	perUser int
	total   int
	ready   chan struct{} // holds a token while commands are waiting
	room    chan struct{} // closed (and replaced) each time commands leave the queue
}

type userQueue struct {
	user world.ID
	reqs []Request
	head int
}

func newQueue(total, perUser int) *queue {
	return &queue{
		users:   make(map[world.ID]*userQueue),
		perUser: perUser,
		total:   total,
		ready:   make(chan struct{}, 1),
		room:    make(chan struct{}),
	}
}

// put queues r unless its user's queue (or, for a user holding its fair
// share already, the whole queue) is full. When it is full, it returns a
// channel closed when commands next leave the queue.
func (q *queue) put(r Request) (ok bool, room <-chan struct{}) {
	q.mu.Lock()
	u := q.users[r.Actor]
	held := 0
	if u != nil {
		held = len(u.reqs) - u.head
	}
	full := held >= q.perUser
	if !full && q.length >= q.total {
		users := len(q.active) // the users waiting, with this one
		if held == 0 {
			users++
		}
		share := q.total / users
		full = held >= share || q.length >= 2*q.total
	}
	if full {
		room = q.room
		q.mu.Unlock()
		return false, room
	}
	q.add(u, held, r)
	return true, nil
}

// putAnyway queues r whatever the bounds: for a command another queue of
// the same bounds admitted already (a closing follower's, handed to the
// local owner, which must not refuse it for room its own sender never
// exceeded), so the queue holds at most that queue's more.
func (q *queue) putAnyway(r Request) {
	q.mu.Lock()
	u := q.users[r.Actor]
	held := 0
	if u != nil {
		held = len(u.reqs) - u.head
	}
	q.add(u, held, r)
}

// add queues r for its user, u (nil: none yet) holding held; q.mu is held,
// and add unlocks it.
func (q *queue) add(u *userQueue, held int, r Request) {
	if u == nil {
		u = &userQueue{user: r.Actor}
		q.users[r.Actor] = u
	}
	if held == 0 {
		q.active = append(q.active, u)
	}
	u.reqs = append(u.reqs, r)
	q.length++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take appends to batch up to max commands, one of each waiting user in
// turn, and says whether commands are still waiting.
func (q *queue) take(batch []pending, max int) ([]pending, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	took := 0
	for took < max && len(q.active) > 0 {
		if q.next >= len(q.active) {
			q.next = 0
		}
		u := q.active[q.next]
		batch = append(batch, pending{req: u.reqs[u.head]})
		u.reqs[u.head] = Request{}
		u.head++
		took++
		q.length--
		if u.head == len(u.reqs) {
			// Empty: forget it (an idle user costs nothing), and the next
			// user moves into its place in the round.
			delete(q.users, u.user)
			q.active = append(q.active[:q.next], q.active[q.next+1:]...)
			continue
		}
		if u.head > 64 && u.head*2 > len(u.reqs) {
			u.reqs = append(u.reqs[:0], u.reqs[u.head:]...)
			u.head = 0
		}
		q.next++
	}
	if took > 0 {
		close(q.room)
		q.room = make(chan struct{})
	}
	more := q.length > 0
	if more {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
	return batch, more
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.length
}
