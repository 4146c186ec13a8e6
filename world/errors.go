package world

import "fmt"

// Code is a stable error code. Codes cross the wire as a u16 and programs act
// on them, so this list is append-only: never renumber or reuse a value.
//
// The world raises the domain codes; the codes marked "outside the world" are
// raised by the engine and the server and live here so that there is one
// registry.
type Code uint16

const (
	CodeNone               Code = 0
	CodeBadFrame           Code = 1  // outside the world: a frame that does not decode
	CodeUnknownType        Code = 2  // outside the world: a frame type nobody knows
	CodeTaskNotFound       Code = 3  // no task with that id
	CodeServiceNotFound    Code = 4  // no service with that id
	CodeUserNotFound       Code = 5  // no user with that id
	CodeInvalidDate        Code = 6  // date is NoDate where a slot is needed
	CodeInvalidTime        Code = 7  // start past midnight or off the grid
	CodeInvalidDuration    Code = 8  // zero, off the grid, or crossing midnight
	CodeInvalidTransition  Code = 9  // the task's status does not allow the command
	CodeTitleTooLong       Code = 10 // title over MaxTitle bytes
	CodeInvalidPriority    Code = 11 // priority outside Low..Urgent
	CodeInvalidText        Code = 12 // title or name not valid UTF-8 or holding NUL
	CodeNameTooLong        Code = 13 // service or user name over MaxName bytes
	CodeInvalidName        Code = 14 // empty service or user name
	CodeInvalidGrid        Code = 15 // grid outside 1..60 or not dividing a day
	CodeDuplicateID        Code = 16 // an entity with that id exists already
	CodeUnknownCommand     Code = 17 // a command kind the world does not know
	CodeStorageUnavailable Code = 18 // outside the world: the save file refused the write; retry with the same request id
	CodeOverloaded         Code = 19 // outside the world: the engine's queue is full; retry later
	CodeRateLimited        Code = 20 // outside the world: too many commands on this connection
	CodeUnauthorized       Code = 21 // outside the world: not logged in, or not allowed
	CodeFrameTooLarge      Code = 22 // outside the world: frame over the size limit
	CodeShuttingDown       Code = 23 // outside the world: the server is stopping; retry after reconnecting
	CodeInternal           Code = 24 // outside the world: a bug; the message says more
	CodeNotFound           Code = 25 // outside the world (JSON API): no such endpoint, profile or user
	CodeBadRequest         Code = 26 // outside the world (JSON API): a body or parameter that is not valid
	CodeMethodNotAllowed   Code = 27 // outside the world (JSON API): the endpoint does not take this method
	CodeTooManyConnections Code = 28 // outside the world: this address has as many game connections open as it may
	CodeServiceArchived    Code = 29 // the service is archived: it takes no new tasks
	CodeForbidden          Code = 30 // outside the world: logged in but the role does not allow it
	CodeConflict           Code = 31 // outside the world (JSON API): the name or slug is taken, or the state does not allow it
	CodeInvalidTimeZone    Code = 32 // time zone not 1..MaxTimeZone bytes in the shape of an IANA name
	CodeInvalidColor       Code = 33 // colour over MaxColor (0xFFFFFF)
	CodeQuotaExceeded      Code = 34 // outside the world: the deployment's limit for this is reached
	CodeNotOwner           Code = 35 // outside the world: another node owns this world now; reconnect, and retry with the same request id
	CodeHolidayNotFound    Code = 36 // no holiday on that date
	CodeTimeOffNotFound    Code = 37 // no such time off, or not the named user's
	CodeTimeOffOverlap     Code = 38 // the time off overlaps another of the same user's
	CodeNoOwner            Code = 39 // outside the world: the node that keeps this world could not be reached in time (it may be changing hands); retry with the same request id
)

var codeNames = [...]string{
	CodeNone:               "OK",
	CodeBadFrame:           "BAD_FRAME",
	CodeUnknownType:        "UNKNOWN_TYPE",
	CodeTaskNotFound:       "TASK_NOT_FOUND",
	CodeServiceNotFound:    "SERVICE_NOT_FOUND",
	CodeUserNotFound:       "USER_NOT_FOUND",
	CodeInvalidDate:        "INVALID_DATE",
	CodeInvalidTime:        "INVALID_TIME",
	CodeInvalidDuration:    "INVALID_DURATION",
	CodeInvalidTransition:  "INVALID_TRANSITION",
	CodeTitleTooLong:       "TITLE_TOO_LONG",
	CodeInvalidPriority:    "INVALID_PRIORITY",
	CodeInvalidText:        "INVALID_TEXT",
	CodeNameTooLong:        "NAME_TOO_LONG",
	CodeInvalidName:        "INVALID_NAME",
	CodeInvalidGrid:        "INVALID_GRID",
	CodeDuplicateID:        "DUPLICATE_ID",
	CodeUnknownCommand:     "UNKNOWN_COMMAND",
	CodeStorageUnavailable: "STORAGE_UNAVAILABLE",
	CodeOverloaded:         "OVERLOADED",
	CodeRateLimited:        "RATE_LIMITED",
	CodeUnauthorized:       "UNAUTHORIZED",
	CodeFrameTooLarge:      "FRAME_TOO_LARGE",
	CodeShuttingDown:       "SHUTTING_DOWN",
	CodeInternal:           "INTERNAL",
	CodeNotFound:           "NOT_FOUND",
	CodeBadRequest:         "BAD_REQUEST",
	CodeMethodNotAllowed:   "METHOD_NOT_ALLOWED",
	CodeTooManyConnections: "TOO_MANY_CONNECTIONS",
	CodeServiceArchived:    "SERVICE_ARCHIVED",
	CodeForbidden:          "FORBIDDEN",
	CodeConflict:           "CONFLICT",
	CodeInvalidTimeZone:    "INVALID_TIME_ZONE",
	CodeInvalidColor:       "INVALID_COLOR",
	CodeQuotaExceeded:      "QUOTA_EXCEEDED",
	CodeNotOwner:           "NOT_OWNER",
	CodeHolidayNotFound:    "HOLIDAY_NOT_FOUND",
	CodeTimeOffNotFound:    "TIME_OFF_NOT_FOUND",
	CodeTimeOffOverlap:     "TIME_OFF_OVERLAP",
	CodeNoOwner:            "NO_OWNER",
}

// String returns the code's stable name, such as "TASK_NOT_FOUND".
func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("CODE_%d", uint16(c))
}

// Codes returns every defined code, in numeric order.
func Codes() []Code {
	out := make([]Code, 0, len(codeNames))
	for i := range codeNames {
		out = append(out, Code(i))
	}
	return out
}

// Error is a refused command: a code a program can act on and a message a
// person can read.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}
