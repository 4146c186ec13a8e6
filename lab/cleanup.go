package lab

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"txxt/world"
)

// Cleanup is what became of a run's tasks.
type Cleanup struct {
	Service string `json:"service"` // the run's own service, by name
	Kept    bool   `json:"kept"`    // Config.Keep: nothing was deleted
	Tasks   int    `json:"tasks"`   // the tasks kept, or else deleted
}

const (
	// cleanupRounds bounds how often tidy looks again for tasks of the run
	// after deleting what it found.
	cleanupRounds = 5
	// cleanupWorkers bounds the connections tidy deletes over: the server
	// limits each connection's commands a second (200 by default), so a
	// big run's tasks go faster over a few. A worker is worth its
	// connection from cleanupPerWorker tasks.
	cleanupWorkers   = 8
	cleanupPerWorker = 400
	// cleanupBackoff is the pause before a delete refused for the
	// connection's rate, or a full queue, is sent again.
	cleanupBackoff = 100 * time.Millisecond
)

// tidy ends a run. Unless Keep, it deletes the run's tasks: those the
// server said the run created, and whatever else the run's service holds
// (a command whose answer was lost, as when the run is interrupted, still
// created its task). It works on connections of its own, within
// CleanupTimeout, also when ctx is done, and goes round until a fresh
// snapshot shows no task of the run, so it never reports success with one
// left on the server.
//
// The service itself stays, with no task in it, archived: it takes no new
// task and the team's pages offer it no more.
func (r *run) tidy(ctx context.Context) (Cleanup, error) {
	cl := Cleanup{Service: r.name, Kept: r.cfg.Keep}
	if r.cfg.Keep {
		r.mu.Lock()
		cl.Tasks = len(r.tasks)
		r.mu.Unlock()
		return cl, nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.CleanupTimeout)
	defer cancel()
	for round := 1; ; round++ {
		c, err := dial(ctx, r.t, "", nil)
		if err != nil {
			return cl, r.left(-1, err)
		}
		left := r.leftovers(c.snapshot)
		switch {
		case len(left) == 0:
			_, _, err := c.do(ctx, world.Command{Kind: world.CmdArchiveService, Service: r.service, Archived: true})
			c.close()
			if err != nil {
				return cl, fmt.Errorf("archive the run's service %q (its tasks are deleted): %w", r.name, err)
			}
			return cl, nil
		case round > cleanupRounds:
			c.close()
			return cl, r.left(len(left), fmt.Errorf("tasks keep appearing in it after %d rounds of deleting", cleanupRounds))
		case round == 1 && r.cfg.Progress != nil:
			fmt.Fprintf(r.cfg.Progress, "deleting the run's %d tasks from service %q (at most %s)\n", len(left), r.name, r.cfg.CleanupTimeout)
		}
		n, err := r.deleteAll(ctx, c, left)
		c.close()
		cl.Tasks += n
		if err != nil {
			return cl, r.left(len(left)-n, err)
		}
	}
}

// leftovers returns the tasks of snap that are the run's.
func (r *run) leftovers(snap *world.State) []world.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []world.ID
	for _, t := range snap.Tasks {
		if t.Service == r.service || r.tasks[t.ID] {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// deleteAll deletes ids over first and, for many, a few more connections,
// and returns how many it deleted. A task already gone is not an error.
func (r *run) deleteAll(ctx context.Context, first *client, ids []world.ID) (int, error) {
	workers := min(cleanupWorkers, (len(ids)+cleanupPerWorker-1)/cleanupPerWorker)
	var next, deleted atomic.Int64
	err := r.each(ctx, workers, func(ctx context.Context, i int) error {
		c := first
		if i > 0 {
			var err error
			if c, err = dial(ctx, r.t, "", nil); err != nil {
				return err
			}
			defer c.close()
		}
		for {
			n := next.Add(1) - 1
			if n >= int64(len(ids)) {
				return nil
			}
			gone, err := deleteTask(ctx, c, ids[n])
			if err != nil {
				return err
			}
			if gone {
				deleted.Add(1)
			}
		}
	})
	return int(deleted.Load()), err
}

// deleteTask deletes id over c, again after a pause while the server
// asks to slow down; false, with no error, when the task was gone already.
func deleteTask(ctx context.Context, c *client, id world.ID) (bool, error) {
	for {
		_, _, err := c.do(ctx, world.Command{Kind: world.CmdDeleteTask, Task: id})
		switch {
		case err == nil:
			return true, nil
		case refusedWith(err, world.CodeTaskNotFound):
			return false, nil
		case !refusedWith(err, world.CodeRateLimited) && !refusedWith(err, world.CodeOverloaded):
			return false, err
		}
		select {
		case <-time.After(cleanupBackoff):
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// left is tidy's error: what is left behind, where, and why.
func (r *run) left(n int, err error) error {
	what := "the run's tasks are"
	if n >= 0 {
		what = fmt.Sprintf("%d of the run's tasks are", n)
	}
	return fmt.Errorf("tidying up: %s left in service %q (delete them in the calendar): %w", what, r.name, err)
}
