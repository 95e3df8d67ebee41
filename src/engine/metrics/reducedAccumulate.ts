import type { OutputTensor, ProjectionOutputs } from '../sae/projectionOutputs';
import { FEATURE_SUMS, TOKEN_SUMS } from '../sae/reducedGraph';
import type { LayerSums } from './layerSums';
import type { ActivationHistograms } from './activationHistogram';
import type { TopContexts } from './topContexts';

/** The accumulator state addReduced fills (LayerAccumulator's fields; declared here so the two files import one way). */
export interface ReducedTarget {
  readonly width: number;
  sums: LayerSums;
  readonly cntB: Float64Array;
  readonly cntS: Float64Array;
  readonly sumZb: Float64Array;
  readonly sumZs: Float64Array;
  readonly sumDiff: Float64Array;
  readonly sumSqDiff: Float64Array;
  readonly sumHb: Float64Array;
  readonly sumHs: Float64Array;
  readonly ctxBase: TopContexts;
  readonly ctxSft: TopContexts;
  readonly histBase: ActivationHistograms;
  readonly histSft: ActivationHistograms;
}

/**
 * Adds one chunk of n tokens, already reduced over its tokens by the dense graph (sae/reducedGraph.ts),
 * into the same state LayerAccumulator.add fills from sparse codes: float32 sums per chunk, float64
 * across chunks. rowSample/rowPosition say where each of the chunk's rows came from.
 */
export function addReduced(acc: ReducedTarget, o: ProjectionOutputs, n: number, rowSample: Int32Array, rowPosition: Int32Array): void {
  const s = acc.sums;
  const t = o.token_sums.data as Float32Array;
  TOKEN_SUMS.forEach((key, i) => {
    s[key as keyof LayerSums] += t[i];
  });
  s.tokens += n;
  addInto(acc.sumHb, o.sum_hb.data as Float32Array);
  addInto(acc.sumHs, o.sum_hs.data as Float32Array);

  const m = acc.width;
  const f = o.features.data as Float32Array;
  const row = (name: (typeof FEATURE_SUMS)[number]) => f.subarray(FEATURE_SUMS.indexOf(name) * m, (FEATURE_SUMS.indexOf(name) + 1) * m);
  const cntB = row('cnt_b'),
    cntS = row('cnt_s'),
    zb = row('sum_zb'),
    zs = row('sum_zs'),
    diff = row('sum_diff'),
    sqDiff = row('sum_sq_diff');
  let l0b = 0,
    l0s = 0,
    l1num = 0,
    l1den = 0;
  for (let i = 0; i < m; i++) {
    acc.cntB[i] += cntB[i];
    acc.cntS[i] += cntS[i];
    acc.sumZb[i] += zb[i];
    acc.sumZs[i] += zs[i];
    acc.sumDiff[i] += diff[i];
    acc.sumSqDiff[i] += sqDiff[i];
    // Σ_t |A(t)| = Σ_i count_i, Σ_t |z_s - z_b|_1 = Σ_i Σ_t |z_s,i - z_b,i|: the layer sums follow from the feature sums
    l0b += cntB[i];
    l0s += cntS[i];
    l1num += diff[i];
    l1den += zb[i] + zs[i];
  }
  s.l0_b += l0b;
  s.l0_s += l0s;
  s.l1_num += l1num;
  s.l1_den += l1den;
  acc.histBase.addCumulative(cntB, o.hist_b.data as Float32Array);
  acc.histSft.addCumulative(cntS, o.hist_s.data as Float32Array);

  offerCandidates(acc.ctxBase, o.ctx_val_b, o.ctx_row_b, rowSample, rowPosition);
  offerCandidates(acc.ctxSft, o.ctx_val_s, o.ctx_row_s, rowSample, rowPosition);
}

/**
 * Each feature's best rows of the chunk ([c, m], best first) into its context list. The global top
 * list is exact: any entry of it is among the top c of its own chunk under the same order.
 */
function offerCandidates(ctx: TopContexts, values: OutputTensor, rows: OutputTensor, rowSample: Int32Array, rowPosition: Int32Array): void {
  if (ctx.capacity === 0) return;
  const v = values.data as Float32Array,
    r = rows.data as Int32Array;
  const c = Math.min(Number(values.dims[0]), ctx.capacity),
    m = ctx.width;
  for (let f = 0; f < m; f++) {
    for (let j = 0; j < c; j++) {
      const value = v[j * m + f];
      if (!(value > 0)) break; // sorted: the rest are inactive too
      const row = r[j * m + f];
      ctx.offer(f, value, rowSample[row], rowPosition[row]);
    }
  }
}

function addInto(acc: Float64Array, x: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
}
