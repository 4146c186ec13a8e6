package jetstream

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"txxt/tables"
	"txxt/tables/tabletest"
)

// connect opens a client connection of its own to the test's NATS server,
// as another node would, closed when the test ends.
// connect opens a connection of its own (a node of its own) to url.
func connect(t testing.TB, url string) natsjs.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func openTables(t *testing.T, js natsjs.JetStream, bucket string) *Tables {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tb, err := OpenTables(ctx, js, bucket, TablesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// JetStream's tables pass the suite the save file and the memory tables
// pass: one server for the whole suite, a bucket of its own for each
// case; a second handle, and each racing writer, is a connection of its
// own, as a second node is.
func TestTablesSuite(t *testing.T) {
	js := startNATS(t)
	url := js.Conn().ConnectedUrl()
	var buckets atomic.Int64
	tabletest.Run(t, tabletest.Backend{
		New: func(t *testing.T) tables.Tables {
			return openTables(t, js, fmt.Sprintf("tables-%d", buckets.Add(1)))
		},
		Reopen: func(t *testing.T, tb tables.Tables) tables.Tables {
			return openTables(t, connect(t, url), tb.(*Tables).bucket)
		},
		Second: func(t *testing.T, tb tables.Tables) tables.Tables {
			return openTables(t, connect(t, url), tb.(*Tables).bucket)
		},
	})
}

// Keys are escaped into one subject token each, and back.
func TestTablesKeyEscaping(t *testing.T) {
	for _, c := range []struct{ key, subject string }{
		{"ann", "ann"},
		{"p/3f2a/My view", "p/3f2a/My=20view"},
		{"id:7", "id=3A7"},
		{"a.b*>", "a=2Eb=2A=3E"},
		{"=", "=3D"},
		{"é", "=C3=A9"},
	} {
		if got := escape(c.key); got != c.subject {
			t.Errorf("escape(%q) = %q, want %q", c.key, got, c.subject)
		}
		if back, err := unescape(c.subject); err != nil || back != c.key {
			t.Errorf("unescape(%q) = %q, %v, want %q", c.subject, back, err, c.key)
		}
	}
	for _, bad := range []string{"=", "=4", "=ZZ", "a=2"} {
		if _, err := unescape(bad); err == nil {
			t.Errorf("unescape(%q) took it", bad)
		}
	}
}
