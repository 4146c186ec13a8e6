// Live totals, the browser's side: minutes per day, per service and
// assignee, by status (planned = Scheduled, in progress = Active, done =
// Completed; staged tasks have no slot and count nothing). Kept the way the
// server keeps them (world/totals.go): every event takes the task's old
// contribution out and puts its new one in, so an event costs a few map
// updates whatever the number of tasks, and nothing rescans the world.

const SCHEDULED = 1, ACTIVE = 2, COMPLETED = 3, NO_DATE = 0xffff;

/** The status slot of a contribution: 0 planned, 1 in progress, 2 done, -1 none. */
function slotOf(t) {
  if (!t || t.date === NO_DATE) return -1;
  switch (t.status) {
    case SCHEDULED: return 0;
    case ACTIVE: return 1;
    case COMPLETED: return 2;
  }
  return -1;
}

export class Totals {
  constructor() {
    /** @type {Map<number, Map<string, number[]>>} date → "service|assignee" → [planned, inProgress, done] */
    this.days = new Map();
  }

  clear() { this.days.clear(); }

  /** Adds a task's minutes (sign 1) or takes them out (sign -1). */
  count(t, sign) {
    const s = slotOf(t);
    if (s < 0) return;
    let day = this.days.get(t.date);
    if (!day) { day = new Map(); this.days.set(t.date, day); }
    const k = t.service + '|' + t.assignee;
    let cell = day.get(k);
    if (!cell) { cell = [0, 0, 0]; day.set(k, cell); }
    cell[s] += sign * t.duration;
    if (cell[0] === 0 && cell[1] === 0 && cell[2] === 0) day.delete(k);
  }

  /**
   * Sums [from, to) by a key of each cell: by(service, assignee) → group.
   * Returns Map group → [planned, inProgress, done].
   */
  sum(from, to, by) {
    const out = new Map();
    for (let d = from; d < to; d++) {
      const day = this.days.get(d);
      if (!day) continue;
      for (const [k, cell] of day) {
        const bar = k.indexOf('|');
        const g = by(k.slice(0, bar), k.slice(bar + 1));
        const acc = out.get(g);
        if (acc) { acc[0] += cell[0]; acc[1] += cell[1]; acc[2] += cell[2]; } else out.set(g, cell.slice());
      }
    }
    return out;
  }
}
