package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkFsyncFloor is the disk's floor for one durable write: 64 bytes
// appended to a plain file, then fsync.
func BenchmarkFsyncFloor(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	for b.Loop() {
		f.Write(buf)
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppend(b *testing.B, perCommit int) {
	// Both ways in one run, side by side: the write-ahead file (one
	// fdatasync a batch, the default) and a bbolt commit a batch (two).
	for _, v := range []struct {
		name string
		opts Options
	}{{"wal", Options{}}, {"bolt", Options{NoWAL: true}}} {
		b.Run(v.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "save"), v.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			frame := make([]byte, 120)
			recs := make([]Record, perCommit)
			next := uint64(1)
			for b.Loop() {
				for i := range recs {
					recs[i] = Record{Revision: next, Frame: frame}
					next++
				}
				if err := s.Append(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*perCommit)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkAppend1 is one 120-byte record per commit: the original design.
func BenchmarkAppend1(b *testing.B) { benchAppend(b, 1) }

// BenchmarkAppend64 is a batch of 64 records per commit.
func BenchmarkAppend64(b *testing.B) { benchAppend(b, 64) }

func BenchmarkRecords100k(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "save"), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.Append(context.Background(), records(1, 100000))
	for b.Loop() {
		n := 0
		s.Records(context.Background(), 0, func(Record) error { n++; return nil })
		if n != 100000 {
			b.Fatal(n)
		}
	}
}

// BenchmarkOpen100k opens a save file of 100,000 log records of 120-byte
// frames and a 5 MB snapshot (about the size the engine keeps at most): the
// cost of Open's full check, which reads every page.
func BenchmarkOpen100k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "save")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 120)
	for r := uint64(1); r <= 100000; r += 1000 {
		recs := make([]Record, 1000)
		for i := range recs {
			recs[i] = Record{Revision: r + uint64(i), Frame: frame}
		}
		if err := s.Append(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	s.SaveSnapshot(context.Background(), 100000, make([]byte, 5<<20))
	size, _ := s.Size()
	s.Close()
	for b.Loop() {
		s, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB")
}

// BenchmarkCheckFile is what Append adds to every commit to check that
// the save file is still at its path: one stat.
func BenchmarkCheckFile(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "save"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if err := s.CheckFile(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendAfterIdle is a lone commit, as a quiet team makes them:
// one record appended after the disk was idle for the pause (not timed),
// beside the floor of the same write (a 170-byte pwrite into a
// preallocated, written file, then fdatasync: what the write-ahead file
// does). The two alternate, one each per iteration, so that the disk's
// drift (it gets slower after a burst of flushes) falls on both alike;
// each one's median is reported (floor-p50-µs, wal-p50-µs).
func BenchmarkAppendAfterIdle(b *testing.B) {
	for _, pause := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("pause=%v", pause), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			const size = 1 << 20
			if err := allocate(f, size); err != nil {
				b.Fatal(err)
			}
			if err := zero(f, size); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			s, err := Open(filepath.Join(b.TempDir(), "save"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rec, frame := make([]byte, 170), make([]byte, 120)
			var floor, wal []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if pause > 0 {
					b.StopTimer()
					time.Sleep(pause)
					b.StartTimer()
				}
				start := time.Now()
				if i%2 == 0 {
					if _, err := f.WriteAt(rec, int64(i*len(rec))%(size-int64(len(rec)))); err != nil {
						b.Fatal(err)
					}
					if err := datasync(f); err != nil {
						b.Fatal(err)
					}
					floor = append(floor, time.Since(start))
				} else {
					if err := s.Append(context.Background(), []Record{{Revision: uint64(i/2 + 1), Frame: frame}}); err != nil {
						b.Fatal(err)
					}
					wal = append(wal, time.Since(start))
				}
			}
			if len(wal) > 0 {
				b.ReportMetric(median(floor), "floor-p50-µs")
				b.ReportMetric(median(wal), "wal-p50-µs")
			}
		})
	}
}

// median returns the middle of d in µs.
func median(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2].Nanoseconds()) / 1e3
}
