package server_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"txxt/server"
	"txxt/world"
)

// lockedBuffer is a log destination the server and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestVerboseLogsStageTimings(t *testing.T) {
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := start(t, options{cfg: server.Config{Logger: logger}})
	c := h.dial(true, "")
	c.handshake()
	c.ack(7, world.Command{Kind: world.CmdCreateService, Text: "Ops"})
	eventually(t, "the command's log line", func() bool { return strings.Contains(logs.String(), "msg=command") })
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "msg=command") {
			line = l
		}
	}
	for _, want := range []string{"request=7", "command=CreateService", "total_us=", "decode_ns=", "queue_us=", "apply_ns=", "encode_ns=", "commit_us=", "batch=1"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
}

func TestSlowCommandWritesATrace(t *testing.T) {
	dir := t.TempDir()
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	h := start(t, options{cfg: server.Config{Logger: logger, TraceSlow: 1, TraceDir: dir}}) // every command is slow
	c := h.dial(true, "")
	c.handshake()
	c.ack(1, world.Command{Kind: world.CmdCreateService, Text: "Ops"})
	var files []string
	eventually(t, "a trace file", func() bool {
		files, _ = filepath.Glob(filepath.Join(dir, "txxt-slow-*-CreateService.trace"))
		return len(files) == 1 && strings.Contains(logs.String(), "execution trace written")
	})
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(raw, []byte("go 1.")) {
		t.Fatalf("%s is not an execution trace: % x", files[0], raw[:min(len(raw), 16)])
	}
	// One trace per traceGap: a second slow command writes none.
	c.ack(2, world.Command{Kind: world.CmdCreateService, Text: "Dev"})
	if more, _ := filepath.Glob(filepath.Join(dir, "*.trace")); len(more) != 1 {
		t.Fatalf("%d traces", len(more))
	}
}
