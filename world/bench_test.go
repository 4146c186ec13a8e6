package world

import (
	"encoding/binary"
	"testing"
)

// benchWorld holds n scheduled tasks, as a busy team's world does.
func benchWorld(b *testing.B, n int) *World {
	w := fixture(b)
	for i := range n {
		var tid ID
		binary.LittleEndian.PutUint64(tid[8:], uint64(i)+1<<40)
		slot := Slot{Date: monday + uint16(i%7), Start: uint16(i%96) * 15, Duration: 15}
		if _, err := w.Apply(Command{Kind: CmdCreateTask, Task: tid, Service: svc, Slot: slot, Text: "benchmark task"}); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// BenchmarkApply measures one command applied inside an open batch (as the
// engine applies them, journal included). Commands that change a status
// run in a cycle that returns the task to where it started; the figure is
// per command.
func BenchmarkApply(b *testing.B) {
	cycles := []struct {
		name string
		cmds []Command
	}{
		{"MoveTask", []Command{{Kind: CmdMoveTask, Task: sched, Slot: evening}, {Kind: CmdMoveTask, Task: sched, Slot: morning}}},
		{"Schedule+Unschedule", []Command{{Kind: CmdScheduleTask, Task: staged, Slot: morning}, {Kind: CmdUnscheduleTask, Task: staged}}},
		{"Start+Complete+Reopen", []Command{{Kind: CmdStartTask, Task: sched}, {Kind: CmdCompleteTask, Task: sched}, {Kind: CmdReopenTask, Task: sched}}},
		{"RenameTask", []Command{{Kind: CmdRenameTask, Task: sched, Text: "a new title"}, {Kind: CmdRenameTask, Task: sched, Text: "scheduled"}}},
		{"SetPriority", []Command{{Kind: CmdSetPriority, Task: sched, Priority: Urgent}, {Kind: CmdSetPriority, Task: sched, Priority: Low}}},
		{"AssignTask", []Command{{Kind: CmdAssignTask, Task: sched, Assignee: alice}, {Kind: CmdAssignTask, Task: sched}}},
		{"SetService", []Command{{Kind: CmdSetService, Task: sched, Service: svc2}, {Kind: CmdSetService, Task: sched, Service: svc}}},
		{"RenameService", []Command{{Kind: CmdRenameService, Service: svc, Text: "Infra"}, {Kind: CmdRenameService, Service: svc, Text: "Platform"}}},
		{"SetGrid", []Command{{Kind: CmdSetGrid, Grid: 15}, {Kind: CmdSetGrid, Grid: 5}}},
		{"RecolorService", []Command{{Kind: CmdRecolorService, Service: svc, Color: 0x3B82F6}, {Kind: CmdRecolorService, Service: svc}}},
		{"ArchiveService", []Command{{Kind: CmdArchiveService, Service: svc2, Archived: true}, {Kind: CmdArchiveService, Service: svc2}}},
		{"SetSchedule", []Command{{Kind: CmdSetSchedule, Schedule: Schedule{420, 1200, 6, "Europe/Berlin", MondayToFriday}}, {Kind: CmdSetSchedule, Schedule: DefaultSchedule()}}},
		{"Rejected/TaskNotFound", []Command{{Kind: CmdMoveTask, Task: nobody, Slot: evening}}},
		{"Rejected/InvalidTime", []Command{{Kind: CmdMoveTask, Task: sched, Slot: Slot{Date: monday, Start: 7, Duration: 5}}}},
	}
	for _, cy := range cycles {
		b.Run(cy.name, func(b *testing.B) {
			w := benchWorld(b, 5000)
			w.Begin()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w.Apply(cy.cmds[i%len(cy.cmds)])
				if i%1024 == 1023 {
					w.Commit()
					w.Begin()
				}
			}
		})
	}
	// Creation and deletion need fresh ids: create n, then delete them.
	ids := func(n int) []ID {
		out := make([]ID, n)
		for i := range out {
			binary.LittleEndian.PutUint64(out[i][:], uint64(i)+1)
			out[i][15] = 0xC0
		}
		return out
	}
	b.Run("CreateTask", func(b *testing.B) {
		w := benchWorld(b, 5000)
		tids := ids(b.N)
		w.Begin()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Apply(Command{Kind: CmdCreateTask, Task: tids[i], Service: svc, Priority: High, Slot: morning, Text: "benchmark task"})
			if i%1024 == 1023 {
				w.Commit()
				w.Begin()
			}
		}
	})
	b.Run("CloneTask", func(b *testing.B) {
		w := benchWorld(b, 5000)
		tids := ids(b.N)
		w.Begin()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Apply(Command{Kind: CmdCloneTask, Task: tids[i], Source: sched, Slot: evening})
			if i%1024 == 1023 {
				w.Commit()
				w.Begin()
			}
		}
	})
	b.Run("DeleteTask", func(b *testing.B) {
		w := benchWorld(b, 5000)
		tids := ids(b.N)
		for _, tid := range tids {
			w.Apply(Command{Kind: CmdCreateTask, Task: tid, Service: svc, Slot: NoSlot})
		}
		w.Begin()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			w.Apply(Command{Kind: CmdDeleteTask, Task: tids[i]})
			if i%1024 == 1023 {
				w.Commit()
				w.Begin()
			}
		}
	})
}

// BenchmarkStagingQueue sorts the staging panel of a world with 1,000
// staged tasks among 5,000.
func BenchmarkStagingQueue(b *testing.B) {
	w := benchWorld(b, 4000)
	for i := range 1000 {
		var tid ID
		binary.LittleEndian.PutUint64(tid[:], uint64(i)+1)
		w.Apply(Command{Kind: CmdCreateTask, Task: tid, Service: svc, Priority: Priority(i % 4), Slot: NoSlot})
	}
	b.ReportAllocs()
	for b.Loop() {
		w.StagingQueue()
	}
}
