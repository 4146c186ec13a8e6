// The browser client's speed, measured (not asserted): prints the figures
// docs/BENCHMARKS.md reports.
//
//   node web/bench/speed.mjs [--tasks 5000] [--weeks 1] [--runs 5] [--drag-seconds 3] [--layout time|person]
//                            [--width 1400 --height 900] [--touch] [--playwright-mouse]
//
// --weeks spreads the tasks over that many weeks around this one (20,000
// over 4: 5,000 on the week shown). --touch is a phone: a 390×844
// viewport (unless --width/--height say otherwise) with touch emulation,
// the day view, and the drag made with touch events (a long press, then
// moves), as a finger would.
//
// It builds txxt, serves a temporary save file seeded with --tasks tasks on
// this week's weekdays, logs in with headless Chromium (software
// rendering: --disable-gpu), and measures:
//   - Snapshot: frame received → decoded → every block laid out and drawn,
//     over --runs page loads (median, min, max);
//   - dragging a block around the grid for --drag-seconds with the mouse:
//     frames drawn per second, and the time each frame took to draw
//     (p50, p95, max), over --runs drags.
//
// The drag's input goes to the browser as DevTools input events (the
// path Playwright's own mouse takes, without its bookkeeping per step,
// which on a loaded machine, not the page, set the pace: the figures
// then followed the harness). --playwright-mouse drives it with
// page.mouse instead, as the figures before 2026-12-01 were made.

import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: o } = parseArgs({ options: {
  tasks: { type: 'string', default: '5000' }, runs: { type: 'string', default: '5' },
  'drag-seconds': { type: 'string', default: '3' }, layout: { type: 'string', default: 'time' }, width: { type: 'string' }, height: { type: 'string' },
  weeks: { type: 'string', default: '1' }, touch: { type: 'boolean', default: false }, 'playwright-mouse': { type: 'boolean', default: false },
} });
o.width ??= o.touch ? '390' : '1400';
o.height ??= o.touch ? '844' : '900';
const tasks = Number(o.tasks), runs = Number(o.runs), dragMs = Number(o['drag-seconds']) * 1000;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'txxt-speed-'));
const bin = path.join(dir, 'txxt');
execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });

const server = spawn(bin, ['serve', '--demo', '--demo-tasks', String(tasks), '--demo-weeks', o.weeks, '--addr', '127.0.0.1:0', '--data', path.join(dir, 'speed.db')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  let out = '';
  server.stdout.on('data', (b) => { out += b; const m = /at (http:\/\/\S+?)\/?\n/.exec(out); if (m && /demo data/.test(out)) resolve(m[1]); });
  server.on('exit', (c) => reject(new Error(`txxt serve exited with ${c}`)));
});

const med = (xs) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const pct = (xs, p) => { const s = xs.slice().sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const f1 = (x) => x.toFixed(1);

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--disable-gpu'] });
try {
  const ctx = await browser.newContext({ viewport: { width: Number(o.width), height: Number(o.height) }, hasTouch: o.touch, isMobile: o.touch, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  const cdp = await ctx.newCDPSession(page);
  const pw = o['playwright-mouse'] && !o.touch;
  // The pointer, as the mouse or as one finger (touch: a long press picks the block up).
  const finger = (type, x, y) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  const mouse = (type, x, y) => cdp.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', buttons: type === 'mouseReleased' ? 0 : 1, clickCount: 1 });
  let last = { x: 0, y: 0 };
  const press = async (x, y) => {
    if (pw) { await page.mouse.move(x, y); await page.mouse.down(); await page.mouse.move(x + 6, y + 6, { steps: 2 }); return; }
    if (!o.touch) {
      await cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y });
      await mouse('mousePressed', x, y);
      await mouse('mouseMoved', x + 3, y + 3);
      await mouse('mouseMoved', x + 6, y + 6);
      last = { x: x + 6, y: y + 6 };
      return;
    }
    await finger('touchStart', x, y);
    await page.waitForFunction(() => window.txxt.grid.drag, null, { timeout: 5000 }); // held: picked up
    await finger('touchMove', x + 6, y + 6);
  };
  const moveTo = (x, y) => { last = { x, y }; return pw ? page.mouse.move(x, y) : o.touch ? finger('touchMove', x, y) : mouse('mouseMoved', x, y); };
  const release = async () => { if (pw) await page.mouse.up(); else if (o.touch) await finger('touchEnd', 0, 0); else await mouse('mouseReleased', last.x, last.y); };
  await page.goto(url);
  await page.fill('input[name=username]', 'demo');
  await page.fill('input[name=password]', 'demo');
  await page.click('button[type=submit]');
  const loaded = async () => {
    await page.waitForFunction(() => window.txxt?.lastSnapshot && window.txxt.conn.state === 'live', null, { timeout: 60000 });
    if (o.layout === 'person') await page.evaluate(() => { if (window.txxt.state.layout !== 'person') window.txxt.togglePerson(); window.txxt.grid.draw(); });
  };
  await loaded();

  const snaps = [];
  for (let i = 0; i < runs; i++) {
    await page.reload();
    await loaded();
    snaps.push(await page.evaluate(() => window.txxt.lastSnapshot));
  }
  // drawn as blocks, or behind a "+N" chip
  const onWeek = await page.evaluate(() => window.txxt.grid.items.length + (window.txxt.grid.chips || []).reduce((n, c) => n + c.tasks.length, 0));

  const drags = [];
  for (let i = 0; i < runs; i++) {
    // A block near the top of the visible hours, dragged in circles over the week.
    // (a point on it no other block covers: blocks overlap in the cascade)
    const from = await page.evaluate(() => {
      const g = window.txxt.grid;
      const it = g.items.find((x) => x.task.status !== 3 && (g.person || (x.task.start >= 600 && x.task.start < 900)) && x.h >= 14 && x.w >= 20);
      return g.grabPoint ? g.grabPoint(it.task.id) : (({ x, y, w, h }) => ({ x: x + w / 2, y: y + h / 2 }))(g.rectOf(it.task.id));
    });
    const centre = await page.evaluate(() => { const r = window.txxt.grid.canvas.getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2, rx: r.width / 3, ry: r.height / 4 }; });
    await press(from.x, from.y);
    const start = await page.evaluate(() => {
      const g = window.txxt.grid;
      window.__raf = 0;
      const tick = () => { window.__raf++; if (window.__counting) requestAnimationFrame(tick); };
      window.__counting = true;
      requestAnimationFrame(tick);
      return { frames: g.frames, t: performance.now() };
    });
    const t0 = Date.now();
    for (let k = 0; Date.now() - t0 < dragMs; k++) {
      const a = k / 15;
      await moveTo(centre.x + centre.rx * Math.cos(a), centre.y + centre.ry * Math.sin(a));
    }
    const end = await page.evaluate((start) => {
      window.__counting = false;
      const g = window.txxt.grid, n = g.frames - start.frames, secs = (performance.now() - start.t) / 1000;
      const times = [];
      for (let i = Math.max(0, g.frames - Math.min(n, g.times.length)) + 1; i <= g.frames; i++) times.push(g.times[i % g.times.length]);
      return { fps: n / secs, rafFps: window.__raf / secs, times, active: !!g.drag?.active };
    }, start);
    await page.keyboard.press('Escape'); // cancel: nothing is sent
    await release();
    if (!end.active) throw new Error('the drag did not start');
    drags.push(end);
  }

  const all = drags.flatMap((d) => d.times);
  console.log(`machine: ${cpus().length} × ${cpus()[0].model}; Chromium ${browser.version()} headless, --disable-gpu; viewport ${o.width}×${o.height}${o.touch ? ' with touch' : ''}; layout ${o.layout}; input ${pw ? "Playwright's mouse" : o.touch ? 'DevTools touch events' : 'DevTools mouse events'}`);
  console.log(`world: ${snaps[0].tasks} tasks (${(snaps[0].bytes / 1e6).toFixed(2)} MB snapshot), ${onWeek} on the week shown`);
  console.log(`snapshot → drawn, ${runs} page loads: median ${f1(med(snaps.map((s) => s.totalMs)))} ms (decode ${f1(med(snaps.map((s) => s.decodeMs)))} + layout and draw ${f1(med(snaps.map((s) => s.drawMs)))}), min ${f1(Math.min(...snaps.map((s) => s.totalMs)))}, max ${f1(Math.max(...snaps.map((s) => s.totalMs)))}`);
  console.log(`dragging, ${runs} × ${dragMs / 1000} s: frames drawn per second median ${f1(med(drags.map((d) => d.fps)))} (each run: ${drags.map((d) => f1(d.fps)).join(', ')}); animation frames per second ${f1(med(drags.map((d) => d.rafFps)))}`);
  console.log(`  time to draw one frame while dragging: p50 ${f1(pct(all, 50))} ms, p95 ${f1(pct(all, 95))} ms, max ${f1(Math.max(...all))} ms (${all.length} frames)`);
} finally {
  await browser.close();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
