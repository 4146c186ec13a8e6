package wire

import "txxt/world"

// Welcome is the first frame of a v1 connection.
type Welcome struct {
	Protocol      uint16
	Flags         uint16
	ServerTime    uint64 // unix ms
	Grid          uint16
	Role          uint8 // 0 member, 1 admin, 2 viewer: the role in the connection's team
	Session       world.ID
	User          world.ID
	Client        world.ID
	ServerVersion string // ≤ 16 bytes ASCII
	UserName      string // ≤ 64 bytes
	Profile       []byte // JSON, may be empty
}

// WelcomeSize is the exact length of w's Welcome frame.
func WelcomeSize(w *Welcome) int { return welcomeHeader + len(w.Profile) }

// AppendWelcome appends a Welcome frame.
func AppendWelcome(dst []byte, w *Welcome) []byte {
	dst = append(dst, TypeWelcome)
	dst = appendU16(dst, w.Protocol)
	dst = appendU16(dst, w.Flags)
	dst = appendU64(dst, w.ServerTime)
	dst = appendU16(dst, w.Grid)
	dst = append(dst, w.Role, 0)
	dst = append(dst, w.Session[:]...)
	dst = append(dst, w.User[:]...)
	dst = append(dst, w.Client[:]...)
	dst = appendPadded(dst, w.ServerVersion, versionSize)
	dst = appendPadded(dst, w.UserName, nameSize)
	return append(dst, w.Profile...)
}

// DecodeWelcome decodes a Welcome frame.
func DecodeWelcome(frame []byte) (Welcome, error) {
	if len(frame) < welcomeHeader || frame[0] != TypeWelcome {
		return Welcome{}, badFrame("Welcome is at least 145 bytes")
	}
	w := Welcome{
		Protocol:      le.Uint16(frame[1:]),
		Flags:         le.Uint16(frame[3:]),
		ServerTime:    le.Uint64(frame[5:]),
		Grid:          le.Uint16(frame[13:]),
		Role:          frame[15],
		Session:       readID(frame[17:33]),
		User:          readID(frame[33:49]),
		Client:        readID(frame[49:65]),
		ServerVersion: trimZeros(frame[65:81]),
		UserName:      trimZeros(frame[81:145]),
	}
	if len(frame) > welcomeHeader {
		w.Profile = append([]byte(nil), frame[welcomeHeader:]...)
	}
	return w, nil
}

// Ack answers an accepted command.
type Ack struct {
	Request  uint32
	Revision uint64
}

// AppendAck appends an Ack frame.
func AppendAck(dst []byte, a *Ack) []byte {
	dst = append(dst, TypeAck)
	dst = appendU32(dst, a.Request)
	return appendU64(dst, a.Revision)
}

// DecodeAck decodes an Ack frame.
func DecodeAck(frame []byte) (Ack, error) {
	if len(frame) != 13 || frame[0] != TypeAck {
		return Ack{}, badFrame("Ack is 13 bytes")
	}
	return Ack{Request: le.Uint32(frame[1:]), Revision: le.Uint64(frame[5:])}, nil
}

// ErrorFrame answers a refused command (or a frame that did not decode).
type ErrorFrame struct {
	Request uint32
	Code    world.Code
	Message string
}

// AppendError appends an Error frame.
func AppendError(dst []byte, e *ErrorFrame) []byte {
	dst = append(dst, TypeError)
	dst = appendU32(dst, e.Request)
	dst = appendU16(dst, uint16(e.Code))
	return append(dst, e.Message...)
}

// DecodeError decodes an Error frame.
func DecodeError(frame []byte) (ErrorFrame, error) {
	if len(frame) < 7 || frame[0] != TypeError {
		return ErrorFrame{}, badFrame("Error is at least 7 bytes")
	}
	return ErrorFrame{Request: le.Uint32(frame[1:]), Code: world.Code(le.Uint16(frame[5:])), Message: string(frame[7:])}, nil
}

// Presence operations.
const (
	PresenceFull   = 0 // the whole list of who is online
	PresenceJoined = 1
	PresenceLeft   = 2
)

// PresenceEntry is one connection: its session and its user.
type PresenceEntry struct {
	Session world.ID
	User    world.ID
}

// Presence tells who is online.
type Presence struct {
	Op      uint8
	Entries []PresenceEntry
}

// AppendPresence appends a Presence frame (at most 65535 entries are sent).
func AppendPresence(dst []byte, p *Presence) []byte {
	n := min(len(p.Entries), 0xFFFF)
	dst = append(dst, TypePresence, p.Op)
	dst = appendU16(dst, uint16(n))
	for _, e := range p.Entries[:n] {
		dst = append(dst, e.Session[:]...)
		dst = append(dst, e.User[:]...)
	}
	return dst
}

// DecodePresence decodes a Presence frame.
func DecodePresence(frame []byte) (Presence, error) {
	if len(frame) < 4 || frame[0] != TypePresence {
		return Presence{}, badFrame("Presence is at least 4 bytes")
	}
	n := int(le.Uint16(frame[2:]))
	if len(frame) != 4+32*n {
		return Presence{}, badFrame("Presence count does not match its length")
	}
	p := Presence{Op: frame[1]}
	if p.Op > PresenceLeft {
		return Presence{}, badFrame("Presence op over 2")
	}
	if n > 0 {
		p.Entries = make([]PresenceEntry, n)
	}
	for i := range p.Entries {
		b := frame[4+32*i:]
		p.Entries[i] = PresenceEntry{Session: readID(b[:16]), User: readID(b[16:32])}
	}
	return p, nil
}

// Telemetry stages.
const (
	StageTotal     = 0 // frame received → ack written
	StageDecode    = 1
	StageQueue     = 2 // waiting in the engine's queue
	StageApply     = 3
	StageCommit    = 4 // per batch
	StageEncode    = 5
	StageFanout    = 6
	StageBatchSize = 7 // commands per batch, not microseconds
)

// StageStat is one stage's figures over the window, in microseconds.
type StageStat struct {
	Stage              uint8
	Samples            uint32
	P50, P95, P99, Max uint32
}

// Telemetry is the server's own latency, pushed to every v1 client.
type Telemetry struct {
	ServerTime uint64 // unix ms
	WindowMs   uint32
	Stages     []StageStat
}

// AppendTelemetry appends a Telemetry frame (at most 255 stages).
func AppendTelemetry(dst []byte, t *Telemetry) []byte {
	n := min(len(t.Stages), 255)
	dst = append(dst, TypeTelemetry)
	dst = appendU64(dst, t.ServerTime)
	dst = appendU32(dst, t.WindowMs)
	dst = append(dst, byte(n))
	for _, s := range t.Stages[:n] {
		dst = append(dst, s.Stage)
		dst = appendU32(dst, s.Samples)
		dst = appendU32(dst, s.P50)
		dst = appendU32(dst, s.P95)
		dst = appendU32(dst, s.P99)
		dst = appendU32(dst, s.Max)
	}
	return dst
}

// DecodeTelemetry decodes a Telemetry frame.
func DecodeTelemetry(frame []byte) (Telemetry, error) {
	if len(frame) < 14 || frame[0] != TypeTelemetry {
		return Telemetry{}, badFrame("Telemetry is at least 14 bytes")
	}
	n := int(frame[13])
	if len(frame) != 14+21*n {
		return Telemetry{}, badFrame("Telemetry count does not match its length")
	}
	t := Telemetry{ServerTime: le.Uint64(frame[1:]), WindowMs: le.Uint32(frame[9:])}
	if n > 0 {
		t.Stages = make([]StageStat, n)
	}
	for i := range t.Stages {
		b := frame[14+21*i:]
		t.Stages[i] = StageStat{Stage: b[0], Samples: le.Uint32(b[1:]), P50: le.Uint32(b[5:]),
			P95: le.Uint32(b[9:]), P99: le.Uint32(b[13:]), Max: le.Uint32(b[17:])}
	}
	return t, nil
}

// Server states.
const (
	StateOK           = 0
	StateDegraded     = 1 // the save file refuses writes; commands get STORAGE_UNAVAILABLE
	StateShuttingDown = 2
)

// ServerState tells clients whether the server can take changes.
type ServerState struct {
	State  uint8
	Reason string
}

// AppendServerState appends a ServerState frame.
func AppendServerState(dst []byte, s *ServerState) []byte {
	dst = append(dst, TypeServerState, s.State)
	return append(dst, s.Reason...)
}

// DecodeServerState decodes a ServerState frame.
func DecodeServerState(frame []byte) (ServerState, error) {
	if len(frame) < 2 || frame[0] != TypeServerState {
		return ServerState{}, badFrame("ServerState is at least 2 bytes")
	}
	if frame[1] > StateShuttingDown {
		return ServerState{}, badFrame("ServerState state over 2")
	}
	return ServerState{State: frame[1], Reason: string(frame[2:])}, nil
}

// Pong answers a Ping.
type Pong struct {
	Nonce      uint32
	ClientTime uint64 // echoed
	ServerTime uint64 // unix ms
}

// AppendPong appends a Pong frame.
func AppendPong(dst []byte, p *Pong) []byte {
	dst = append(dst, TypePong)
	dst = appendU32(dst, p.Nonce)
	dst = appendU64(dst, p.ClientTime)
	return appendU64(dst, p.ServerTime)
}

// DecodePong decodes a Pong frame.
func DecodePong(frame []byte) (Pong, error) {
	if len(frame) != 21 || frame[0] != TypePong {
		return Pong{}, badFrame("Pong is 21 bytes")
	}
	return Pong{Nonce: le.Uint32(frame[1:]), ClientTime: le.Uint64(frame[5:]), ServerTime: le.Uint64(frame[13:])}, nil
}

// ServerFrame is any decoded server frame: Type says which field is set.
type ServerFrame struct {
	Type        byte
	Snapshot    *world.State // TypeSnapshot
	Event       world.Event  // event types
	Welcome     Welcome
	Ack         Ack
	Error       ErrorFrame
	Presence    Presence
	Telemetry   Telemetry
	ServerState ServerState
	Pong        Pong
}

// DecodeServerFrame decodes any server frame. With v1 false only the
// original protocol's frames are accepted.
func DecodeServerFrame(frame []byte, v1 bool) (ServerFrame, error) {
	if len(frame) == 0 {
		return ServerFrame{}, badFrame("empty frame")
	}
	f := ServerFrame{Type: frame[0]}
	var err error
	switch t := frame[0]; {
	case t == TypeSnapshot:
		f.Snapshot, err = DecodeSnapshot(frame)
		if err == nil && !v1 && len(frame) != SnapshotSize(f.Snapshot, false) {
			err = badFrame("v1 snapshot tail on an original-protocol connection")
		}
	case IsEvent(t) && (v1 || t <= TypeTaskDeleted):
		f.Event, err = DecodeEvent(frame)
	case !v1:
		err = unknownType(t)
	case t == TypeWelcome:
		f.Welcome, err = DecodeWelcome(frame)
	case t == TypeAck:
		f.Ack, err = DecodeAck(frame)
	case t == TypeError:
		f.Error, err = DecodeError(frame)
	case t == TypePresence:
		f.Presence, err = DecodePresence(frame)
	case t == TypeTelemetry:
		f.Telemetry, err = DecodeTelemetry(frame)
	case t == TypeServerState:
		f.ServerState, err = DecodeServerState(frame)
	case t == TypePong:
		f.Pong, err = DecodePong(frame)
	default:
		err = unknownType(t)
	}
	if err != nil {
		return ServerFrame{Type: frame[0]}, err
	}
	return f, nil
}
