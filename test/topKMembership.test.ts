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
import { addTopKIds, addTopKMembership, type TopKSets } from '../src/engine/sae/topKMembership';
import { checkActivations, checkRows, checkSae } from '../src/engine/pipeline/kernelCheckData';
import { HISTOGRAM_EDGES } from '../src/engine/sae/histogramEdges';
import { buildReducedGraph, TOKEN_SUMS } from '../src/engine/sae/reducedGraph';

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

async function graphIds(z: Float32Array, n: number, m: number, k: number): Promise<Float32Array> {
  const g = new GraphBuilder();
  g.one('Identity', [addTopKIds(g, 'z', 'k', m, 'topk', -1)], [], 'ids');
  const graph = encodeModel(
    g,
    'topk_ids',
    [tensorInfo('z', FLOAT, ['n', m]), tensorInfo('k', INT64, [1])],
    [tensorInfo('ids', FLOAT, ['n', 'k'])],
  );
  const session = await createSession(graph, { provider: 'cpu', threads: 1 }, 'the top-k ids graph');
  try {
    const out = await session.run({
      z: new ort.Tensor('float32', z, [n, m]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    });
    return out.ids.data as Float32Array;
  } finally {
    await session.release();
  }
}

test('top-k sets as feature ids: the reference set of every row, absent members marked, one level and two (padded or not)', async () => {
  const rng = new SeededRandom(11);
  for (const [m, ks] of [
    [300, [1, 64, 300]],
    [5000, [1, 64, 2100, 5000]],
    [6144, [64, 2048]],
  ] as const) {
    const n = 6;
    const z = Float32Array.from({ length: n * m }, () => (rng.uniform() < 0.5 ? 0 : Math.floor(rng.uniform() * 8) / 4));
    z.fill(0, 0, m);
    z[3] = 1;
    z[m - 1] = 1;
    for (const k of ks) {
      const ids = await graphIds(z, n, m, k);
      const want = referenceMask(z, n, m, k);
      for (let t = 0; t < n; t++) {
        const row = Array.from(ids.subarray(t * k, (t + 1) * k));
        const members = row.filter((f) => f >= 0).sort((a, b) => a - b);
        const expected = [...want.subarray(t * m, (t + 1) * m)].flatMap((v, f) => (v ? [f] : []));
        assert.deepEqual(members, expected, `m ${m}, k ${k}, row ${t}`);
        assert.equal(row.length - members.length, k - expected.length, `m ${m}, k ${k}, row ${t}: the absent ones`);
        assert.ok(
          row.every((f) => f >= 0 || f === -1),
          'absent members are marked -1',
        );
      }
    }
  }
});

test('the dense graph gives the same outputs with top-k sets as ids and as masks (3,000 latents: two levels, the last block padded)', async () => {
  const sae = checkSae({ architecture: 'standard', normalization: 'none', applyBDecToInput: true }, 3000);
  const { base, fineTune } = checkActivations();
  const rows = checkRows().flat;
  const outputs = async (sets: TopKSets, k: number) => {
    const session = await createSession(
      buildReducedGraph(sae, HISTOGRAM_EDGES, {}, sets),
      { provider: 'cpu', threads: 1 },
      `the dense graph (${sets})`,
    );
    try {
      const out = await session.run({
        hb: base.tensor,
        hs: fineTune.tensor,
        rows: new ort.Tensor('int32', rows, [rows.length]),
        k_top: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
        k_ctx: new ort.Tensor('int64', BigInt64Array.of(3n), [1]),
        dmean: new ort.Tensor('float32', new Float32Array(sae.dIn), [1, sae.dIn]),
      });
      return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, Array.from(t.data as Float32Array)]));
    } finally {
      await session.release();
    }
  };
  for (const k of [16, 50]) {
    const [ids, masks] = [await outputs('ids', k), await outputs('masks', k)];
    assert.deepEqual(ids, masks, `k ${k}`);
    const overlap = ids.token_sums[TOKEN_SUMS.indexOf('overlap')] / rows.length;
    assert.ok(
      overlap > 0.05 && overlap < 0.95,
      `k ${k}: the sets differ between the models on some tokens and agree on others (${overlap})`,
    );
  }
});
