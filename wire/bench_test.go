package wire

import (
	"testing"

	"txxt/world"
)

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	for _, ev := range sampleEvents() {
		b.Run(ev.Kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendEvent(buf[:0], &ev)
			}
		})
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	for _, ev := range sampleEvents() {
		frame := AppendEvent(nil, &ev)
		b.Run(ev.Kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DecodeEvent(frame)
			}
		})
	}
}

func BenchmarkDecodeCommand(b *testing.B) {
	slot := world.Slot{Date: 20412, Start: 600, Duration: 45}
	for _, c := range []world.Command{
		{Kind: world.CmdCreateTask, Service: tid(2), Slot: slot, Text: "deploy the release"},
		{Kind: world.CmdMoveTask, Task: tid(1), Slot: slot},
		{Kind: world.CmdDeleteTask, Task: tid(1)},
		{Kind: world.CmdRenameTask, Task: tid(1), Text: "a new title"},
	} {
		frame := AppendCommand(nil, true, 1, &c)
		b.Run(c.Kind.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				DecodeCommand(frame, true)
			}
		})
	}
}

func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{5000, 100000} {
		st := sampleState(n)
		buf := make([]byte, 0, SnapshotSize(st, true))
		b.Run("Append/"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(cap(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendSnapshot(buf[:0], st, true)
			}
		})
		frame := AppendSnapshot(nil, st, true)
		b.Run("Decode/"+itoa(n), func(b *testing.B) {
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				DecodeSnapshot(frame)
			}
		})
	}
}

func itoa(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return itoa(n/1000) + "k"
	}
	s := ""
	for ; n > 0 || s == ""; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}
