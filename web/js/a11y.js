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

const STATUS = ['Staged', 'Scheduled', 'Active', 'Completed'];

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
    this.list.addEventListener('focusin', (e) => {
      const b = /** @type {HTMLElement} */ (e.target).closest?.('button[data-id]');
      if (b) this.on.focus(/** @type {HTMLElement} */ (b).dataset.id || '');
    });
  }

  /**
   * Brings the list in step soon (at most every 150 ms).
   * @param {() => {tasks: {id: string, status: number, title: string}[], describe: (t: any) => {title: string, when: string, service: string, assignee: string, status: string}, selection: string|null}} read
   */
  schedule(read) {
    if (this.timer) return;
    this.timer = window.setTimeout(() => { this.timer = 0; this.sync(read()); }, 150);
  }

  /** @param {{tasks: {id: string, status: number, title: string}[], describe: (t: any) => any, selection: string|null}} s */
  sync({ tasks, describe, selection }) {
    const said = [];
    const next = new Map();
    for (const t of tasks) {
      let b = this.buttons.get(t.id);
      if (!b) { b = document.createElement('button'); b.type = 'button'; b.dataset.id = t.id; }
      const d = describe(t);
      const label = `${d.title}, ${d.when}, ${d.service || 'no service'}, ${d.assignee}, ${d.status}`;
      if (b.textContent !== label) b.textContent = label;
      if (t.id === selection) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
      next.set(t.id, b);
      const was = this.statuses.get(t.id);
      if (was !== undefined && was !== t.status) said.push(`${d.title}: ${STATUS[t.status] || ''}`);
    }
    const order = tasks.map((t) => t.id).join();
    if (order !== this.order) {
      this.order = order;
      this.list.replaceChildren(...tasks.map((t) => {
        const li = document.createElement('li');
        li.append(/** @type {HTMLButtonElement} */ (next.get(t.id)));
        return li;
      }));
    }
    this.buttons = next;
    this.statuses = new Map(tasks.map((t) => [t.id, t.status]));
    if (said.length) this.announce(said.slice(0, 3).join('. ') + (said.length > 3 ? `, and ${said.length - 3} more` : ''));
  }

  /** Says text in the live region. @param {string} text */
  announce(text) { this.live.textContent = text; }
}
