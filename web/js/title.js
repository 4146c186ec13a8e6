// @ts-check
// A task's title as the server counts it: bytes of UTF-8, at most
// MAX_TITLE. The page says how many before Enter is pressed, refuses a
// title past the limit itself (with the reason, nothing sent), and keeps
// the typed text when the server refuses an edit.

/** The server's limit on a title, in bytes of UTF-8 (world.MaxTitle). */
export const MAX_TITLE = 128;

const utf8 = new TextEncoder();

/** The length of s in bytes of UTF-8, as the server counts it. @param {string} s */
export const utf8Bytes = (s) => utf8.encode(s).length;

/**
 * How a title stands against the limit: its bytes, whether it is over,
 * the counter's text ("131/128 bytes (é counts as 2)") and, past the
 * limit, the reason in a person's words ('' when it fits). The first
 * character that takes more than one byte is named, since a person counts
 * letters and the server counts bytes.
 * @param {string} text the title as it would be sent (trimmed)
 */
export function titleCheck(text) {
  const bytes = utf8Bytes(text);
  let wide = '';
  for (const ch of text) {
    const n = utf8Bytes(ch);
    if (n > 1) { wide = ` (${ch} counts as ${n})`; break; }
  }
  const over = bytes > MAX_TITLE;
  return {
    bytes,
    over,
    counter: `${bytes}/${MAX_TITLE} bytes${wide}`,
    reason: over ? `A title can be at most ${MAX_TITLE} bytes: this one is ${bytes}${wide}.` : '',
  };
}

/** world.CodeTaskNotFound: the error code of a command about a task the world no longer has. */
export const TASK_NOT_FOUND = 3;

/**
 * A refusal of a command about a task, said with the task's title instead
 * of its id (a person knows a task by its title, never by a UUID).
 * @param {{message: string, code?: number}} err @param {string|undefined} id @param {string|undefined} title
 */
export function refusal(err, id, title) {
  if (!id || title === undefined) return err.message;
  // The server names tasks by their titles, and says who deleted one and
  // when; an id in an older server's words becomes the title.
  return err.message.split(id).join(`“${title || '(untitled)'}”`);
}

/**
 * Keeps a counter element beside a title input up to date: its text says
 * the bytes, it turns red past the limit. Returns a function that updates
 * it and answers the title's check.
 * @param {HTMLInputElement} input @param {HTMLElement} counter
 */
export function titleCounter(input, counter) {
  counter.classList.add('title-counter');
  const update = () => {
    const c = titleCheck(input.value.trim());
    counter.textContent = c.counter;
    counter.classList.toggle('over', c.over);
    input.setAttribute('aria-invalid', String(c.over));
    return c;
  };
  input.addEventListener('input', update);
  update();
  return update;
}

/**
 * An input over rect for a title, with its byte counter and a line for
 * the reason below it. Enter (or leaving it) calls done(text) if the text
 * is not empty and fits; past the limit Enter shows the reason instead
 * and nothing is sent. Esc cancels. When done's promise is refused (the
 * server's answer), the editor opens again with the typed text and the
 * server's message, so nothing typed is lost.
 *
 * @param {{x: number, y: number, w: number, h?: number}} rect
 * @param {string} value
 * @param {(text: string) => (Promise<unknown>|void)} done
 * @param {{message?: string, onClose?: () => void}} [o]
 */
export function titleEditor(rect, value, done, o = {}) {
  document.querySelector('.editor')?.remove();
  document.querySelector('.editor-note')?.remove();
  const input = document.createElement('input');
  input.className = 'editor';
  input.setAttribute('aria-label', 'Task title');
  input.value = value;
  input.style.left = `${rect.x}px`; input.style.top = `${rect.y}px`;
  input.style.width = `${Math.max(140, rect.w)}px`;
  const note = document.createElement('div');
  note.className = 'editor-note';
  note.id = 'editor-note';
  input.setAttribute('aria-describedby', note.id);
  const counter = document.createElement('span');
  const reason = document.createElement('span');
  reason.className = 'reason';
  reason.setAttribute('role', 'alert');
  reason.textContent = o.message || '';
  note.append(counter, reason);
  note.style.left = `${rect.x}px`;
  note.style.top = `${rect.y + (rect.h || 24) + 2}px`;
  note.style.maxWidth = `${Math.max(220, rect.w)}px`;
  document.body.append(input, note);
  const check = titleCounter(input, counter);
  input.addEventListener('input', () => { if (!check().over) reason.textContent = ''; });
  input.focus();
  if (!o.message) input.select();
  let closed = false;
  const close = (/** @type {boolean} */ ok) => {
    if (closed) return;
    const text = input.value.trim();
    const c = check();
    if (ok && c.over) { reason.textContent = c.reason; return; } // kept open: nothing is sent
    closed = true;
    input.remove(); note.remove();
    o.onClose?.();
    if (!ok || !text) return;
    const answer = done(text);
    if (answer) {
      answer.catch((/** @type {any} */ err) => {
        // A refusal from the server (it has a code): type on from there.
        if (err && err.code !== undefined) titleEditor(rect, text, done, { ...o, message: err.message });
      });
    }
  };
  input.onkeydown = (e) => {
    e.stopPropagation();
    if (e.key === 'Enter') { e.preventDefault(); close(true); }
    if (e.key === 'Escape') close(false);
  };
  input.onblur = () => close(true);
}
