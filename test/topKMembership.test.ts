/**
 * The dense graph's top-k sets (sae/topKMembership.ts): above 2048 columns they are taken in two levels so
 * that WebGPU sorts rows in workgroup memory; the sets must be exactly those of one TopK, ties included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { SeededRandom } from '../src/engine/core/seededRandom';
import { createSession } from '../src/engine/runtime/session';
import { encodeModel, FLOAT, GraphBuilder, INT64, tensorInfo } from '../src/engine/sae/graphBuilder';
import { addTopKMembership } from '../src/engine/sae/topKMembership';

/** docs/metrics.md's K(t): the k largest codes (ties to the lower index), those above 0. */
function referenceMask(z: Float32Array, n: number, m: number, k: number): Float32Array {
  const mask = new Float32Array(n * m);
  for (let t = 0; t < n; t++) {
    const row = z.subarray(t * m, (t + 1) * m);
    const order = Array.from({ length: m }, (_, f) => f).sort((a, b) => row[b] - row[a] || a - b);
    for (const f of order.slice(0, k)) if (row[f] > 0) mask[t * m + f] = 1;
  }
  return mask;
}

async function graphMask(z: Float32Array, n: number, m: number, k: number): Promise<Float32Array> {
  const g = new GraphBuilder();
  g.one('Identity', [addTopKMembership(g, 'z', 'k', m, 'topk')], [], 'mask');
  const graph = encodeModel(
    g,
    'topk_membership',
    [tensorInfo('z', FLOAT, ['n', m]), tensorInfo('k', INT64, [1])],
    [tensorInfo('mask', FLOAT, ['n', m])],
  );
  const session = await createSession(graph, { provider: 'cpu', threads: 1 }, 'the top-k membership graph');
  try {
    const out = await session.run({
      z: new ort.Tensor('float32', z, [n, m]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    });
    return out.mask.data as Float32Array;
  } finally {
    await session.release();
  }
}

test('top-k sets: one TopK up to 2048 columns, two levels above (padded or not), equal to the reference with ties, zeros and k above a block', async () => {
  const rng = new SeededRandom(7);
  for (const [m, ks] of [
    [300, [1, 64, 300]],
    [2048, [64]],
    [5000, [1, 64, 2100, 5000]],
    [6144, [64, 2048]],
  ] as const) {
    const n = 6;
    // few distinct values: many ties across blocks and within them; about half the codes are 0
    const z = Float32Array.from({ length: n * m }, () => (rng.uniform() < 0.5 ? 0 : Math.floor(rng.uniform() * 8) / 4));
    // one row with fewer active codes than k: the set is the active ones
    z.fill(0, 0, m);
    z[3] = 1;
    z[m - 1] = 1;
    for (const k of ks) {
      const got = await graphMask(z, n, m, k);
      const want = referenceMask(z, n, m, k);
      const differs = got.findIndex((v, i) => v !== want[i]);
      assert.equal(differs, -1, `m ${m}, k ${k}: first difference at row ${Math.floor(differs / m)}, feature ${differs % m}`);
    }
  }
});
