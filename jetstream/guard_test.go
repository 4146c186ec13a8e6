package jetstream

import (
	"context"
	"errors"
	"testing"
	"time"

	"txxt/worldlog"
)

// unanswered is a log whose next append fails as a publish does whose
// acknowledgement is lost (a timeout): stored first when store is set.
type unanswered struct {
	*worldlog.Memory
	store bool
	fail  bool
}

func (u *unanswered) Append(ctx context.Context, recs []worldlog.Record) error {
	if !u.fail {
		return u.Memory.Append(ctx, recs)
	}
	u.fail = false
	if u.store {
		if err := u.Memory.Append(ctx, recs); err != nil {
			return err
		}
	}
	return context.DeadlineExceeded
}

// An append whose answer was lost, and which the log holds after all
// (seen when a NATS stream's leader was killed under a write: the engine
// rolled the batch back, found the head past it and stepped down): the
// head that shows it ends the lease, so that the world is opened again
// from the log rather than held by a node none of whose engines serves
// it. One that did not land leaves the lease as it was.
func TestGuardEndsLeaseWhenUnclearAppendLanded(t *testing.T) {
	const ttl = time.Second
	url := ownNATS(t, ttl)
	_, js := ownConnect(t, []string{url})
	ls := openLeases(t, js)
	ctx := context.Background()
	for _, tc := range []struct {
		name, world string
		stored      bool
		head        uint64
	}{
		{"not stored: the lease holds", "team-a", false, 1},
		{"stored: the lease ends", "team-b", true, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := acquire(t, ls, tc.world, "node-a")
			if err != nil {
				t.Fatal(err)
			}
			inner := &unanswered{Memory: worldlog.NewMemory()}
			log := l.Guard(inner)
			if err := log.Append(ctx, []worldlog.Record{{Revision: 1}}); err != nil {
				t.Fatal(err)
			}
			inner.fail, inner.store = true, tc.stored
			if err := log.Append(ctx, []worldlog.Record{{Revision: 2}, {Revision: 3}}); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the unanswered append: %v", err)
			}
			head, err := log.Head(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head != tc.head {
				t.Fatalf("head %d, want %d", head, tc.head)
			}
			if !tc.stored {
				// Renewed past its TTL: the lease still holds, and the
				// engine writes on.
				time.Sleep(2 * ttl)
				if !l.Valid() {
					t.Fatalf("the lease ended after an append that did not land: %v", l.Err())
				}
				if err := log.Append(ctx, []worldlog.Record{{Revision: 2}}); err != nil {
					t.Fatalf("the next append: %v", err)
				}
				return
			}
			select {
			case <-l.Lost():
			case <-time.After(10 * time.Second):
				t.Fatal("waited 10 s for the lease to end after the head showed the unanswered append landed")
			}
			if err := l.Err(); !errors.Is(err, ErrLeaseLost) {
				t.Fatalf("the lease ended with %v, want ErrLeaseLost", err)
			}
			// Its key is deleted, so the next owner need not wait for it
			// to expire.
			eventually(t, 10*time.Second, "the ended lease's key to be deleted", func() bool {
				holder, err := ls.Holder(ctx, l.World())
				return err == nil && holder == ""
			})
			if err := log.Append(ctx, []worldlog.Record{{Revision: 4}}); !errors.Is(err, worldlog.ErrFenced) {
				t.Fatalf("a write after the lease ended: %v, want ErrFenced", err)
			}
		})
	}
}
