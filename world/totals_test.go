package world

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// recount is the brute force Totals must agree with: every task of the
// world, added up from nothing.
func recount(w *World) map[uint16]map[TotalsKey]Minutes {
	out := map[uint16]map[TotalsKey]Minutes{}
	for _, t := range w.tasks {
		m, ok := contribution(t)
		if !ok {
			continue
		}
		if out[t.Slot.Date] == nil {
			out[t.Slot.Date] = map[TotalsKey]Minutes{}
		}
		k := TotalsKey{t.Service, t.Assignee}
		out[t.Slot.Date][k] = out[t.Slot.Date][k].Add(m)
	}
	return out
}

// viewed is what a view holds, without the days left empty.
func viewed(v TotalsView) map[uint16]map[TotalsKey]Minutes {
	out := map[uint16]map[TotalsKey]Minutes{}
	for i := range v.days {
		d := v.From + uint16(i)
		v.Cells(d, func(k TotalsKey, m Minutes) {
			if out[d] == nil {
				out[d] = map[TotalsKey]Minutes{}
			}
			out[d][k] = m
		})
	}
	return out
}

// dayTasks is what DayTasks gives, summed into cells: a day's cells.
func dayTasks(w *World, from, to uint16) map[uint16]map[TotalsKey]Minutes {
	out := map[uint16]map[TotalsKey]Minutes{}
	for d := from; d <= to; d++ {
		for _, t := range w.DayTasks(nil, d) {
			if out[d] == nil {
				out[d] = map[TotalsKey]Minutes{}
			}
			out[d][t.Key] = out[d][t.Key].Add(t.Minutes)
		}
	}
	return out
}

// kept is what the incremental totals hold, without the days left empty.
func kept(w *World) map[uint16]map[TotalsKey]Minutes {
	out := map[uint16]map[TotalsKey]Minutes{}
	w.DayTotals(0, NoDate, func(d uint16, k TotalsKey, m Minutes) {
		if out[d] == nil {
			out[d] = map[TotalsKey]Minutes{}
		}
		out[d][k] = m
	})
	return out
}

// TestTotalsMatchRecount applies thousands of random commands (accepted
// and refused, in batches some of which are rolled back) and checks after
// each batch that the incremental totals equal a recount of the world,
// and that a world rebuilt from its State and one replayed from the
// events agree.
func TestTotalsMatchRecount(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 15))
			w := New()
			replayed := New()
			services := []ID{id(1), id(2), id(3)}
			users := []ID{{}, id(4), id(5)}
			for _, s := range services {
				ev, _ := w.Apply(Command{Kind: CmdCreateService, Service: s, Text: "s"})
				replayed.Replay(ev)
			}
			for _, u := range users[1:] {
				ev, _ := w.Apply(Command{Kind: CmdCreateUser, User: u, Text: "u"})
				replayed.Replay(ev)
			}
			var tasks []ID
			pick := func() ID {
				if len(tasks) == 0 || rng.IntN(10) == 0 {
					return id(200) // no such task
				}
				return tasks[rng.IntN(len(tasks))]
			}
			slot := func() Slot {
				if rng.IntN(8) == 0 {
					return NoSlot
				}
				start := uint16(rng.IntN(288)) * 5
				dur := uint16(1+rng.IntN(24)) * 5
				if rng.IntN(20) == 0 {
					dur = 1445 // crosses midnight: refused
				}
				return Slot{Date: monday + uint16(rng.IntN(10)), Start: start, Duration: dur}
			}
			accepted := 0
			type taken struct {
				batch int
				v     TotalsView
				want  map[uint16]map[TotalsKey]Minutes
			}
			var views []taken
			for batch := 0; batch < 300; batch++ {
				w.Begin()
				var evs []Event
				for range 1 + rng.IntN(20) {
					var c Command
					switch rng.IntN(12) {
					case 0, 1:
						var tid ID
						binary.LittleEndian.PutUint64(tid[:], rng.Uint64()|1)
						c = Command{Kind: CmdCreateTask, Task: tid, Service: services[rng.IntN(3)], Assignee: users[rng.IntN(3)], Slot: slot()}
					case 2:
						var tid ID
						binary.LittleEndian.PutUint64(tid[:], rng.Uint64()|1)
						c = Command{Kind: CmdCloneTask, Task: tid, Source: pick(), Slot: slot()}
					case 3:
						c = Command{Kind: CmdScheduleTask, Task: pick(), Slot: slot()}
					case 4:
						c = Command{Kind: CmdMoveTask, Task: pick(), Slot: slot()}
					case 5:
						c = Command{Kind: CmdUnscheduleTask, Task: pick()}
					case 6:
						c = Command{Kind: CmdCompleteTask, Task: pick()}
					case 7:
						c = Command{Kind: CmdStartTask, Task: pick()}
					case 8:
						c = Command{Kind: CmdReopenTask, Task: pick()}
					case 9:
						c = Command{Kind: CmdDeleteTask, Task: pick()}
					case 10:
						c = Command{Kind: CmdAssignTask, Task: pick(), Assignee: users[rng.IntN(3)]}
					case 11:
						c = Command{Kind: CmdSetService, Task: pick(), Service: services[rng.IntN(3)]}
					}
					ev, err := w.Apply(c)
					if err == nil {
						evs = append(evs, ev)
						if ev.Kind == EvTaskCreated {
							tasks = append(tasks, ev.Task.ID)
						}
					}
				}
				if rng.IntN(5) == 0 {
					w.Rollback()
				} else {
					w.Commit()
					accepted += len(evs)
					for _, ev := range evs {
						if err := replayed.Replay(ev); err != nil {
							t.Fatal(err)
						}
					}
				}
				if got, want := kept(w), recount(w); !reflect.DeepEqual(got, want) {
					t.Fatalf("batch %d: totals drift from a recount\n got %v\nwant %v", batch, got, want)
				}
				if got, want := dayTasks(w, monday, monday+9), recount(w); !reflect.DeepEqual(got, want) {
					t.Fatalf("batch %d: the days' tasks add up to other totals\n got %v\nwant %v", batch, got, want)
				}
				// A view taken now holds the totals of now, whatever
				// the world does after (copy on write).
				for i := range views {
					if got := viewed(views[i].v); !reflect.DeepEqual(got, views[i].want) {
						t.Fatalf("batch %d: the view taken at batch %d changed\n got %v\nwant %v", batch, views[i].batch, got, views[i].want)
					}
				}
				if batch%10 == 0 {
					views = append(views, taken{batch, w.ViewTotals(monday, monday+9), recount(w)})
				}
			}
			if accepted < 1000 {
				t.Fatalf("only %d commands accepted: the test checks too little", accepted)
			}
			if got, want := kept(replayed), kept(w); !reflect.DeepEqual(got, want) {
				t.Fatal("a replayed world's totals differ")
			}
			fromState, err := FromState(w.State())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := kept(fromState), kept(w); !reflect.DeepEqual(got, want) {
				t.Fatal("a world from its State has other totals")
			}
		})
	}
}

// BenchmarkApplyWithTotals measures a command that changes the totals
// (a move to another day, a status change), at 5,000 and at 100,000
// tasks: the cost must not grow with the tasks.
func BenchmarkApplyWithTotals(b *testing.B) {
	for _, n := range []int{5000, 100000} {
		w := benchWorld(b, n)
		far := Slot{Date: monday + 30, Start: 600, Duration: 45}
		cycles := map[string][]Command{
			"MoveTask":              {{Kind: CmdMoveTask, Task: sched, Slot: far}, {Kind: CmdMoveTask, Task: sched, Slot: morning}},
			"Start+Complete+Reopen": {{Kind: CmdStartTask, Task: sched}, {Kind: CmdCompleteTask, Task: sched}, {Kind: CmdReopenTask, Task: sched}},
			"AssignTask":            {{Kind: CmdAssignTask, Task: sched, Assignee: alice}, {Kind: CmdAssignTask, Task: sched}},
		}
		for _, name := range []string{"MoveTask", "Start+Complete+Reopen", "AssignTask"} {
			cmds := cycles[name]
			b.Run(fmt.Sprintf("%s/tasks=%d", name, n), func(b *testing.B) {
				w.Begin()
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					w.Apply(cmds[i%len(cmds)])
					if i%1024 == 1023 {
						w.Commit()
						w.Begin()
					}
				}
				b.StopTimer()
				w.Commit()
			})
		}
	}
}
