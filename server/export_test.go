package server

// Dropped returns what the server has counted as dropped or refused
// before reaching the engine, by reason: what /api/status shows as
// "dropped", without summarising every latency histogram as the endpoint
// does (which, under the race detector, takes tens of milliseconds).
func (s *Server) Dropped() map[string]uint64 { return s.metrics.droppedCounts() }

// Beat is the stall detector's heartbeat at the server's clock's now, as
// the server's own ticker does it, for tests that move the clock.
func (s *Server) Beat() { s.stalls.beat(s.now()) }

// LoginKeys returns the keys the failed-login limiter holds.
func (s *Server) LoginKeys() []string {
	s.logins.mu.Lock()
	defer s.logins.mu.Unlock()
	var out []string
	for k := range s.logins.hosts {
		out = append(out, k)
	}
	return out
}
