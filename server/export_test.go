package server

// Dropped returns what the server has counted as dropped or refused
// before reaching the engine, by reason: what /api/status shows as
// "dropped", without summarising every latency histogram as the endpoint
// does (which, under the race detector, takes tens of milliseconds).
func (s *Server) Dropped() map[string]uint64 { return s.metrics.droppedCounts() }
