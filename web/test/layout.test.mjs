// The grid's layout, end to end: the real txxt binary with the demo's
// week, the client in headless Chromium at the four screen sizes it must
// serve (1440×900, 1024×768, 800×600 and a 390×844 phone). Each check
// reads the grid's own layout data (window.txxt.grid: every block, chip
// and drawn text with the box it must stay in), not pixels; screenshots
// of both layouts at each size go to test-artifacts/ for a person to look
// at.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const artifacts = path.join(root, 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SIZES = [[1440, 900], [1024, 768], [800, 600], [390, 844]];
const TWELVE = 'Twelve at once';

let dir, server, url, browser, log;
const pageErrors = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'txxt-layout-'));
  mkdirSync(artifacts, { recursive: true });
  log = createWriteStream(path.join(artifacts, 'layout-server.log'));
  const bin = path.join(dir, 'txxt');
  execFileSync('go', ['build', '-o', bin, './cmd/txxt'], { cwd: root, stdio: 'inherit' });
  server = spawn(bin, ['serve', '--demo', '--data', path.join(dir, 'layout.db'), '--addr', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.pipe(log, { end: false });
  url = await new Promise((resolve, reject) => {
    let out = '';
    server.stdout.on('data', (b) => { out += b; log.write(b); const m = /at (http:\/\/\S+?)\/?\n/.exec(out); if (m && /demo data/.test(out)) resolve(m[1]); });
    server.on('exit', (code) => reject(new Error(`txxt serve exited with ${code} before serving`)));
  });
  browser = await chromium.launch({ executablePath: CHROMIUM });
});

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    server.removeAllListeners('exit');
    await new Promise((resolve) => { server.on('exit', resolve); server.kill('SIGTERM'); });
  }
  log?.end();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A logged-in page at a size (a phone with touch). */
async function open(width, height) {
  const phone = width < 600;
  const ctx = await browser.newContext({ viewport: { width, height }, hasTouch: phone, isMobile: phone, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${width}×${height}: ${e.message}`));
  await page.goto(url);
  await page.fill('input[name=username]', 'demo');
  await page.fill('input[name=password]', 'demo');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => window.txxt?.world.loaded && window.txxt.conn.state === 'live', null, { timeout: 15000 })
    .catch((e) => { throw new Error(`${width}×${height}: the page did not go live: ${e.message}`); });
  return page;
}

/** Waits for the grid to have drawn the current state (its base layer is keyed on it). */
const settled = (page) => page.waitForFunction(() => {
  const g = window.txxt.grid;
  g.draw();
  return g.texts.length > 0;
}, null, { timeout: 10000 });

/** Every drawn text inside its box, and the day headers apart. */
async function checkTexts(page, what) {
  const bad = await page.evaluate(() => {
    const g = window.txxt.grid, out = [];
    for (const t of g.texts) {
      const b = t.box, e = 0.5;
      if (t.x < b.x - e || t.x + t.w > b.x + b.w + e || t.y < b.y - e || t.y + t.h > b.y + b.h + e) {
        out.push(`${t.kind} "${t.text}" at ${t.x.toFixed(1)},${t.y.toFixed(1)} ${t.w.toFixed(1)}×${t.h} outside ${b.x.toFixed(1)},${b.y.toFixed(1)} ${b.w.toFixed(1)}×${b.h.toFixed(1)}`);
      }
      if (t.x < 0 || t.x + t.w > g.W + e) out.push(`${t.kind} "${t.text}" off the canvas`);
    }
    const heads = g.texts.filter((t) => t.kind === 'day' || t.kind === 'count');
    for (const a of heads) for (const b of heads) {
      if (a !== b && a.y === b.y && a.x < b.x + b.w && b.x < a.x + a.w) out.push(`headers "${a.text}" and "${b.text}" overlap`);
    }
    return out;
  });
  assert.deepEqual(bad, [], `${what}: texts leave their boxes`);
}

/** Nothing in the page leaves the screen; the bar's controls do not overlap. */
async function checkScreen(page, what) {
  const bad = await page.evaluate(() => {
    const W = innerWidth, H = innerHeight, out = [];
    const seen = (el) => el.offsetParent !== null || getComputedStyle(el).position === 'fixed';
    const boxes = [];
    for (const el of document.querySelectorAll('.bar > *, .bar .nav > *, .bar .views > *, #grid canvas, #staging, #side, #card, #overflow, #logout')) {
      if (!seen(el) || el.hidden) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < -0.5 || r.top < -0.5 || r.right > W + 0.5 || r.bottom > H + 0.5) out.push(`${el.id || el.className || el.tagName} at ${r.left},${r.top}–${r.right},${r.bottom} leaves the ${W}×${H} screen`);
      if (el.parentElement?.matches('.bar, .bar .nav, .bar .views')) boxes.push([el, r]);
    }
    for (const [a, ra] of boxes) for (const [b, rb] of boxes) {
      if (a === b || a.contains(b) || b.contains(a)) continue;
      if (ra.left < rb.right - 0.5 && rb.left < ra.right - 0.5 && ra.top < rb.bottom - 0.5 && rb.top < ra.bottom - 0.5) out.push(`${a.id || a.className} overlaps ${b.id || b.className}`);
    }
    const grid = document.querySelector('#grid canvas').getBoundingClientRect();
    if (grid.width < 200) out.push(`the grid is ${grid.width} px wide`);
    return out;
  });
  assert.deepEqual(bad, [], `${what}: on screen`);
}

test('twelve tasks in one slot: some drawn, every one reachable through its chip', async () => {
  const page = await open(1440, 900);
  // Saturday 10:00–11:00 of this week (the demo leaves weekends empty)
  const sat = await page.evaluate(() => window.txxt.week() + 5);
  await page.evaluate(async ([sat, title]) => {
    const a = window.txxt, service = [...a.world.services.keys()][0];
    await Promise.all(Array.from({ length: 12 }, (_, i) => a.send({ type: 'CreateTask', priority: 1, service, assignee: '00000000-0000-0000-0000-000000000000', date: sat, start: 600, duration: 60, text: `${title} ${i + 1}` })));
  }, [sat, TWELVE]);
  await page.waitForFunction((t) => [...window.txxt.world.tasks.values()].filter((x) => x.title.startsWith(t)).length === 12, TWELVE);
  await settled(page);
  const lay = await page.evaluate((t) => {
    const g = window.txxt.grid;
    const ids = [...window.txxt.world.tasks.values()].filter((x) => x.title.startsWith(t)).map((x) => x.id);
    const drawn = ids.filter((id) => g.byId.has(id));
    const chips = g.chips.filter((c) => c.tasks.some((x) => ids.includes(x.id)));
    const titled = drawn.filter((id) => g.texts.some((x) => x.id === id && x.kind === 'title' && x.text.length >= 3));
    return { ids, drawn, titled, chips: chips.map((c) => ({ ids: c.tasks.map((x) => x.id), rect: g.clientRect(c) })) };
  }, TWELVE);
  assert.ok(lay.drawn.length >= 2, `${lay.drawn.length} of 12 drawn`);
  assert.deepEqual(lay.titled, lay.drawn, 'every drawn one shows the start of its title');
  assert.equal(lay.chips.length, 1, 'one chip');
  assert.deepEqual([...lay.drawn, ...lay.chips[0].ids].sort(), lay.ids.sort(), 'each of the twelve is drawn or behind the chip, once');
  // the chip opens the list; each hidden task is there and selects
  const c = lay.chips[0].rect;
  await page.mouse.click(c.x + c.w / 2, c.y + 8);
  await page.waitForSelector('#overflow:not([hidden])');
  const listed = await page.$$eval('#overflow button', (bs) => bs.map((b) => b.dataset.id));
  assert.deepEqual(listed.sort(), lay.chips[0].ids.slice().sort());
  await checkScreen(page, 'the +N list');
  await page.screenshot({ path: path.join(artifacts, 'layout-overflow-1440x900.png') });
  for (const id of lay.chips[0].ids) {
    if (await page.isHidden('#overflow')) {
      await page.mouse.click(c.x + c.w / 2, c.y + 8);
      await page.waitForSelector('#overflow:not([hidden])');
    }
    await page.click(`#overflow button[data-id="${id}"]`);
    await page.waitForFunction((id) => window.txxt.state.selection === id, id);
  }
  await page.context().close();
});

test('a hover card tells title, time, service, assignee, priority and status', async () => {
  const page = await open(1440, 900);
  await settled(page);
  const it = await page.evaluate(() => {
    const g = window.txxt.grid;
    const it = g.items.find((x) => x.task.status === 1 && x.h >= 20 && window.txxt.world.users.has(x.task.assignee));
    return { id: it.task.id, p: g.grabPoint(it.task.id), d: g.describe(it.task) };
  });
  await page.mouse.move(it.p.x, it.p.y);
  await page.waitForSelector('#card:not([hidden])');
  const text = await page.textContent('#card');
  for (const v of [it.d.title, it.d.when, it.d.service, it.d.assignee, it.d.priority, it.d.status]) assert.ok(text.includes(v), `the card says ${v}: ${text}`);
  await checkScreen(page, 'the hover card');
  await page.mouse.move(5, 5);
  await page.waitForSelector('#card', { state: 'hidden' });
  await page.context().close();
});

for (const [w, h] of SIZES) {
  test(`at ${w}×${h}: nothing leaves the screen or its block, in both layouts`, async () => {
    const page = await open(w, h);
    await settled(page);
    const phone = w < 600;
    const cols = await page.evaluate(() => window.txxt.grid.cols.filter((c) => c.w >= 8).length);
    assert.equal(cols, phone ? 1 : 7, phone ? 'a phone shows one day' : 'seven days');
    if (!phone) {
      // the whole working day is on screen at 900 px high, and at least most of it below
      const fit = await page.evaluate(() => {
        const g = window.txxt.grid, s = window.txxt.settings;
        return { top: g.pointAt(g.week, s.workday_start).y, bottom: g.pointAt(g.week, s.workday_end).y, H: innerHeight };
      });
      if (h >= 900) assert.ok(fit.top >= 0 && fit.bottom <= fit.H, `the working day at ${fit.top}–${fit.bottom} fits ${fit.H}`);
    }
    await checkTexts(page, `${w}×${h} time`);
    await checkScreen(page, `${w}×${h} time`);
    await page.screenshot({ path: path.join(artifacts, `layout-time-${w}x${h}.png`) });

    // a task selected: the side panel (a sheet on a phone) stays on screen
    const id = await page.evaluate(() => window.txxt.grid.items.find((x) => x.h >= 20)?.task.id);
    if (id) {
      const p = await page.evaluate((id) => window.txxt.grid.grabPoint(id), id);
      if (phone) await page.touchscreen.tap(p.x, p.y); else await page.mouse.click(p.x, p.y);
      await page.waitForFunction((id) => window.txxt.state.selection === id, id);
      await page.waitForSelector('#side-task:not([hidden])');
      await checkScreen(page, `${w}×${h} selected`);
      await page.screenshot({ path: path.join(artifacts, `layout-selected-${w}x${h}.png`) });
      await page.keyboard.press('Escape');
      await page.evaluate(() => window.txxt.select(null));
    }
    if (w <= 1000) {
      // the bar is one line at 800 px, two on a phone; its last buttons are
      // behind ☰, on screen when it opens
      const rows = await page.evaluate(() => {
        // a line is the items whose middles lie within 12 px of its first's
        const middles = [...document.querySelectorAll('.bar > *')].map((e) => e.getBoundingClientRect()).filter((r) => r.width).map((r) => (r.top + r.bottom) / 2).sort((a, b) => a - b);
        return middles.filter((m, i) => i === 0 || m - middles[i - 1] > 12).length;
      });
      if (w === 800) assert.equal(rows, 1, 'the bar is one line at 800 px');
      if (w === 390) assert.equal(rows, 2, 'the bar is two lines on a phone');
      await page.click('#more-toggle');
      await page.waitForSelector('#logout', { state: 'visible', timeout: 10000 }).catch((e) => { throw new Error(`${w}×${h}: ☰ never showed Log out: ${e.message}`); });
      assert.equal(await page.getAttribute('#more-toggle', 'aria-expanded'), 'true');
      await checkScreen(page, `${w}×${h} menu`);
      await page.keyboard.press('Escape');
      await page.waitForSelector('#logout', { state: 'hidden', timeout: 10000 }).catch((e) => { throw new Error(`${w}×${h}: Esc never closed the ☰ menu: ${e.message}`); });
    }
    if (w <= 1000) {
      await page.click('#toggle-staging');
      await page.waitForSelector('#staging', { state: 'visible' });
      await checkScreen(page, `${w}×${h} staging`);
      await page.click('#toggle-staging');
      await page.waitForSelector('#staging', { state: 'hidden' });
    }

    await page.click('#view-person');
    await page.waitForFunction(() => window.txxt.grid.person && window.txxt.grid.rows.length > 0);
    await settled(page);
    await checkTexts(page, `${w}×${h} person`);
    await checkScreen(page, `${w}×${h} person`);
    await page.screenshot({ path: path.join(artifacts, `layout-person-${w}x${h}.png`) });
    await page.context().close();
  });
}

test('the person layout warns of a double booking; a drag to another lane reassigns', async () => {
  const page = await open(1440, 900);
  const { sun, alice, bob, service } = await page.evaluate(() => {
    const a = window.txxt, users = [...a.world.users].sort((x, y) => x[1].localeCompare(y[1]));
    return { sun: a.week() + 6, alice: users.find((u) => u[1] === 'alice')[0], bob: users.find((u) => u[1] === 'bob')[0], service: [...a.world.services.keys()][0] };
  });
  // Sunday: alice twice at once (09:00–11:00 and 10:00–11:00)
  await page.evaluate(async ([sun, alice, service]) => {
    const a = window.txxt;
    for (const [start, duration, text] of [[540, 120, 'Overbooked one'], [600, 60, 'Overbooked two']]) {
      await a.send({ type: 'CreateTask', priority: 1, service, assignee: alice, date: sun, start, duration, text });
    }
  }, [sun, alice, service]);
  await page.click('#view-person');
  await page.waitForFunction(() => window.txxt.grid.person && window.txxt.grid.rows.length > 0);
  await settled(page);
  const cell = await page.evaluate(([alice]) => {
    const g = window.txxt.grid, r = g.rows.find((r) => r.id === alice), c = r.days[6];
    const warned = g.items.filter((it) => it.warn && c.tasks.includes(it.task)).map((it) => it.task.title).sort();
    const warning = g.texts.find((t) => t.kind === 'warning' && t.box.x === g.cols[6].x && t.box.y === r.y - g.root.scrollTop);
    return { overlapping: c.overlapping.size, warned, warning: warning?.text };
  }, [alice]);
  assert.equal(cell.overlapping, 2);
  assert.deepEqual(cell.warned, ['Overbooked one', 'Overbooked two'], 'both are outlined');
  assert.match(cell.warning || '', /⚠/, 'the cell says so');
  await page.screenshot({ path: path.join(artifacts, 'layout-person-warning.png') });

  // drag "Overbooked two" from alice's lane to bob's, same day
  const id = await page.evaluate(() => [...window.txxt.world.tasks.values()].find((t) => t.title === 'Overbooked two').id);
  const from = await page.evaluate((id) => window.txxt.grid.grabPoint(id), id);
  const to = await page.evaluate(([bob, sun]) => window.txxt.grid.cellPoint(bob, sun), [bob, sun]);
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 4, from.y + 6, { steps: 2 });
  await page.mouse.move(to.x, to.y, { steps: 8 });
  await page.mouse.up();
  await page.waitForFunction(([id, bob]) => window.txxt.world.tasks.get(id).assignee === bob, [id, bob], { timeout: 10000 })
    .catch((e) => { throw new Error(`the task was not reassigned to bob: ${e.message}`); });
  const t = await page.evaluate((id) => ({ ...window.txxt.world.tasks.get(id) }), id);
  assert.deepEqual([t.date, t.start, t.duration], [sun, 600, 60], 'same day, same time');
  await page.waitForFunction(([alice]) => { const g = window.txxt.grid; g.layout(); return g.rows.find((r) => r.id === alice).days[6].overlapping.size === 0; }, [alice]);
  await page.context().close();
});

test('a phone: one day, buttons and swipes between days, hold then drag to move', async () => {
  const page = await open(390, 844);
  await settled(page);
  const d0 = await page.evaluate(() => window.txxt.state.date);
  await page.click('#next');
  await page.waitForFunction((d) => window.txxt.state.date === d + 1, d0);
  await page.click('#prev');
  await page.waitForFunction((d) => window.txxt.state.date === d, d0);
  const cdp = await page.context().newCDPSession(page);
  const touch = (type, x, y) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: type === 'touchEnd' ? [] : [{ x, y }] });
  // a sideways swipe: the next day
  await touch('touchStart', 300, 500);
  for (let x = 300; x >= 120; x -= 30) await touch('touchMove', x, 502);
  await touch('touchEnd');
  await page.waitForFunction((d) => window.txxt.state.date === d + 1, d0, { timeout: 5000 })
    .catch((e) => { throw new Error(`a swipe did not turn the day: ${e.message}`); });
  // back to a day with a task we can move: make one at 09:00 today
  await page.evaluate((d) => { window.txxt.state.set({ date: d }); window.txxt.showView(); }, d0);
  const id = await page.evaluate(async (d) => {
    const a = window.txxt, service = [...a.world.services.keys()][0];
    const ack = await a.send({ type: 'CreateTask', priority: 3, service, assignee: '00000000-0000-0000-0000-000000000000', date: d, start: 6 * 60, duration: 60, text: 'Phone drag' });
    return a.world.createdAt(ack.revision);
  }, d0);
  await page.evaluate(() => { window.txxt.grid.scrollToMinute(5 * 60); });
  await settled(page);
  const p = await page.evaluate((id) => window.txxt.grid.grabPoint(id), id);
  assert.ok(p, 'the new task is drawn');
  const k = await page.evaluate(() => window.txxt.grid.axis.scale(6 * 60)); // px per minute there
  await touch('touchStart', p.x, p.y);
  await page.waitForFunction(() => !!window.txxt.grid.drag, null, { timeout: 3000 })
    .catch((e) => { throw new Error(`holding did not pick the block up: ${e.message}`); });
  const dy = 60 * k;
  for (let i = 1; i <= 6; i++) await touch('touchMove', p.x, p.y + (dy * i) / 6);
  await touch('touchEnd');
  await page.waitForFunction((id) => window.txxt.world.tasks.get(id).start === 7 * 60, id, { timeout: 10000 })
    .catch(async (e) => { throw new Error(`the touch drag did not move the task an hour (it is at ${await page.evaluate((id) => window.txxt.world.tasks.get(id).start, id)}): ${e.message}`); });
  await page.screenshot({ path: path.join(artifacts, 'layout-phone-after-drag.png') });

  // the staging list, one tap away: drag a staged task out of it onto the day
  await page.click('#toggle-staging');
  const li = page.locator('#staged li[data-id]').first();
  await li.waitFor();
  const staged = await li.getAttribute('data-id');
  const b = await li.boundingBox();
  const to = await page.evaluate((d) => window.txxt.grid.pointAt(d, 8 * 60 + 10), d0);
  await touch('touchStart', b.x + 30, b.y + b.height / 2);
  for (let i = 1; i <= 8; i++) await touch('touchMove', b.x + 30 + ((to.x - b.x - 30) * i) / 8, b.y + b.height / 2 + ((to.y - b.y - b.height / 2) * i) / 8);
  await touch('touchEnd');
  await page.waitForFunction(([id, d]) => { const t = window.txxt.world.tasks.get(id); return t.status === 1 && t.date === d && t.start === 480; }, [staged, d0], { timeout: 10000 })
    .catch((e) => { throw new Error(`the staged task was not scheduled at 08:00 by touch: ${e.message}`); });
  assert.equal(await page.isHidden('#staging'), true, 'the drawer closed after the drop');
  await page.context().close();
});

test('no page errors', () => {
  assert.deepEqual(pageErrors, []);
});
