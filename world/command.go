package world

// CommandKind names what a command asks. The first six are the original
// protocol's; the rest are txxt's additions.
type CommandKind uint8

const (
	CmdCreateTask     CommandKind = iota + 1 // Task=new id, Priority, Service, Assignee, Slot (NoDate: staged), Text=title
	CmdScheduleTask                          // Task, Slot: Staged → Scheduled
	CmdMoveTask                              // Task, Slot: Scheduled/Active keep their status; also resizes
	CmdUnscheduleTask                        // Task: Scheduled/Active → Staged, slot cleared
	CmdCompleteTask                          // Task: Scheduled/Active → Completed, slot kept
	CmdDeleteTask                            // Task: any status
	CmdCloneTask                             // Task=new id, Source, Slot (NoDate: staged copy)
	CmdRenameTask                            // Task, Text=title
	CmdSetPriority                           // Task, Priority
	CmdAssignTask                            // Task, Assignee (zero: unassign)
	CmdStartTask                             // Task: Scheduled → Active
	CmdReopenTask                            // Task: Completed → Scheduled
	CmdCreateService                         // Service=new id, Text=name
	CmdRenameService                         // Service, Text=name
	CmdCreateUser                            // User=new id, Text=name
	CmdRenameUser                            // User, Text=name
	CmdSetGrid                               // Grid
	CmdSetService                            // Task, Service
	CmdRecolorService                        // Service, Color (0: none chosen)
	CmdArchiveService                        // Service, Archived (true archives, false restores)
	CmdSetSchedule                           // Schedule
	CmdAddHoliday                            // Holiday: a date and its name (a holiday on that date is renamed)
	CmdRemoveHoliday                         // Holiday.Date
	CmdAddTimeOff                            // TimeOff: ID=new id, User, From, To, Note
	CmdRemoveTimeOff                         // TimeOff.ID, TimeOff.User (whose it must be)
	cmdEnd
)

var commandNames = [...]string{
	CmdCreateTask:     "CreateTask",
	CmdScheduleTask:   "ScheduleTask",
	CmdMoveTask:       "MoveTask",
	CmdUnscheduleTask: "UnscheduleTask",
	CmdCompleteTask:   "CompleteTask",
	CmdDeleteTask:     "DeleteTask",
	CmdCloneTask:      "CloneTask",
	CmdRenameTask:     "RenameTask",
	CmdSetPriority:    "SetPriority",
	CmdAssignTask:     "AssignTask",
	CmdStartTask:      "StartTask",
	CmdReopenTask:     "ReopenTask",
	CmdCreateService:  "CreateService",
	CmdRenameService:  "RenameService",
	CmdCreateUser:     "CreateUser",
	CmdRenameUser:     "RenameUser",
	CmdSetGrid:        "SetGrid",
	CmdSetService:     "SetService",
	CmdRecolorService: "RecolorService",
	CmdArchiveService: "ArchiveService",
	CmdSetSchedule:    "SetSchedule",
	CmdAddHoliday:     "AddHoliday",
	CmdRemoveHoliday:  "RemoveHoliday",
	CmdAddTimeOff:     "AddTimeOff",
	CmdRemoveTimeOff:  "RemoveTimeOff",
}

func (k CommandKind) String() string {
	if k > 0 && k < cmdEnd {
		return commandNames[k]
	}
	return "UnknownCommand"
}

// Command is one request to change the world. It is a flat value (no
// pointers but Text and Schedule.TimeZone) so that queuing and applying it allocates nothing; each
// kind reads only the fields its comment above names.
type Command struct {
	Kind     CommandKind
	Task     ID // the task acted on, or the new task's id for Create/Clone
	Source   ID // CloneTask: the task copied
	Service  ID // CreateTask, SetService: the task's service; the service commands: the service
	Assignee ID // CreateTask, AssignTask: zero means unassigned
	User     ID // Create/RenameUser
	Slot     Slot
	Priority Priority
	Grid     uint16
	Archived bool     // ArchiveService
	Color    uint32   // RecolorService
	Schedule Schedule // SetSchedule
	Text     string   // title or name
	Holiday  Holiday  // AddHoliday, RemoveHoliday
	TimeOff  TimeOff  // AddTimeOff, RemoveTimeOff
}

// EventKind names what changed. Its values are independent of the wire's
// frame types; the codec maps them.
type EventKind uint8

const (
	EvTaskCreated        EventKind = iota + 1 // Task: the whole new task
	EvTaskScheduled                           // Task.ID, Task.Slot
	EvTaskMoved                               // Task.ID, Task.Slot
	EvTaskUnscheduled                         // Task.ID
	EvTaskCompleted                           // Task.ID
	EvTaskDeleted                             // Task.ID
	EvTaskRenamed                             // Task.ID, Task.Title
	EvTaskPrioritized                         // Task.ID, Task.Priority
	EvTaskAssigned                            // Task.ID, Task.Assignee
	EvTaskStarted                             // Task.ID
	EvTaskReopened                            // Task.ID
	EvServiceCreated                          // Service
	EvServiceRenamed                          // Service
	EvUserCreated                             // User
	EvUserRenamed                             // User
	EvGridChanged                             // Grid
	EvTaskServiceChanged                      // Task.ID, Task.Service
	EvServiceRecolored                        // Service.ID, Service.Color
	EvServiceArchived                         // Service.ID, Service.Archived
	EvScheduleChanged                         // Schedule
	EvHolidayAdded                            // Holiday
	EvHolidayRemoved                          // Holiday.Date
	EvTimeOffAdded                            // TimeOff
	EvTimeOffRemoved                          // TimeOff.ID, TimeOff.User
	evEnd
)

var eventNames = [...]string{
	EvTaskCreated:        "TaskCreated",
	EvTaskScheduled:      "TaskScheduled",
	EvTaskMoved:          "TaskMoved",
	EvTaskUnscheduled:    "TaskUnscheduled",
	EvTaskCompleted:      "TaskCompleted",
	EvTaskDeleted:        "TaskDeleted",
	EvTaskRenamed:        "TaskRenamed",
	EvTaskPrioritized:    "TaskPrioritized",
	EvTaskAssigned:       "TaskAssigned",
	EvTaskStarted:        "TaskStarted",
	EvTaskReopened:       "TaskReopened",
	EvServiceCreated:     "ServiceCreated",
	EvServiceRenamed:     "ServiceRenamed",
	EvUserCreated:        "UserCreated",
	EvUserRenamed:        "UserRenamed",
	EvGridChanged:        "GridChanged",
	EvTaskServiceChanged: "TaskServiceChanged",
	EvServiceRecolored:   "ServiceRecolored",
	EvServiceArchived:    "ServiceArchived",
	EvScheduleChanged:    "ScheduleChanged",
	EvHolidayAdded:       "HolidayAdded",
	EvHolidayRemoved:     "HolidayRemoved",
	EvTimeOffAdded:       "TimeOffAdded",
	EvTimeOffRemoved:     "TimeOffRemoved",
}

func (k EventKind) String() string {
	if k > 0 && k < evEnd {
		return eventNames[k]
	}
	return "UnknownEvent"
}

// Event is what one accepted command changed, at one revision. Like Command it
// is a flat value; each kind fills only the fields its comment names, and an
// event carries everything needed to replay it on the world before it.
type Event struct {
	Revision uint64
	Kind     EventKind
	Task     Task
	Service  Service
	User     User
	Grid     uint16
	Schedule Schedule
	Holiday  Holiday
	TimeOff  TimeOff
}
