/**
 * The dense graph's top-context candidates (sae/contextCandidates.ts): taken in blocks of tokens, then over the
 * blocks' candidates; values and rows must be exactly those of one sort over all rows, ties to the earlier row.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { SeededRandom } from '../src/engine/core/seededRandom';
import { createSession } from '../src/engine/runtime/session';
import { addContextCandidates, CONTEXT_BLOCK_TOKENS, contextChunkCap } from '../src/engine/sae/contextCandidates';
import { encodeModel, FLOAT, GraphBuilder, INT64, tensorInfo } from '../src/engine/sae/graphBuilder';

/** Per feature, the k highest (value, row) by value descending then row ascending. */
function reference(z: Float32Array, n: number, m: number, k: number): { values: number[]; rows: number[] } {
  const values: number[] = new Array(k * m),
    rows: number[] = new Array(k * m);
  for (let f = 0; f < m; f++) {
    const order = Array.from({ length: n }, (_, t) => t).sort((a, b) => z[b * m + f] - z[a * m + f] || a - b);
    order.slice(0, k).forEach((t, j) => {
      values[j * m + f] = z[t * m + f];
      rows[j * m + f] = t;
    });
  }
  return { values, rows };
}

test('top contexts in blocks of tokens: the values and rows of one sort, ties to the earlier row, for chunks of any length', async () => {
  const g = new GraphBuilder();
  addContextCandidates(g, 'z', 'k', 'ctx', { values: 'values', rows: 'rows' });
  const graph = encodeModel(
    g,
    'context_candidates',
    [tensorInfo('z', FLOAT, ['n', 'm']), tensorInfo('k', INT64, [1])],
    [tensorInfo('values', FLOAT, ['k', 'm']), tensorInfo('rows', 6, ['k', 'm'])],
  );
  const session = await createSession(graph, { provider: 'cpu', threads: 1 }, 'the context candidates graph');
  const rng = new SeededRandom(11);
  const m = 7;
  try {
    const B = CONTEXT_BLOCK_TOKENS;
    for (const n of [1, 3, B - 1, B, B + 1, 3 * B + 5, 2048]) {
      // few distinct values: ties within and across blocks; most codes 0, as in an SAE
      const z = Float32Array.from({ length: n * m }, () => (rng.uniform() < 0.7 ? 0 : Math.floor(rng.uniform() * 4) / 2));
      for (const k of [...new Set([1, Math.min(5, n), Math.min(B + 3, n), n])]) {
        const out = await session.run({
          z: new ort.Tensor('float32', z, [n, m]),
          k: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
        });
        const want = reference(z, n, m, k);
        assert.deepEqual(out.values.dims, [k, m]);
        assert.deepEqual(Array.from(out.values.data as Float32Array), want.values, `n ${n}, k ${k}: values`);
        assert.deepEqual(Array.from(out.rows.data as Int32Array), want.rows, `n ${n}, k ${k}: rows`);
      }
    }
  } finally {
    await session.release();
  }
});

test('WebGPU chunk cap: the blocks of a chunk leave at most 2048 candidates to sort, whatever top_contexts', () => {
  for (const contexts of [0, 1, 5, 50, 64, 200]) {
    const cap = contextChunkCap(contexts);
    const candidates = (cap / CONTEXT_BLOCK_TOKENS) * Math.min(Math.max(1, contexts), CONTEXT_BLOCK_TOKENS);
    assert.ok(cap % CONTEXT_BLOCK_TOKENS === 0 && candidates <= 2048 && candidates > 2048 - CONTEXT_BLOCK_TOKENS, `${contexts}: ${cap}`);
  }
  assert.equal(contextChunkCap(5), 26_176);
  assert.equal(contextChunkCap(50), 2_560);
});
