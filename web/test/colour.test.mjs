// Every text the grid draws, on every block colour in every status, meets
// WCAG AA (4.5:1): computed, not eyeballed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PALETTE, AA, contrast, luminance, textPairs, blockColours, tint, hex } from '../js/colour.js';

test('the contrast ratio is WCAG\'s', () => {
  assert.equal(contrast('#000000', '#ffffff'), 21);
  assert.equal(contrast('#777777', '#777777'), 1);
  assert.ok(Math.abs(contrast('#767676', '#ffffff') - 4.54) < 0.01, 'the well-known AA grey');
  assert.ok(Math.abs(luminance('#ffffff') - 1) < 1e-12);
});

test('every text on every block colour, in every status, and on the grid itself reaches AA', () => {
  const pairs = textPairs(PALETTE);
  assert.ok(pairs.length >= PALETTE.length * 6);
  const bad = pairs.filter((p) => contrast(p.fg, p.bg) < AA).map((p) => `${p.name}: ${p.fg} on ${p.bg} is ${contrast(p.fg, p.bg).toFixed(2)}:1`);
  assert.deepEqual(bad, []);
});

test('any service colour, not only the palette\'s, gets readable blocks', () => {
  // A grey ramp and a colour wheel at several lightnesses: the colours a
  // team could pick.
  const colours = [];
  for (let v = 0; v <= 255; v += 15) colours.push(hex([v, v, v]));
  for (let h = 0; h < 360; h += 15) {
    for (const l of [0.25, 0.5, 0.75]) {
      const c = (1 - Math.abs(2 * l - 1)), x = c * (1 - Math.abs(((h / 60) % 2) - 1)), m = l - c / 2;
      const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
      colours.push(hex([(r + m) * 255, (g + m) * 255, (b + m) * 255]));
    }
  }
  for (const c of colours) {
    for (const status of [1, 2, 3]) {
      const b = blockColours(c, status);
      assert.ok(contrast(b.fg, b.bg) >= AA, `${c} status ${status}: title ${contrast(b.fg, b.bg).toFixed(2)}`);
      assert.ok(contrast(b.sub, b.bg) >= AA, `${c} status ${status}: time ${contrast(b.sub, b.bg).toFixed(2)}`);
    }
  }
  assert.equal(tint('#000000', 0), '#ffffff');
});
