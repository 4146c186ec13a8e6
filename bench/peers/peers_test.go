package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary be each child server too, as the command
// is: startSelf runs it again with PEERS_SERVE set.
func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		if err := serveChild(name); err != nil {
			os.Stderr.WriteString("peers: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestEveryReaderGetsEveryMessage runs one tiny cell against each server
// and checks what arrived, not how fast: every accepted message reached
// every reader and every writer, and nothing was refused.
func TestEveryReaderGetsEveryMessage(t *testing.T) {
	src, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig{writers: 2, duration: time.Second, parallel: 4, settle: 50 * time.Millisecond, drain: 10 * time.Second}
	c := cell{Readers: 5, Rate: 20}
	for _, v := range []variant{txxtVariant(src, ""), centrifugeVariant(), hubVariant()} {
		if v.close != nil {
			defer v.close()
		}
		t.Run(v.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := runCell(ctx, v, c, cfg, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent == 0 || res.Accepted != res.Sent || res.Refused != 0 {
				t.Fatalf("sent %d, accepted %d, refused %d (first: %s)", res.Sent, res.Accepted, res.Refused, res.Refusal)
			}
			if res.Short != 0 || res.Missing != 0 {
				t.Fatalf("%d of %d readers missed messages; %d deliveries missing of %d accepted to %d clients",
					res.Short, c.Readers, res.Missing, res.Accepted, c.Readers+cfg.writers)
			}
			if want := res.Accepted * int64(c.Readers); res.Samples != want {
				t.Fatalf("%d latency samples, want one per message per reader: %d", res.Samples, want)
			}
		})
	}
}
