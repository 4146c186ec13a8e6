package server

import "txxt/world"

// forbiddenCommand says why role, for the account user, may not send c, or
// "" when it may: forbidden's rules by kind, and the non-working days'. An
// admin manages the team's holidays and anyone's time off; a member only
// their own time off (the command names whose it is, and the world checks
// that a removed time off is that user's).
func forbiddenCommand(role Role, user world.ID, c *world.Command) string {
	if msg := forbidden(role, c.Kind); msg != "" || role == RoleAdmin {
		return msg
	}
	switch c.Kind {
	case world.CmdAddHoliday, world.CmdRemoveHoliday:
		return "Only an admin of this team can change its holidays: ask one of them."
	case world.CmdAddTimeOff, world.CmdRemoveTimeOff:
		if c.TimeOff.User != user {
			return "You can change only your own time off: ask an admin to change someone else's."
		}
	}
	return ""
}
