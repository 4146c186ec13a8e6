// @ts-check
// Colours of the grid, and the arithmetic that keeps every text on them
// readable: WCAG 2.x relative luminance and contrast ratio, and the
// colours of a block in each status derived from its service's colour so
// that each text on it reaches 4.5:1 (AA) whatever that colour is.
// test/colour.test.mjs checks it over the whole palette.

/** The services' palette; a service's colour is stable for its id. */
export const PALETTE = ['#3b82f6', '#10b981', '#f59e0b', '#ef4444', '#8b5cf6', '#ec4899', '#14b8a6', '#f97316', '#6366f1', '#84cc16'];

/** WCAG AA for normal text. */
export const AA = 4.5;

/**
 * A service's colour: the one an admin chose (service.color, 0xRRGGBB),
 * else one from the palette, stable for its id.
 * @param {string} id @param {{color?: number}} [service] the world's record of it
 */
export function serviceColour(id, service) {
  if (service?.color) return `#${service.color.toString(16).padStart(6, '0')}`;
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (h * 31 + id.charCodeAt(i)) | 0;
  return PALETTE[Math.abs(h) % PALETTE.length];
}

/** "#rrggbb" → [r, g, b] (0–255). @param {string} hex @returns {number[]} */
export function rgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [n >> 16, (n >> 8) & 255, n & 255];
}

/** [r, g, b] → "#rrggbb". @param {number[]} c */
export const hex = (c) => `#${c.map((v) => Math.round(Math.max(0, Math.min(255, v))).toString(16).padStart(2, '0')).join('')}`;

/** WCAG relative luminance of "#rrggbb". @param {string} h */
export function luminance(h) {
  const [r, g, b] = rgb(h).map((v) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG contrast ratio of two colours (1–21). @param {string} a @param {string} b */
export function contrast(a, b) {
  const x = luminance(a), y = luminance(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

/** c mixed with white: a = 1 keeps c, a = 0 is white. @param {string} c @param {number} a */
export const tint = (c, a) => hex(rgb(c).map((v) => v + (255 - v) * (1 - a)));

/** c darkened by k (0 keeps it, 1 is black). @param {string} c @param {number} k */
export const shade = (c, k) => hex(rgb(c).map((v) => v * (1 - k)));

/** c darkened just enough for `fg` on it to reach ratio. @param {string} c @param {string} fg @param {number} ratio */
export function darkenFor(c, fg, ratio) {
  for (let k = 0; k <= 1; k += 0.02) {
    const d = shade(c, k);
    if (contrast(d, fg) >= ratio) return d;
  }
  return '#000000';
}

const INK = '#111827', INK2 = '#374151', WHITE = '#ffffff';

/**
 * The colours of a block of service colour c in a status (0 Staged,
 * 1 Scheduled, 2 Active, 3 Completed): bg, the title's fg, the second
 * line's sub, and the left edge. Scheduled: a light tint, dark text.
 * Active (started): the colour itself, darkened until white text on it
 * reaches AA. Completed: grey, dark grey text (struck through).
 * @param {string} c
 * @param {number} status
 * @returns {{bg: string, fg: string, sub: string, edge: string}}
 */
export function blockColours(c, status) {
  // Pure, and asked for every block of every draw: kept per colour and
  // status (a team's services times four).
  const key = `${c}|${status}`;
  let b = blockCache.get(key);
  if (b) return b;
  if (status === 3) b = { bg: '#eceef1', fg: '#4b5563', sub: '#4b5563', edge: '#9ca3af' };
  else if (status === 2) {
    const bg = darkenFor(c, WHITE, AA + 0.2);
    b = { bg, fg: WHITE, sub: WHITE, edge: shade(bg, 0.35) };
  } else b = { bg: tint(c, 0.22), fg: INK, sub: INK2, edge: c };
  if (blockCache.size > 4096) blockCache.clear();
  blockCache.set(key, Object.freeze(b));
  return b;
}
/** @type {Map<string, {bg: string, fg: string, sub: string, edge: string}>} */
const blockCache = new Map();

/** The rest of the grid's colours, each text with the background it sits on. */
export const CHROME = Object.freeze({
  page: '#f3f4f6', work: '#ffffff', todayWork: '#eff6ff', line: '#e5e7eb', halfLine: '#f1f2f4', rule: '#d1d5db',
  head: '#ffffff', headText: '#374151', headSub: '#4b5563',
  todayHead: '#dbeafe', todayText: '#1d4ed8', todaySub: '#374151',
  hourText: '#4b5563', offHourText: '#4b5563',
  now: '#dc2626', selected: '#111827', pending: '#111827', urgent: '#dc2626',
  badge: '#1f2937', badgeText: '#ffffff', doneBadge: '#6b7280',
  chip: '#374151', chipText: '#ffffff',
  loadBar: '#e5e7eb', loadOk: '#059669', loadFull: '#d97706', loadOver: '#dc2626', warnText: '#b91c1c', loadText: '#374151',
  ghost: '#2563eb', ghostText: '#1e3a8a',
});

/**
 * Every pair of (text, background) the grid draws, named, for the
 * contrast test: the chrome's pairs and each block's in each status for
 * the given colours.
 * @param {string[]} colours
 * @returns {{name: string, fg: string, bg: string}[]}
 */
export function textPairs(colours) {
  const k = CHROME;
  /** @type {{name: string, fg: string, bg: string}[]} */
  const out = [
    { name: 'day header', fg: k.headText, bg: k.head }, { name: 'day header count', fg: k.headSub, bg: k.head },
    { name: 'today header', fg: k.todayText, bg: k.todayHead }, { name: 'today header count', fg: k.todaySub, bg: k.todayHead },
    { name: 'hour label', fg: k.hourText, bg: k.head }, { name: 'badge', fg: k.badgeText, bg: k.badge },
    { name: 'done badge', fg: k.badgeText, bg: k.doneBadge }, { name: '+N chip', fg: k.chipText, bg: k.chip },
    { name: 'load text', fg: k.loadText, bg: k.work }, { name: 'load text (today)', fg: k.loadText, bg: k.todayWork },
    { name: 'warning', fg: k.warnText, bg: k.work }, { name: 'warning (today)', fg: k.warnText, bg: k.todayWork },
    { name: 'person name', fg: k.headText, bg: k.head }, { name: 'ghost title', fg: k.ghostText, bg: k.work },
  ];
  for (const c of colours) {
    for (const status of [1, 2, 3]) {
      const b = blockColours(c, status);
      out.push({ name: `${c} status ${status} title`, fg: b.fg, bg: b.bg }, { name: `${c} status ${status} time`, fg: b.sub, bg: b.bg });
    }
  }
  return out;
}
