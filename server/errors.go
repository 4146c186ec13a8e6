package server

import (
	"context"
	"errors"
	"net/http"

	"txxt/engine"
	"txxt/tables"
	"txxt/world"
)

// apiError answers a JSON request that failed with err. It is the one
// place that maps an error to a status, a code and a message: a refusal
// the client can act on says what to do, in a person's words; anything
// else (a save file's or the system's error) reaches the client only as
// "try again" and the operator's log gets the whole chain, so no store
// error's text or file path ever reaches a client.
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusServiceUnavailable, world.CodeStorageUnavailable, msgStorage
	var werr *world.Error
	switch {
	case errors.As(err, &werr):
		status, code, msg = http.StatusBadRequest, werr.Code, werr.Message
		switch werr.Code {
		case world.CodeStorageUnavailable, world.CodeOverloaded, world.CodeShuttingDown, world.CodeNotOwner:
			status = http.StatusServiceUnavailable
		case world.CodeTaskNotFound, world.CodeServiceNotFound, world.CodeUserNotFound, world.CodeNotFound:
			status = http.StatusNotFound
		case world.CodeRateLimited:
			status = http.StatusTooManyRequests
		case world.CodeQuotaExceeded:
			status = http.StatusForbidden
		}
	case errors.Is(err, ErrBadName), errors.Is(err, ErrWeakPassword), errors.Is(err, ErrBadSlug), errors.Is(err, ErrBadTeamName), errors.Is(err, ErrBadRole):
		status, code, msg = http.StatusBadRequest, world.CodeBadRequest, sentence(err.Error())
	case errors.Is(err, tables.ErrConflict):
		// Another request (here or on another node) kept changing what
		// this one read, past tables.Do's attempts.
		status, code, msg = http.StatusConflict, world.CodeConflict, "Someone changed this at the same moment, so nothing was changed: try again."
	case errors.Is(err, ErrUserExists):
		status, code, msg = http.StatusConflict, world.CodeConflict, "That user name is taken: choose another."
	case errors.Is(err, ErrTaken):
		status, code, msg = http.StatusConflict, world.CodeConflict, sentence(err.Error())
	case errors.Is(err, ErrQuota):
		status, code, msg = http.StatusForbidden, world.CodeQuotaExceeded, sentence(err.Error())
	case errors.Is(err, ErrNoSuchUser):
		status, code, msg = http.StatusNotFound, world.CodeNotFound, "There is no such user."
	case errors.Is(err, ErrNoSuchTeam):
		status, code, msg = http.StatusNotFound, world.CodeNotFound, "There is no such team on this server, or you are not in it."
	case errors.Is(err, ErrNoInvite), errors.Is(err, ErrNoSetup):
		status, code, msg = http.StatusForbidden, world.CodeUnauthorized, sentence(err.Error())
	case errors.Is(err, ErrBadLogin):
		status, code, msg = http.StatusUnauthorized, world.CodeUnauthorized, "Wrong user name or password."
	case errors.Is(err, ErrSessionExpiry):
		status, code, msg = http.StatusUnauthorized, world.CodeUnauthorized, "Your session has expired: log in again."
	case errors.Is(err, ErrNoSession):
		status, code, msg = http.StatusUnauthorized, world.CodeUnauthorized, "Log in first: you are not logged in, or your session has ended."
	case errors.Is(err, engine.ErrOverloaded):
		code, msg = world.CodeOverloaded, msgOverloaded
	case errors.Is(err, ErrElsewhere):
		code, msg = world.CodeNotOwner, msgElsewhere
	case errors.Is(err, engine.ErrNotOwner):
		code, msg = world.CodeNotOwner, msgNotOwner
	case errors.Is(err, engine.ErrClosed), errors.Is(err, context.Canceled):
		code, msg = world.CodeShuttingDown, msgShuttingDown
	default:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeError(w, status, code, msg)
}

// The refusals said in more than one place.
const (
	msgStorage      = "The server could not read or write its data just now. Nothing was changed: try again in a moment."
	msgOverloaded   = "The server is busy, so nothing was changed: try again in a moment."
	msgShuttingDown = "The server is restarting, so nothing was changed: try again once the page is back online."
	msgNotOwner     = "This team's calendar is now kept by another server, so nothing was changed: the page reconnects to it by itself; try again then."
)

// noTeam is the answer for a team that does not exist, or that the
// requester is not a member of: the same words, so they tell nothing.
func noTeam(slug string) string {
	return "There is no team '" + slug + "' on this server, or you are not in it."
}

// sentence makes an error's text a sentence: a capital and a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		s = string(c-'a'+'A') + s[1:]
	}
	if last := s[len(s)-1]; last != '.' && last != '?' && last != '!' {
		s += "."
	}
	return s
}
