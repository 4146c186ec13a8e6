// @ts-check
// The canvas says nothing to a screen reader, so the tasks it shows are
// also in the page: a list of buttons, one per visible task, labelled with
// title, day, time, service, assignee and status, in date and time order.
// Focusing one selects the task on the canvas and shows its card. Status
// changes of the tasks shown are announced in a polite live region.
//
// The list is kept in step lazily (a short timer after a change), and its
// nodes are reused: a selection, which changes no order, only moves
// aria-current, so the focused button keeps its focus.
//
// A week of a big team shows thousands of tasks, and thousands of buttons
// cost every change and help no one: the list holds one page of them
// (PAGE), with a button before it and one after it to the page before
// and after, so every task shown is reached from the keyboard. The page
// follows the grid's selection: a task selected on the canvas is in the
// list, whichever page it is on. Only the page's tasks are described.

const STATUS = ['Staged', 'Scheduled', 'Active', 'Completed'];

/** The most tasks in the list at once. */
export const PAGE = 300;

/**
 * Which page of count tasks the list shows: page p (clamped), or the one
 * holding index when index ≥ 0; from and to are the tasks' positions
 * [from, to), pages how many there are.
 * @param {number} count @param {number} p @param {number} index @param {number} size
 */
export function pageOf(count, p, index, size) {
  const pages = Math.max(1, Math.ceil(count / size));
  const page = Math.min(pages - 1, Math.max(0, index >= 0 ? Math.floor(index / size) : p));
  return { page, pages, from: page * size, to: Math.min(count, (page + 1) * size) };
}

const counts = new Intl.NumberFormat('en-GB'); // made once: toLocaleString makes one per call
const n = (/** @type {number} */ x) => counts.format(x);

export class TaskList {
  /**
   * @param {HTMLElement} after  the list goes right after this element
   * @param {{focus: (id: string) => void}} on
   */
  constructor(after, on) {
    this.on = on;
    this.list = document.createElement('ul');
    this.list.id = 'a11y-tasks';
    this.list.className = 'sr-only';
    this.list.setAttribute('aria-label', 'Tasks shown');
    this.live = document.createElement('div');
    this.live.id = 'a11y-live';
    this.live.className = 'sr-only';
    this.live.setAttribute('aria-live', 'polite');
    this.live.setAttribute('role', 'status');
    after.after(this.list, this.live);
    /** @type {Map<string, HTMLButtonElement>} */
    this.buttons = new Map();
    /** @type {Map<string, number>} */
    this.statuses = new Map();
    this.order = '';
    this.timer = 0;
    this.size = PAGE;
    this.page = 0;
    /** @type {string|null} the selection the page last followed */
    this.followed = null;
    /** @type {Parameters<TaskList['sync']>[0]|null} */
    this.last = null;
    this.earlier = this.pager(-1);
    this.later = this.pager(1);
    this.list.addEventListener('focusin', (e) => {
      const b = /** @type {HTMLElement} */ (e.target).closest?.('button[data-id]');
      if (b) this.on.focus(/** @type {HTMLElement} */ (b).dataset.id || '');
    });
  }

  /**
   * The button to the page before (dir -1) or after (1): it turns the
   * page and puts the focus on the task next to where it was.
   * @param {number} dir
   */
  pager(dir) {
    const li = document.createElement('li'), b = document.createElement('button');
    b.type = 'button';
    b.className = 'pager';
    b.onclick = () => {
      if (!this.last) return;
      this.page += dir;
      this.sync(this.last, true);
      const tasks = this.list.querySelectorAll('button[data-id]');
      /** @type {HTMLElement|undefined} */ (dir > 0 ? tasks[0] : tasks[tasks.length - 1])?.focus();
    };
    li.append(b);
    return li;
  }

  /**
   * Brings the list in step soon (at most every 150 ms).
   * @param {() => {tasks: {id: string, status: number, title: string}[], describe: (t: any) => {title: string, when: string, service: string, assignee: string, status: string}, selection: string|null}} read
   */
  schedule(read) {
    if (this.timer) return;
    this.timer = window.setTimeout(() => { this.timer = 0; this.sync(read()); }, 150);
  }

  /**
   * @param {{tasks: {id: string, status: number, title: string}[], describe: (t: any) => any, selection: string|null}} s
   *   every task shown, in order
   * @param {boolean} [paged] a pager turned the page: it wins over the selection
   */
  sync(s, paged = false) {
    const { tasks: all, describe, selection } = s;
    this.last = s;
    // A new selection brings its page; a page turned by hand stays.
    const follow = !paged && selection !== this.followed;
    if (!paged) this.followed = selection;
    const at = follow && selection ? all.findIndex((t) => t.id === selection) : -1;
    const p = pageOf(all.length, this.page, at, this.size);
    this.page = p.page;
    const tasks = all.slice(p.from, p.to);
    const said = [];
    for (const t of all) {
      const was = this.statuses.get(t.id);
      if (was !== undefined && was !== t.status) said.push(`${t.title || '(untitled)'}: ${STATUS[t.status] || ''}`);
    }
    const next = new Map();
    for (const t of tasks) {
      let b = this.buttons.get(t.id);
      if (!b) { b = document.createElement('button'); b.type = 'button'; b.dataset.id = t.id; }
      const d = describe(t);
      const label = `${d.title}, ${d.when}, ${d.service || 'no service'}, ${d.assignee}, ${d.status}`;
      if (b.textContent !== label) b.textContent = label;
      if (t.id === selection) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
      next.set(t.id, b);
    }
    const span = p.pages > 1 ? `${n(p.from + 1)}–${n(p.to)} of ${n(all.length)}` : '';
    const order = `${span}|${tasks.map((t) => t.id).join()}`;
    if (order !== this.order) {
      this.order = order;
      const size = this.size;
      /** @type {HTMLButtonElement} */ (this.earlier.firstChild).textContent = `Previous ${n(Math.min(size, p.from))} tasks (${n(Math.max(1, p.from - size + 1))}–${n(p.from)} of ${n(all.length)})`;
      /** @type {HTMLButtonElement} */ (this.later.firstChild).textContent = `Next ${n(Math.min(size, all.length - p.to))} tasks (${n(p.to + 1)}–${n(Math.min(all.length, p.to + size))} of ${n(all.length)})`;
      this.list.setAttribute('aria-label', span ? `Tasks shown, ${span}` : 'Tasks shown');
      this.list.replaceChildren(...(p.page > 0 ? [this.earlier] : []), ...tasks.map((t) => {
        const li = document.createElement('li');
        li.append(/** @type {HTMLButtonElement} */ (next.get(t.id)));
        return li;
      }), ...(p.page < p.pages - 1 ? [this.later] : []));
    }
    this.buttons = next;
    this.statuses = new Map(all.map((t) => [t.id, t.status]));
    if (said.length) this.announce(said.slice(0, 3).join('. ') + (said.length > 3 ? `, and ${said.length - 3} more` : ''));
  }

  /** Says text in the live region. @param {string} text */
  announce(text) { this.live.textContent = text; }
}
