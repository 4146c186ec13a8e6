// Package natstest runs NATS servers with JetStream inside a test
// process, as the tests of the cluster need them: file storage under the
// test's directory and an fsync on every write (sync always, as
// production must). Each server ends with its test.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs one server and returns its client URL.
func Start(t testing.TB) string {
	t.Helper()
	ns := start(t, &server.Options{ServerName: "nats-1"})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("waited 10 s for the NATS server to take connections")
	}
	return ns.ClientURL()
}

// Cluster runs n servers clustered by routes (each its own store
// directory, all on the one disk) and returns their client URLs, once
// every one takes connections. A young cluster may still lack a meta
// leader: what sets streams up on it retries for a while.
func Cluster(t testing.TB, n int) []string {
	t.Helper()
	// Route ports picked first, so that each server lists all of them.
	var routes []*url.URL
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
		routes = append(routes, &url.URL{Scheme: "nats", Host: ln.Addr().String()})
		ln.Close()
	}
	servers := make([]*server.Server, n)
	for i := range n {
		servers[i] = start(t, &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1),
			Cluster:    server.ClusterOpts{Name: "txxt", Host: "127.0.0.1", Port: ports[i]},
			Routes:     routes,
		})
	}
	urls := make([]string, n)
	for i, ns := range servers {
		if !ns.ReadyForConnections(20 * time.Second) {
			t.Fatalf("waited 20 s for NATS server %d to take connections", i+1)
		}
		urls[i] = ns.ClientURL()
	}
	return urls
}

// start starts a server of opts, on a free local port, with JetStream.
func start(t testing.TB, opts *server.Options) *server.Server {
	opts.Host, opts.Port = "127.0.0.1", -1
	opts.JetStream, opts.StoreDir, opts.SyncAlways = true, t.TempDir(), true
	opts.NoLog, opts.NoSigs = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}
