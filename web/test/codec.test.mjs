// The JavaScript codec against the golden vectors the Go codec is tested
// with (wire/testdata/golden.json): every server frame decodes to its
// fields, every client frame encodes to its bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeServer, encodeClient, FrameError, T, DEFAULT_SCHEDULE } from '../js/codec.js';

const golden = JSON.parse(readFileSync(new URL('../../wire/testdata/golden.json', import.meta.url)));
const bytes = (hex) => Uint8Array.from(hex.replace(/\s+/g, '').match(/../g) ?? [], (h) => parseInt(h, 16));

test('there are vectors in both directions and versions', () => {
  const kinds = new Set(golden.map((v) => `${v.dir}/${v.version}`));
  assert.deepEqual([...kinds].sort(), ['client/0', 'client/1', 'server/0', 'server/1']);
});

for (const v of golden) {
  test(v.name, () => {
    const raw = bytes(v.hex);
    if (v.dir === 'server') {
      assert.deepEqual(decodeServer(raw, v.version === 1), v.fields);
      // One byte short is an error, not a quietly different frame (except
      // where the frame ends in free text: Welcome, Error, ServerState).
      // A v1 ScheduleChanged, or Snapshot ending with its schedule, one
      // byte short is the layout of before working days (protocol 3),
      // read as Monday to Friday.
      const endsWithSchedule = v.fields.type === 'ScheduleChanged' ||
        (v.fields.type === 'Snapshot' && !v.fields.holidays.length && !v.fields.timeOff.length);
      if (v.version === 1 && !v.decodeOnly && endsWithSchedule) {
        const older = decodeServer(raw.subarray(0, raw.length - 1), true);
        assert.deepEqual(older.schedule, { ...v.fields.schedule, workingDays: 0x1f });
      } else if (!['Welcome', 'Error', 'ServerState'].includes(v.fields.type)) {
        assert.throws(() => decodeServer(raw.subarray(0, raw.length - 1), v.version === 1), FrameError);
      }
    } else {
      assert.deepEqual(encodeClient(v.fields, v.version === 1), raw);
    }
  });
}

test('the original protocol has no v1 frames', () => {
  const ack = bytes('f1 2a000000 0900000000000000');
  assert.throws(() => decodeServer(ack, false), FrameError);
  assert.equal(decodeServer(ack, true).type, 'Ack');
  assert.throws(() => encodeClient({ type: 'RenameTask', task: '', text: 'x' }, false), FrameError);
});

test('unknown and empty frames are errors', () => {
  assert.throws(() => decodeServer(new Uint8Array([0x77]), true), FrameError);
  assert.throws(() => decodeServer(new Uint8Array(0), true), FrameError);
  assert.throws(() => encodeClient({ type: 'Snapshot' }, true), FrameError);
});

test('a 5,000-task snapshot decodes', () => {
  // Built from the golden v1 Snapshot's task record, repeated.
  const one = golden.find((v) => v.name === 'v1 Snapshot');
  const raw = bytes(one.hex);
  const n = one.fields.tasks.length;
  assert.ok(n >= 1);
  const rec = raw.subarray(17, 17 + 192);
  const tail = raw.subarray(17 + 192 * n);
  const big = new Uint8Array(17 + 192 * 5000 + tail.length);
  big.set(raw.subarray(0, 17));
  new DataView(big.buffer).setUint32(9, 5000, true);
  for (let i = 0; i < 5000; i++) big.set(rec, 17 + 192 * i);
  big.set(tail, 17 + 192 * 5000);
  const snap = decodeServer(big, true);
  assert.equal(snap.tasks.length, 5000);
  assert.deepEqual(snap.tasks[4999], one.fields.tasks[0]);
  assert.equal(T.Snapshot, 1);
});

test('the snapshot trailer is all there or not at all', () => {
  const full = bytes(golden.find((v) => v.name === 'v1 Snapshot').hex);
  const old = bytes(golden.find((v) => v.name.startsWith('v1 Snapshot, written before the trailer')).hex);
  assert.equal(full.length - old.length, 5 * 1 + 70, 'one service: its colour and archive, then the schedule');
  for (const n of [old.length + 1, old.length + 5, full.length - 2]) {
    assert.throws(() => decodeServer(full.subarray(0, n), true), FrameError, `${n} bytes`);
  }
  const bad = full.slice();
  bad[old.length + 4] = 2; // the first service's archived byte
  assert.throws(() => decodeServer(bad, true), FrameError);
  // An old snapshot reads with the defaults.
  const s = decodeServer(old, true);
  assert.deepEqual(s.schedule, DEFAULT_SCHEDULE);
  assert.deepEqual(s.services.map((x) => [x.color, x.archived]), [[0, false]]);
});

test('the administration frames are txxt.v1 only, and their flags are 0 or 1', () => {
  const archived = bytes(golden.find((v) => v.name === 'v1 ServiceArchived').hex);
  assert.throws(() => decodeServer(archived, false), FrameError);
  const two = archived.slice();
  two[25] = 2;
  assert.throws(() => decodeServer(two, true), FrameError);
  for (const type of ['RecolorService', 'ArchiveService', 'SetSchedule']) {
    assert.throws(() => encodeClient({ type, service: '', timeZone: 'UTC' }, false), FrameError, type);
  }
  assert.throws(() => encodeClient({ type: 'ServiceRecolored' }, true), FrameError);
});
