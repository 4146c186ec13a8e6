package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/trace"
	"sync/atomic"
	"time"

	"txxt/world"
)

// slowTracer keeps the runtime's execution trace flight recorder running
// and, when a command is slower than Config.TraceSlow, writes the last
// seconds of execution trace to a file (`go tool trace FILE` reads it). One
// file at a time, at most one every traceGap, so a slow period costs a
// few files, not one per command.
type slowTracer struct {
	fr     *trace.FlightRecorder
	dir    string
	logger *slog.Logger
	kick   chan slowCommand
	last   atomic.Int64 // unix nanoseconds of the last trace written
	done   chan struct{}
}

type slowCommand struct {
	total    time.Duration
	kind     world.CommandKind
	revision uint64
	at       time.Time
}

const traceGap = 10 * time.Second

// startTracer starts the flight recorder, keeping about the last 10 s (at
// most 32 MiB) of execution trace.
func startTracer(dir string, logger *slog.Logger) (*slowTracer, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 10 * time.Second, MaxBytes: 32 << 20})
	if err := fr.Start(); err != nil {
		return nil, fmt.Errorf("trace flight recorder: %w", err)
	}
	t := &slowTracer{fr: fr, dir: dir, logger: logger, kick: make(chan slowCommand, 1), done: make(chan struct{})}
	go t.run()
	return t, nil
}

// trigger asks for a trace of a slow command. It never blocks.
func (t *slowTracer) trigger(total time.Duration, kind world.CommandKind, revision uint64) {
	if time.Now().UnixNano()-t.last.Load() < int64(traceGap) {
		return
	}
	select {
	case t.kick <- slowCommand{total: total, kind: kind, revision: revision, at: time.Now()}:
	default: // a trace is being written
	}
}

func (t *slowTracer) run() {
	for {
		select {
		case <-t.done:
			return
		case c := <-t.kick:
			if time.Since(time.Unix(0, t.last.Load())) < traceGap {
				continue
			}
			t.last.Store(time.Now().UnixNano())
			path, err := t.write(c)
			if err != nil {
				t.logger.Warn("slow command: writing its trace failed", "command", c.kind.String(), "total", c.total, "err", err)
				continue
			}
			t.logger.Warn("slow command: execution trace written", "command", c.kind.String(), "revision", c.revision,
				"total", c.total, "file", path)
		}
	}
}

func (t *slowTracer) write(c slowCommand) (string, error) {
	path := filepath.Join(t.dir, fmt.Sprintf("txxt-slow-%s-%s.trace", c.at.UTC().Format("20060102T150405.000"), c.kind))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := t.fr.WriteTo(f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

func (t *slowTracer) stop() {
	close(t.done)
	t.fr.Stop()
}
