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

/** Runs addTopKMembership (a mask [n, m]) or addTopKIds (the members' ids [n, k], absent ones -1) on z. */
async function topKGraph(kind: 'mask' | 'ids', z: Float32Array, n: number, m: number, k: number): Promise<Float32Array> {
  const g = new GraphBuilder();
  const sets = kind === 'mask' ? addTopKMembership(g, 'z', 'k', m, 'topk') : addTopKIds(g, 'z', 'k', m, 'topk', -1);
  g.one('Identity', [sets], [], 'sets');
  const graph = encodeModel(
    g,
    `topk_${kind}`,
    [tensorInfo('z', FLOAT, ['n', m]), tensorInfo('k', INT64, [1])],
    [tensorInfo('sets', FLOAT, ['n', kind === 'mask' ? m : 'k'])],
  );
  const session = await createSession(graph, { provider: 'cpu', threads: 1 }, `the top-k ${kind} graph`);
  try {
    const out = await session.run({
      z: new ort.Tensor('float32', z, [n, m]),
      k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
    });
    return out.sets.data as Float32Array;
  } finally {
    await session.release();
  }
}

/**
 * n rows of m codes with few distinct values (many ties across blocks and within them), about half of them 0; the
 * first row has fewer active codes than any k tried (two), so its set is the active ones.
 */
function tiedCodes(rng: SeededRandom, n: number, m: number): Float32Array {
  const z = Float32Array.from({ length: n * m }, () => (rng.uniform() < 0.5 ? 0 : Math.floor(rng.uniform() * 8) / 4));
  z.fill(0, 0, m);
  z[3] = 1;
  z[m - 1] = 1;
  return z;
}

/** Widths and k: one level (up to 2048 columns), two (a multiple of 2048 or padded), k above a block. */
const SHAPES = [
  [300, [1, 64, 300]],
  [2048, [64]],
  [5000, [1, 64, 2100, 5000]],
  [6144, [64, 2048]],
] as const;
const ROWS = 6;

test('top-k sets: one TopK up to 2048 columns, two levels above (padded or not), equal to the reference with ties, zeros and k above a block', async () => {
  const rng = new SeededRandom(7);
  for (const [m, ks] of SHAPES) {
    const z = tiedCodes(rng, ROWS, m);
    for (const k of ks) {
      const got = await topKGraph('mask', z, ROWS, m, k);
      const want = referenceMask(z, ROWS, m, k);
      const differs = got.findIndex((v, i) => v !== want[i]);
      assert.equal(differs, -1, `m ${m}, k ${k}: first difference at row ${Math.floor(differs / m)}, feature ${differs % m}`);
    }
  }
});

test('top-k sets as feature ids: the reference set of every row, absent members marked, one level and two (padded or not)', async () => {
  const rng = new SeededRandom(11);
  for (const [m, ks] of SHAPES) {
    const z = tiedCodes(rng, ROWS, m);
    for (const k of ks) {
      const ids = await topKGraph('ids', z, ROWS, m, k);
      const want = referenceMask(z, ROWS, m, k);
      for (let t = 0; t < ROWS; t++) {
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
