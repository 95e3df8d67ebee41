import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_METRICS } from '../src/engine/config/types';
import { categorize, layerMetrics, shiftedFeatures } from '../src/engine/metrics/finalize';
import { LayerAccumulator } from '../src/engine/metrics/layerAccumulator';
import type { ProjectionOutputs } from '../src/engine/sae/projectionOutputs';
import { CODE_BLOCK } from '../src/engine/sae/saeGraph';

/** The projection outputs for dense codes zb, zs ([n][m], m a multiple of CODE_BLOCK), as the graph emits them. */
function outputsFor(zb: number[][], zs: number[][]): ProjectionOutputs {
  const blocks = (z: number[][]) => {
    const idx: bigint[] = [],
      vals: number[] = [];
    z.forEach((row, r) => {
      for (let b = 0; b < row.length / CODE_BLOCK; b++) {
        const chunk = row.slice(b * CODE_BLOCK, (b + 1) * CODE_BLOCK);
        if (chunk.some((v) => v > 0)) {
          idx.push(BigInt(r), BigInt(b));
          vals.push(...chunk);
        }
      }
    });
    return {
      idx: { data: BigInt64Array.from(idx), dims: [idx.length / 2, 2] },
      val: { data: Float32Array.from(vals), dims: [vals.length / CODE_BLOCK, CODE_BLOCK] },
    };
  };
  const n = zb.length;
  const ones = { data: new Float32Array(n).fill(1), dims: [n] };
  const b = blocks(zb),
    s = blocks(zs);
  return {
    dot_h: ones,
    sq_hb: ones,
    sq_hs: ones,
    dot_r: ones,
    sq_rb: ones,
    sq_rs: ones,
    err_b: { data: new Float32Array(n), dims: [n] },
    err_s: { data: new Float32Array(n), dims: [n] },
    sq_dh: ones,
    dh_dr: ones,
    dh_de: { data: new Float32Array(n), dims: [n] },
    sum_hb: { data: new Float32Array(2), dims: [2] },
    sum_hs: { data: new Float32Array(2), dims: [2] },
    blk_b: b.idx,
    blkval_b: b.val,
    blk_s: s.idx,
    blkval_s: s.val,
  };
}

const m = 16;
const row = (entries: Record<number, number>) => Array.from({ length: m }, (_, i) => entries[i] ?? 0);

test('feature-wise metrics from sparse codes equal a hand computation (top-k ties go to the lower index)', () => {
  // token 0: base {1: 3, 2: 2, 9: 2, 12: 1}, sft {2: 2, 9: 1, 15: 5}; token 1: nothing active in either
  const zb = [row({ 1: 3, 2: 2, 9: 2, 12: 1 }), row({})];
  const zs = [row({ 2: 2, 9: 1, 15: 5 }), row({})];
  const acc = new LayerAccumulator(m, 2, 2);
  acc.add(outputsFor(zb, zs), 2, 2, Int32Array.from([0, 0]), Int32Array.from([1, 2]));
  const metrics = layerMetrics(acc);
  // K_b(0) = top-2 of {1:3, 2:2, 9:2} -> {1, 2} (2 beats 9 on the tie); K_s(0) = {15, 2}: J = 1/3; token 1: J(∅, ∅) = 1
  assert.equal(metrics.feature_overlap, (1 / 3 + 1) / 2);
  // A_b = {1,2,9,12}, A_s = {2,9,15}: J = 2/5; token 1: 1
  assert.equal(metrics.active_jaccard, (2 / 5 + 1) / 2);
  // |z_s - z_b|_1 = 3 + 0 + 1 + 1 + 5 = 10; |z_b|_1 + |z_s|_1 = 8 + 8
  assert.equal(metrics.l1_divergence, 10 / 16);
  assert.equal(metrics.l0_base, 2);
  assert.equal(metrics.l0_sft, 1.5);
  assert.deepEqual([acc.cntB[9], acc.cntS[9], acc.sumZb[9], acc.sumZs[9], acc.sumDiff[9]], [1, 1, 2, 1, 1]);
  assert.deepEqual(acc.ctxSft.list(15), [{ activation: 5, sample: 0, position: 1 }]);
});

test('category rules follow docs/metrics.md in order', () => {
  const c = DEFAULT_METRICS;
  assert.equal(categorize({ freq_base: 0, freq_sft: 0.01, mean_base: 0, mean_sft: 1, mean_abs_diff: 1 }, c), 'emerged');
  assert.equal(categorize({ freq_base: 0.01, freq_sft: 0, mean_base: 1, mean_sft: 0, mean_abs_diff: 1 }, c), 'vanished');
  assert.equal(categorize({ freq_base: 0.01, freq_sft: 0.01, mean_base: 1, mean_sft: 1.5, mean_abs_diff: 1 }, c), 'amplified');
  assert.equal(categorize({ freq_base: 0.01, freq_sft: 0.01, mean_base: 1, mean_sft: 0.5, mean_abs_diff: 1 }, c), 'suppressed');
  assert.equal(categorize({ freq_base: 0.01, freq_sft: 0.01, mean_base: 1, mean_sft: 1.2, mean_abs_diff: 1 }, c), undefined);
  assert.equal(
    categorize({ freq_base: 0.0005, freq_sft: 0.0005, mean_base: 1, mean_sft: 3, mean_abs_diff: 1 }, c),
    undefined,
    'too rare to count',
  );
});

test('significance: a shift planted as pure noise is rejected, a real shift is kept', () => {
  // Feature 3 fires at random on 0.4% of tokens in base and in sft alike (pure noise); among a few seeds,
  // one whose counts differ enough by chance to get a raw category is planted. Feature 5 fires on 20% of
  // tokens in both, twice as strongly in the fine-tune (a real shift).
  const n = 4000;
  const build = (seed: number) => {
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const zb: number[][] = [],
      zs: number[][] = [];
    for (let t = 0; t < n; t++) {
      const b: Record<number, number> = {},
        s: Record<number, number> = {};
      if (rand() < 0.004) b[3] = 0.5 + rand();
      if (rand() < 0.004) s[3] = 0.5 + rand();
      if (t % 5 === 0) {
        b[5] = 1 + rand() * 0.1;
        s[5] = 2 + rand() * 0.1;
      }
      zb.push(row(b));
      zs.push(row(s));
    }
    const acc = new LayerAccumulator(m, 2, 0);
    acc.add(outputsFor(zb, zs), n, 4, new Int32Array(n), new Int32Array(n));
    return shiftedFeatures(acc, DEFAULT_METRICS);
  };
  let list: ReturnType<typeof shiftedFeatures> | undefined;
  for (let seed = 1; seed <= 60 && !list?.all.some((f) => f.id === 3); seed++) list = build(seed);
  const noise = list!.all.find((f) => f.id === 3);
  const real = list!.all.find((f) => f.id === 5)!;
  assert.ok(noise, 'chance gives the noise feature a raw category for some seed');
  assert.equal(real.category, 'amplified');
  assert.equal(real.significant, true);
  assert.equal(noise.significant, false, `p ${noise.p_value}, q ${noise.q_value}`);
  assert.equal(list!.significantCounts[real.category], 1);
});
