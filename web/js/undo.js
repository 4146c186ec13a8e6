// @ts-check
// Undo and redo of the user's own changes. Nothing is taken back locally:
// an undo is new commands, built from what the task was before the change,
// which the server validates like any other (a task someone else deleted
// meanwhile, or moved into a state the undo cannot leave, is refused with
// the server's reason). Pure: the app sends the commands and reports back.
//
// A deleted task comes back as a new task (a new id): the stack remembers
// which id stands for which since, so an older change of the task, or the
// redo of its delete, names the task as it is now.

import { NO_DATE } from './codec.js';

/** The most changes remembered; the oldest goes first. */
export const UNDO_DEPTH = 100;

/** A command of the task that a CreateTask before it in the same step made. */
export const CREATED = '$created';

const S = { Staged: 0, Scheduled: 1, Active: 2, Completed: 3 };

/**
 * @typedef {{type: string, task?: string, [k: string]: any}} Command
 * @typedef {{id: string, status: number, priority: number, date: number, start: number, duration: number,
 *   service: string, assignee: string, title: string}} TaskState
 * @typedef {{label: string, undo: Command[], redo: Command[], ready?: Promise<unknown>}} Change
 *   ready: a create's change, until the server named the new task (undo waits for it)
 */

/** The commands that bring a task from `from` (its status) back to `to`. @returns {Command[]} */
function statusBack(id, from, to, slot) {
  if (from === to) return [];
  const c = (/** @type {string} */ type, extra = {}) => ({ type, task: id, ...extra });
  if (to === S.Staged) return [c('UnscheduleTask')];
  if (from === S.Staged) return [c('ScheduleTask', slot), ...statusBack(id, S.Scheduled, to, slot)];
  if (to === S.Completed) return [c('CompleteTask')];
  if (from === S.Completed) return [c('ReopenTask'), ...statusBack(id, S.Scheduled, to, slot)];
  if (to === S.Active) return [c('StartTask')]; // from Scheduled
  return [c('CompleteTask'), c('ReopenTask')]; // Active back to Scheduled: the only way the rules allow
}

/**
 * What a command will change of its task once applied (the fields it
 * sets), so a change made before its event arrives builds on it.
 * @param {Command} cmd @returns {Partial<TaskState>}
 */
export function patchOf(cmd) {
  switch (cmd.type) {
    case 'MoveTask': return { date: cmd.date, start: cmd.start, duration: cmd.duration };
    case 'ScheduleTask': return { status: S.Scheduled, date: cmd.date, start: cmd.start, duration: cmd.duration };
    case 'UnscheduleTask': return { status: S.Staged, date: NO_DATE, start: 0, duration: 0 };
    case 'RenameTask': return { title: cmd.text };
    case 'SetPriority': return { priority: cmd.priority };
    case 'AssignTask': return { assignee: cmd.assignee };
    case 'SetService': return { service: cmd.service };
    case 'StartTask': return { status: S.Active };
    case 'CompleteTask': return { status: S.Completed };
    case 'ReopenTask': return { status: S.Scheduled };
    default: return {};
  }
}

/**
 * The commands that create task t again as it is (its fields, then its
 * status): what undoes its delete, and what redoes its create. The new
 * task replaces t (the stack's alias).
 * @param {TaskState} t @returns {Command[]}
 */
export function recreateOf(t) {
  const at = t.status === S.Staged ? { date: NO_DATE, start: 0, duration: 0 } : { date: t.date, start: t.start, duration: t.duration };
  return [
    { type: 'CreateTask', priority: t.priority, service: t.service, assignee: t.assignee, ...at, text: t.title, replaces: t.id },
    ...statusBack(CREATED, t.status === S.Staged ? S.Staged : S.Scheduled, t.status, at),
  ];
}

/**
 * What undoes a create or a copy, once the server has named the task it
 * made (t, as its event left it): deleting it; the redo creates it again
 * (as it was when the undo deleted it: see UndoStack.deleted).
 * @param {Command} cmd @param {TaskState} t @returns {Change}
 */
export function createdChange(cmd, t) {
  return { label: cmd.type === 'CloneTask' ? 'copy' : 'create', undo: [{ type: 'DeleteTask', task: t.id }], redo: recreateOf(t) };
}

/**
 * What undoes a command, given the task as it was before it; null for a
 * command that is not undone this way (a create, a copy: createdChange).
 * @param {Command} cmd @param {TaskState} t
 * @returns {Change|null}
 */
export function changeOf(cmd, t) {
  const id = t.id, slot = { date: t.date, start: t.start, duration: t.duration };
  /** @type {Command[]} */
  let undo;
  let label = cmd.type.replace(/Task$/, '').replace(/^Set/, '').toLowerCase();
  switch (cmd.type) {
    case 'MoveTask':
      undo = [{ type: 'MoveTask', task: id, ...slot }];
      label = cmd.duration !== t.duration && cmd.date === t.date && (cmd.start === t.start || cmd.start + cmd.duration === t.start + t.duration) ? 'resize' : 'move';
      break;
    case 'RenameTask': undo = [{ type: 'RenameTask', task: id, text: t.title }]; break;
    case 'SetPriority': undo = [{ type: 'SetPriority', task: id, priority: t.priority }]; break;
    case 'AssignTask': undo = [{ type: 'AssignTask', task: id, assignee: t.assignee }]; label = 'assignee'; break;
    case 'SetService': undo = [{ type: 'SetService', task: id, service: t.service }]; break;
    case 'StartTask': case 'CompleteTask': case 'ReopenTask': case 'UnscheduleTask': case 'ScheduleTask': {
      const after = { StartTask: S.Active, CompleteTask: S.Completed, ReopenTask: S.Scheduled, UnscheduleTask: S.Staged, ScheduleTask: S.Scheduled }[cmd.type];
      undo = statusBack(id, after, t.status, slot);
      break;
    }
    case 'DeleteTask': undo = recreateOf(t); break;
    default: return null;
  }
  return { label, undo, redo: [{ ...cmd }] };
}

/**
 * The user's changes, newest last, and the ones undone, for redo. Each
 * entry is one gesture; its commands are sent in order, each one after
 * the previous was accepted.
 */
export class UndoStack {
  constructor(depth = UNDO_DEPTH) {
    this.depth = depth;
    /** @type {Change[]} */
    this.done = [];
    /** @type {Change[]} */
    this.undone = [];
    /** @type {Map<string, string>} the id a task had → the id it has since it was created again */
    this.alias = new Map();
  }

  /** A new change of the user's: it can be undone; what was undone can no longer be redone. @param {Change} c */
  push(c) {
    this.done.push(c);
    if (this.done.length > this.depth) this.done.shift();
    this.undone.length = 0;
  }

  /** A change the server refused: it is not there to undo. @param {Change} c */
  drop(c) { const i = this.done.indexOf(c); if (i >= 0) this.done.splice(i, 1); }

  /** The id a task has now. @param {string} id */
  resolve(id) {
    for (let n = 0; this.alias.has(id) && n < 1000; n++) id = /** @type {string} */ (this.alias.get(id));
    return id;
  }

  /** A task deleted as `old` came back as `now`. @param {string} old @param {string} now */
  recreated(old, now) { const o = this.resolve(old); if (o !== now) this.alias.set(o, now); }

  /**
   * The commands of a change with today's ids; `created` is the id the
   * step's CreateTask made (for the commands after it).
   * @param {Command} cmd @param {string} [created]
   */
  bind(cmd, created) {
    const out = { ...cmd };
    if (out.task === CREATED) out.task = created;
    else if (out.task) out.task = this.resolve(out.task);
    if (out.replaces) out.replaces = this.resolve(out.replaces);
    return out;
  }

  /** The newest change to undo, taken off the stack (give it back with `undoneOk` or `failed`). */
  takeUndo() { return this.done.pop() || null; }
  /** The newest undone change to redo, taken off. */
  takeRedo() { return this.undone.pop() || null; }
  /**
   * A step of c deleted task t (as it was just before): c's other way
   * now creates it again as it was then, whoever changed it since the
   * create or the last re-create. @param {Change} c @param {-1|1} dir the way that deleted it @param {TaskState} t
   */
  deleted(c, dir, t) {
    if (dir < 0) c.redo = recreateOf(t); else c.undo = recreateOf(t);
  }

  /** An undo went through: it can be redone. @param {Change} c */
  undoneOk(c) { this.undone.push(c); }
  /** A redo went through: it can be undone again. @param {Change} c */
  redoneOk(c) { this.done.push(c); if (this.done.length > this.depth) this.done.shift(); }
}
