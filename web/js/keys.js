// @ts-check
// The keyboard: every shortcut in one table, which both the key handler
// (app.js looks an event's name up in it) and the help overlay (`?`) read,
// so the overlay cannot list a key that does nothing or miss one that
// does. The pure arithmetic of a keyboard move, resize and cursor step is
// here too, beside the mouse's in model.js.

import { DAY_MINUTES, MOVE_STEP, stepFor } from './model.js';

/** A keyboard resize moves the end by this many minutes (and the world's grid). */
export const KEY_RESIZE_STEP = 15;

/**
 * Each shortcut: the key names it answers to (see keyName), the action
 * app.js runs, and what the help overlay says, in its group.
 * @type {{group: string, keys: string[], action: string, says: string}[]}
 */
export const SHORTCUTS = [
  { group: 'Move around', keys: ['ArrowUp', 'ArrowDown'], action: 'stepY', says: 'The task before or after in the day; with none selected, the cursor a step up or down' },
  { group: 'Move around', keys: ['ArrowLeft', 'ArrowRight'], action: 'stepX', says: 'The nearest task a day before or after (the cursor a day); past the first or last day shown, the view turns' },
  { group: 'Move around', keys: ['PageUp', 'PageDown'], action: 'page', says: 'The previous or next week (a day in the one-day view, a month in the month view)' },
  { group: 'Move around', keys: ['t'], action: 'today', says: 'Today' },
  { group: 'Move around', keys: ['Escape'], action: 'escape', says: 'Cancel a drag, close a card, or select nothing (the cursor stays where the task was)' },
  { group: 'Change', keys: ['n'], action: 'create', says: 'A new task at the cursor: type its title, Enter' },
  { group: 'Change', keys: ['Alt+ArrowUp', 'Alt+ArrowDown'], action: 'moveY', says: 'Move the selected task earlier or later by a step (30 min); in the people layout, to the person above or below (reassign it)' },
  { group: 'Change', keys: ['Alt+ArrowLeft', 'Alt+ArrowRight'], action: 'moveX', says: 'Move the selected task to the day before or after' },
  { group: 'Change', keys: ['Shift+Alt+ArrowUp', 'Shift+Alt+ArrowDown'], action: 'resize', says: 'Make the selected task shorter or longer (15 min)' },
  { group: 'Change', keys: ['p'], action: 'place', says: 'Put the selected staged task on the grid at the cursor' },
  { group: 'Change', keys: ['Ctrl+c', 'Ctrl+v'], action: 'copy', says: 'Copy the selected task; paste a copy of it at the cursor' },
  { group: 'Change', keys: ['Enter', 'F2'], action: 'rename', says: 'Rename the selected task (Enter with nothing selected: a new task at the cursor)' },
  { group: 'Change', keys: ['s', 'c', 'r', 'u'], action: 'status', says: 'Start, complete, reopen, unschedule the selected task' },
  { group: 'Change', keys: ['Delete', 'Backspace'], action: 'remove', says: 'Delete the selected task' },
  { group: 'Change', keys: ['Ctrl+z'], action: 'undo', says: 'Undo your last change (create, copy, move, resize, rename, status, priority, assignee, service, delete)' },
  { group: 'Change', keys: ['Ctrl+Shift+z', 'Ctrl+y'], action: 'redo', says: 'Redo what you undid' },
  { group: 'Views', keys: ['Alt+m'], action: 'month', says: 'Month view' },
  { group: 'Views', keys: ['Alt+c'], action: 'collapse', says: 'One day' },
  { group: 'Views', keys: ['Alt+p'], action: 'person', says: 'One lane per person' },
  { group: 'Views', keys: ['?'], action: 'help', says: 'This list' },
];

/** key name → [action, the key] */
const BY_NAME = new Map(SHORTCUTS.flatMap((s) => s.keys.map((k) => /** @type {[string, string]} */ ([k, s.action]))));

/**
 * An event's key name as SHORTCUTS spell it: modifiers Ctrl (or ⌘), Shift,
 * Alt, then the key; a letter is lower case (its code, so Alt and a
 * keyboard layout do not change it); a printed character other than a
 * letter stands alone ("?" is Shift+/ on most keyboards).
 * @param {{key: string, code: string, ctrlKey: boolean, metaKey: boolean, shiftKey: boolean, altKey: boolean}} e
 */
export function keyName(e) {
  const ctrl = e.ctrlKey || e.metaKey;
  let k = e.key;
  const letter = /^Key[A-Z]$/.test(e.code);
  if (letter) k = e.code.slice(3).toLowerCase();
  else if (k.length === 1) k = k.toLowerCase();
  const printed = k.length === 1 && !letter;
  const mods = [ctrl ? 'Ctrl' : '', e.shiftKey && !printed && (k.length > 1 || ctrl || e.altKey) ? 'Shift' : '', e.altKey ? 'Alt' : ''];
  return [...mods.filter(Boolean), k].join('+');
}

/** The action of an event, or '' for a key that does nothing here. @param {Parameters<typeof keyName>[0]} e */
export const actionOf = (e) => BY_NAME.get(keyName(e)) || '';

/**
 * Where a keyboard move or resize puts a task: dir -1 or 1; 'y' a step
 * earlier or later, 'x' a day before or after, 'size' the end a resize
 * step earlier or later. The slot stays in the day and a resize never
 * makes the task shorter than a step.
 * @param {{date: number, start: number, duration: number}} t @param {'x'|'y'|'size'} axis @param {number} dir @param {number} grid
 */
export function keySlot(t, axis, dir, grid) {
  const g = grid || 1;
  if (axis === 'x') return { date: t.date + dir, start: t.start, duration: t.duration };
  if (axis === 'y') {
    const step = stepFor(MOVE_STEP, g);
    return { date: t.date, start: Math.min(DAY_MINUTES - t.duration, Math.max(0, t.start + dir * step)), duration: t.duration };
  }
  const step = stepFor(KEY_RESIZE_STEP, g);
  const end = Math.min(DAY_MINUTES, Math.max(t.start + step, t.start + t.duration + dir * step));
  return { date: t.date, start: t.start, duration: end - t.start };
}

/**
 * The people layout's Alt+↑/↓: the lane above (dir -1) or below (1) the
 * one a task is in, as the grid orders them (each person, then the
 * unassigned); an assignee with no lane of their own is in the
 * unassigned lane, as the grid draws it. Null past the first or last.
 * @param {string[]} lanes the lanes' assignee ids, top to bottom @param {string} assignee @param {number} dir
 */
export function laneStep(lanes, assignee, dir) {
  let i = lanes.indexOf(assignee);
  if (i < 0) i = lanes.length - 1;
  const j = i + dir;
  return j >= 0 && j < lanes.length ? lanes[j] : null;
}

/**
 * The keyboard cursor one step (y) or one day (x) further: a slot one
 * move step long on the grid.
 * @param {{date: number, start: number}} c @param {'x'|'y'} axis @param {number} dir @param {number} grid
 */
export function cursorStep(c, axis, dir, grid) {
  const step = stepFor(MOVE_STEP, grid || 1);
  const start = Math.floor(c.start / step) * step;
  if (axis === 'x') return { date: c.date + dir, start, duration: step };
  return { date: c.date, start: Math.min(DAY_MINUTES - step, Math.max(0, start + dir * step)), duration: step };
}

/**
 * The help overlay: a modal dialog listing SHORTCUTS by group, and the
 * mouse's gestures; Esc or its button closes it.
 * @returns {HTMLDialogElement}
 */
export function helpDialog() {
  const d = document.createElement('dialog');
  d.id = 'help';
  d.className = 'help';
  d.setAttribute('aria-labelledby', 'help-title');
  const h = document.createElement('h2');
  h.id = 'help-title';
  h.textContent = 'Keys and gestures';
  d.append(h);
  const pretty = (/** @type {string} */ k) => k.replace('ArrowUp', '↑').replace('ArrowDown', '↓').replace('ArrowLeft', '←').replace('ArrowRight', '→')
    .replace(/(^|\+)([a-z])$/, (_, p, c) => p + c.toUpperCase());
  for (const group of [...new Set(SHORTCUTS.map((s) => s.group))]) {
    const g = document.createElement('h3');
    g.textContent = group;
    const dl = document.createElement('dl');
    for (const s of SHORTCUTS.filter((x) => x.group === group)) {
      const dt = document.createElement('dt'), dd = document.createElement('dd');
      s.keys.forEach((k, i) => { if (i) dt.append(' '); const kbd = document.createElement('kbd'); kbd.textContent = pretty(k); dt.append(kbd); });
      dd.textContent = s.says;
      dl.append(dt, dd);
    }
    d.append(g, dl);
  }
  const mouse = document.createElement('p');
  mouse.textContent = 'Mouse: drag to move by 30 min (Shift: onto the half hour), drag an edge to resize (5 min), Alt-drag to copy, double-click an empty slot to create. '
    + 'People: drag to another lane to reassign. On a phone: hold, then drag; swipe for the next day.';
  const close = document.createElement('button');
  close.textContent = 'Close';
  close.onclick = () => d.close();
  d.append(mouse, close);
  return d;
}
