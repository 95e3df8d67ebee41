import { onnx } from 'onnx-proto';
import type { GraphWithWeights } from '../runtime/session';
import type { SaeWeights } from './loadSae';
import { encodeModel, float, FLOAT, GraphBuilder, type GraphOptions, int, INT32, INT64, tensorInfo } from './graphBuilder';
import { addEncoder, addPreActivationShift, addWeights } from './saeGraph';
import { addContextCandidates } from './contextCandidates';
import { addTopKIds, addTopKMembership, type TopKSets } from './topKMembership';

/**
 * Per-token metrics summed over the chunk's tokens, in this order ([TOKEN_SUMS.length] float32). Each is
 * the sum over T of what LayerAccumulator.add sums per token (see metrics/layerAccumulator.ts).
 */
export const TOKEN_SUMS = [
  'cos_h',
  'cos_r',
  'norm_b',
  'norm_s',
  'err_b',
  'err_s',
  'sq_b',
  'sq_s',
  'delta_sq',
  'inside',
  'outside',
  'jaccard',
  'overlap',
] as const;

/**
 * Per-feature sums over the chunk's tokens, rows of the `features` output ([FEATURE_SUMS.length, m]):
 * firing counts, sums of z, sum |z_s - z_b| and sum (z_s - z_b)^2.
 */
export const FEATURE_SUMS = ['cnt_b', 'cnt_s', 'sum_zb', 'sum_zs', 'sum_diff', 'sum_sq_diff'] as const;

/**
 * The dense-reduce projection graph: the same encoder as the sparse graph (saeGraph.ts), but every
 * quantity is reduced over the chunk's tokens inside the graph, so a run reads back O(m + d) numbers
 * per chunk instead of O(tokens x L0) codes. Built for GPU providers, where a round trip per batch and
 * host-side accumulation are what cost; exact on any provider.
 *
 * Inputs:
 * - hb, hs: the hooked activations of base and fine-tune, any rank with last dim d ([batch, seq, d] as
 *   the model emits them, possibly still on the device), flattened to [M, d] here;
 * - rows [n] int32: which of the M rows are this chunk's evaluated tokens (T), in (sample, position) order;
 * - k_top [1] int64: sae.k (the top-k of feature_overlap), at most m;
 * - k_ctx [1] int64: contexts kept per feature, 1 <= k_ctx <= n;
 * - dmean [1, d]: as in the sparse graph (pre-activation shift at the end of a run).
 * Outputs: token_sums [13], features [6, m], sum_hb / sum_hs [d], per-feature top-k_ctx values and
 * rows of each model (ctx_val_* [k_ctx, m] float32, ctx_row_* [k_ctx, m] int32), dpre [1, m], and for
 * the activation histograms hist_b / hist_s [E, m]: Σ_t (z > e_i) for each of the E histogramEdges.
 * `topKSets`: how feature_overlap compares the top-k sets (sae/topKMembership.ts's topKSetsFor picks by k and m).
 */
export function buildReducedGraph(
  sae: SaeWeights,
  histogramEdges: readonly number[],
  options: GraphOptions = {},
  topKSets: TopKSets = 'masks',
): GraphWithWeights {
  if (histogramEdges.length === 0) throw new Error('buildReducedGraph: no histogram edges');
  const g = new GraphBuilder(options);
  const d = sae.dIn,
    m = sae.dSae;
  addWeights(g, sae);
  g.ints('axis0', [0]);
  g.ints('axis1', [1]);
  g.ints('flat_shape', [-1, d]);
  g.floats('zero_f', Float32Array.of(0), []);
  g.floats('one_f', Float32Array.of(1), []);

  const xb = g.one('Gather', [g.one('Reshape', ['hb', 'flat_shape']), 'rows'], [int('axis', 0)]);
  const xs = g.one('Gather', [g.one('Reshape', ['hs', 'flat_shape']), 'rows'], [int('axis', 0)]);
  const b = addEncoder(g, sae, xb, 'b');
  const s = addEncoder(g, sae, xs, 's');
  // codes are >= 0 in every architecture (sae/loadSae.ts raises a JumpReLU's negative thresholds to 0)
  const zb = b.z,
    zs = s.z;

  const rowSum = (t: string) => g.one('ReduceSum', [t, 'axis1'], [int('keepdims', 0)]);
  const rowSq = (t: string) => rowSum(g.one('Mul', [t, t]));
  const total = (t: string) => g.one('ReduceSum', [t, 'axis0'], [int('keepdims', 1)]);
  // Sums of [n, columns] terms over the chunk's tokens, as [1, columns]: a product with a row of n ones. ONNX
  // Runtime's WebGPU ReduceSum over axis 0 transposes its input first (a pass that writes all n x columns, then
  // one that reads them again); the product reads the input once. Exact for counts (integers below 2^24).
  g.floats('one_row', Float32Array.of(1), [1, 1]);
  g.ints('one_dim', [1]);
  const onesRow = g.one('Expand', ['one_row', g.one('Concat', ['one_dim', g.one('Shape', ['rows'])], [int('axis', 0)])]);
  const columnSums = (t: string) => g.one('MatMul', [onesRow, t]);
  const where = (c: string, a: string, e: string) => g.one('Where', [c, a, e]);
  const eq = (a: string, e: string) => g.one('Equal', [a, e]);

  // Conditions are nested Wheres rather than And / Or / Max: WebGPU kernels of those are not certain in every
  // ONNX Runtime build, and one left to the CPU would copy each chunk's per-token values to the host and back.
  /** docs/metrics.md's cos: 1 when both are zero, 0 when one is; u = v gives exactly 1 on every provider. */
  const cosine = (dot: string, sqA: string, sqB: string) => {
    const raw = g.one('Div', [dot, g.one('Sqrt', [g.one('Mul', [sqA, sqB])])]);
    const unlessOneZero = where(eq(sqA, 'zero_f'), 'zero_f', where(eq(sqB, 'zero_f'), 'zero_f', raw));
    // Cauchy-Schwarz equality: u = v (both zero included)
    return where(eq(dot, sqA), where(eq(sqA, sqB), 'one_f', unlessOneZero), unlessOneZero);
  };
  /** J(X, Y) from |X ∩ Y| and |X|, |Y|, with J(∅, ∅) = 1. */
  const jaccard = (both: string, nb: string, ns: string) => {
    const union = g.one('Sub', [g.one('Add', [nb, ns]), both]);
    const empty = eq(union, 'zero_f');
    return where(empty, 'one_f', g.one('Div', [both, where(empty, 'one_f', union)]));
  };

  const sqB = rowSq(xb),
    sqS = rowSq(xs);
  const cosH = cosine(rowSum(g.one('Mul', [xb, xs])), sqB, sqS);
  const sqRb = rowSq(b.r),
    sqRs = rowSq(s.r);
  const cosR = cosine(rowSum(g.one('Mul', [b.r, s.r])), sqRb, sqRs);
  const dh = g.one('Sub', [xs, xb]);
  const dr = g.one('Sub', [s.r, b.r]);

  // active sets A(t) and their Jaccard (not Sign: ONNX Runtime's WebGPU provider has none, and would copy the codes
  // to the host for it)
  const active = (z: string) => g.one('Cast', [g.one('Greater', [z, 'zero_f'])], [int('to', FLOAT)]);
  const actB = active(zb),
    actS = active(zs);
  const jac = jaccard(rowSum(g.one('Mul', [actB, actS])), rowSum(actB), rowSum(actS));

  // top-k sets K(t) (sae/topKMembership.ts): ties to the lower index (ONNX TopK), as docs/metrics.md breaks them;
  // entries with z = 0 (fewer than k active) are left out. As k feature ids per row compared pairwise, or as
  // [n, m] masks (topKSetsFor: whichever moves fewer numbers)
  let overlap: string;
  if (topKSets === 'ids') {
    const idsB = addTopKIds(g, zb, 'k_top', m, 'topk_b', -1),
      idsS = addTopKIds(g, zs, 'k_top', m, 'topk_s', -2);
    const pairs = g.one('Equal', [g.one('Unsqueeze', [idsB, g.ints('axis2', [2])]), g.one('Unsqueeze', [idsS, 'axis1'])]);
    const both = g.one('ReduceSum', [g.one('Cast', [pairs], [int('to', FLOAT)]), g.ints('axes12', [1, 2])], [int('keepdims', 0)]);
    g.floats('minus_half', Float32Array.of(-0.5), []);
    const members = (ids: string) => rowSum(g.one('Cast', [g.one('Greater', [ids, 'minus_half'])], [int('to', FLOAT)]));
    overlap = jaccard(both, members(idsB), members(idsS));
  } else {
    const inB = addTopKMembership(g, zb, 'k_top', m, 'topk_b'),
      inS = addTopKMembership(g, zs, 'k_top', m, 'topk_s');
    overlap = jaccard(rowSum(g.one('Mul', [inB, inS])), rowSum(inB), rowSum(inS));
  }

  const tokenTerms: Record<(typeof TOKEN_SUMS)[number], string> = {
    cos_h: cosH,
    cos_r: cosR,
    norm_b: g.one('Sqrt', [sqB]),
    norm_s: g.one('Sqrt', [sqS]),
    err_b: rowSq(g.one('Sub', [xb, b.r])),
    err_s: rowSq(g.one('Sub', [xs, s.r])),
    sq_b: sqB,
    sq_s: sqS,
    // Δh = Δr + Δe (e = h - r): |Δh|^2 = Δh·Δr + Δh·Δe, each part computed on its own
    delta_sq: rowSq(dh),
    inside: rowSum(g.one('Mul', [dh, dr])),
    outside: rowSum(g.one('Mul', [dh, g.one('Sub', [dh, dr])])),
    jaccard: jac,
    overlap,
  };
  g.one(
    'Concat',
    TOKEN_SUMS.map((k) => total(tokenTerms[k])),
    [int('axis', 0)],
    'token_sums',
  );

  const diff = g.one('Sub', [zs, zb]);
  const featureTerms: Record<(typeof FEATURE_SUMS)[number], string> = {
    cnt_b: actB,
    cnt_s: actS,
    sum_zb: zb,
    sum_zs: zs,
    sum_diff: g.one('Abs', [diff]),
    sum_sq_diff: g.one('Mul', [diff, diff]),
  };
  g.one(
    'Concat',
    FEATURE_SUMS.map((k) => columnSums(featureTerms[k])),
    [int('axis', 0)],
    'features',
  );
  g.ints('flat', [-1]);
  g.one('Reshape', [columnSums(xb), 'flat'], [], 'sum_hb');
  g.one('Reshape', [columnSums(xs), 'flat'], [], 'sum_hs');

  // top-context candidates: each feature's k_ctx highest activations over the chunk, with their rows (ties to
  // the lower row, i.e. the earlier token, the order TopContexts uses; sae/contextCandidates.ts)
  for (const [z, tag] of [
    [zb, 'b'],
    [zs, 's'],
  ] as const)
    addContextCandidates(g, z, 'k_ctx', `ctx_${tag}`, { values: `ctx_val_${tag}`, rows: `ctx_row_${tag}` });

  // activation histograms (metrics/activationHistogram.ts): one count per edge and feature, Σ_t (z > e), so a
  // chunk reads back E x m numbers whatever its tokens
  for (const [z, tag] of [
    [zb, 'b'],
    [zs, 's'],
  ] as const) {
    const above = histogramEdges.map((e) => columnSums(addAbovePowerOfTwo(g, z, e)));
    g.one('Concat', above, [int('axis', 0)], `hist_${tag}`);
  }

  addPreActivationShift(g, sae);

  const anyRank = (name: string): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: FLOAT } } });
  const inputs = [
    anyRank('hb'),
    anyRank('hs'),
    tensorInfo('rows', INT32, ['n']),
    tensorInfo('k_top', INT64, [1]),
    tensorInfo('k_ctx', INT64, [1]),
    tensorInfo('dmean', FLOAT, [1, d]),
  ];
  const outputs = [
    tensorInfo('token_sums', FLOAT, [TOKEN_SUMS.length]),
    tensorInfo('features', FLOAT, [FEATURE_SUMS.length, m]),
    tensorInfo('sum_hb', FLOAT, [d]),
    tensorInfo('sum_hs', FLOAT, [d]),
    tensorInfo('ctx_val_b', FLOAT, ['c', m]),
    tensorInfo('ctx_row_b', INT32, ['c', m]),
    tensorInfo('ctx_val_s', FLOAT, ['c', m]),
    tensorInfo('ctx_row_s', INT32, ['c', m]),
    tensorInfo('dpre', FLOAT, [1, m]),
    tensorInfo('hist_b', FLOAT, [histogramEdges.length, m]),
    tensorInfo('hist_s', FLOAT, [histogramEdges.length, m]),
  ];
  return encodeModel(g, 'sae_reduced_projection', inputs, outputs);
}

/**
 * (z > e) as a float 0 / 1, for a power of two e = 2^p, in one pass (Greater then Cast take two and write the
 * tensor twice): HardSigmoid's max(0, min(1, A z + B)) with A = 2^(23 - p) and B = -A e = -2^23. Exact however
 * A z + B is rounded or fused: A z is exact (a power-of-two scale; +inf on overflow, where z > e holds), and the
 * next float above e is e + 2^(p - 23), so z > e makes A (z - e) >= 1 while z <= e makes it <= 0.
 */
export function addAbovePowerOfTwo(g: GraphBuilder, z: string, e: number): string {
  const p = Math.log2(e);
  if (!Number.isInteger(p) || p < -100 || p > 100) throw new Error(`addAbovePowerOfTwo: ${e} is not a power of two within float32's range`);
  return g.one('HardSigmoid', [z], [float('alpha', 2 ** (23 - p)), float('beta', -(2 ** 23))]);
}
