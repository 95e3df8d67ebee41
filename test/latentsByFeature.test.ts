// metrics/latentsByFeature.ts: LayerAccumulator's feature-major walk relies on every entry coming back, grouped by
// feature, in the order it was pushed (token order), so that per-feature float64 sums and contexts do not change.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LatentsByFeature } from '../src/engine/metrics/latentsByFeature';

test('entries come back grouped by feature, each feature in push order, across growth and reuse', () => {
  const width = 50;
  const u = new LatentsByFeature(width);
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (const count of [0, 1, 3000, 17]) {
    u.clear();
    const pushed: [number, number, number, number][] = [];
    for (let i = 0; i < count; i++) {
      // features repeat often (50 of them), tokens ascend as a chunk's do
      const entry: [number, number, number, number] = [next() % width, i >> 3, (next() % 1000) / 7, (next() % 1000) / 9];
      pushed.push(entry);
      u.push(...entry);
    }
    u.sort();
    assert.equal(u.count, count);
    let p = 0;
    for (let f = 0; f < width; f++) {
      const expected = pushed.filter((e) => e[0] === f);
      const got: [number, number, number, number][] = [];
      for (; p < u.end[f]; p++) got.push([f, u.tokenAt[p], u.zbAt[p], u.zsAt[p]]);
      assert.deepEqual(
        got,
        expected.map(([feature, token, zb, zs]) => [feature, token, Math.fround(zb), Math.fround(zs)]),
        `feature ${f} of ${count} entries`,
      );
    }
    assert.equal(p, count, 'every entry placed once');
  }
});
