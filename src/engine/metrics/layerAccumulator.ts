import { TopContexts } from './topContexts';

/** The projection graph's outputs for one chunk of N tokens (see sae/saeGraph.ts). */
export interface ProjectionOutputs {
  [name: string]: { data: Float32Array | BigInt64Array | Int32Array; dims: readonly number[] };
}

/** Scalar sums over T; every layer metric of METRICS.md is a ratio of these. */
export interface LayerSums {
  tokens: number;
  cos_h: number;
  cos_r: number;
  overlap: number;
  jaccard: number;
  l1_num: number;
  l1_den: number;
  norm_b: number;
  norm_s: number;
  l0_b: number;
  l0_s: number;
  err_b: number;
  err_s: number;
  sq_b: number;
  sq_s: number;
}

function cosine(dot: number, sqA: number, sqB: number): number {
  if (sqA === 0 && sqB === 0) return 1;
  if (sqA === 0 || sqB === 0) return 0;
  return dot / Math.sqrt(sqA * sqB);
}

/**
 * Streaming accumulators of one (layer, fine-tune): memory O(SAE width + hidden), whatever the
 * number of tokens. Sums are float64 so the order of batches does not matter.
 */
export class LayerAccumulator {
  sums: LayerSums = { tokens: 0, cos_h: 0, cos_r: 0, overlap: 0, jaccard: 0, l1_num: 0, l1_den: 0, norm_b: 0, norm_s: 0, l0_b: 0, l0_s: 0, err_b: 0, err_s: 0, sq_b: 0, sq_s: 0 };
  readonly cntB: Float64Array;
  readonly cntS: Float64Array;
  readonly sumZb: Float64Array;
  readonly sumZs: Float64Array;
  readonly sumDiff: Float64Array;
  readonly sumHb: Float64Array;
  readonly sumHs: Float64Array;
  readonly ctxBase: TopContexts;
  readonly ctxSft: TopContexts;
  /** Scratch for the top-k intersection: stamp[f] = token + 1 when f is in K_b(token). */
  private readonly stamp: Int32Array;
  private stampId = 0;

  constructor(readonly width: number, readonly hidden: number, contexts: number) {
    this.cntB = new Float64Array(width);
    this.cntS = new Float64Array(width);
    this.sumZb = new Float64Array(width);
    this.sumZs = new Float64Array(width);
    this.sumDiff = new Float64Array(width);
    this.sumHb = new Float64Array(hidden);
    this.sumHs = new Float64Array(hidden);
    this.ctxBase = new TopContexts(width, contexts);
    this.ctxSft = new TopContexts(width, contexts);
    this.stamp = new Int32Array(width);
  }

  /** Adds one chunk of N tokens; rowSample/rowPosition say where each row came from (for contexts). */
  add(o: ProjectionOutputs, n: number, rowSample: Int32Array, rowPosition: Int32Array): void {
    const f = (name: string) => o[name].data as Float32Array;
    const dotH = f('dot_h'), sqHb = f('sq_hb'), sqHs = f('sq_hs');
    const dotR = f('dot_r'), sqRb = f('sq_rb'), sqRs = f('sq_rs');
    const errB = f('err_b'), errS = f('err_s');
    const l1b = f('l1_zb'), l1s = f('l1_zs'), minZ = f('min_z');
    const l0b = f('l0_b'), l0s = f('l0_s'), l0both = f('l0_both');
    const s = this.sums;
    for (let t = 0; t < n; t++) {
      s.cos_h += cosine(dotH[t], sqHb[t], sqHs[t]);
      s.cos_r += cosine(dotR[t], sqRb[t], sqRs[t]);
      const union = l0b[t] + l0s[t] - l0both[t];
      s.jaccard += union === 0 ? 1 : l0both[t] / union;
      s.l1_num += Math.max(0, l1b[t] + l1s[t] - 2 * minZ[t]);
      s.l1_den += l1b[t] + l1s[t];
      s.norm_b += Math.sqrt(sqHb[t]);
      s.norm_s += Math.sqrt(sqHs[t]);
      s.l0_b += l0b[t];
      s.l0_s += l0s[t];
      s.err_b += errB[t];
      s.err_s += errS[t];
      s.sq_b += sqHb[t];
      s.sq_s += sqHs[t];
    }
    s.tokens += n;
    this.addOverlap(o, n);
    addInto(this.cntB, f('cnt_b'));
    addInto(this.cntS, f('cnt_s'));
    addInto(this.sumZb, f('sum_zb'));
    addInto(this.sumZs, f('sum_zs'));
    // sum_t |z_s - z_b| per feature = sum z_b + sum z_s - 2 sum min(z_b, z_s)
    const sb = f('sum_zb'), ss = f('sum_zs'), sm = f('sum_min');
    for (let i = 0; i < this.width; i++) this.sumDiff[i] += Math.max(0, sb[i] + ss[i] - 2 * sm[i]);
    addInto(this.sumHb, f('sum_hb'));
    addInto(this.sumHs, f('sum_hs'));
    const c = o.ctx_b_val.dims[1];
    this.ctxBase.offerBatch(f('ctx_b_val'), o.ctx_b_idx.data as BigInt64Array, c, rowSample, rowPosition);
    this.ctxSft.offerBatch(f('ctx_s_val'), o.ctx_s_idx.data as BigInt64Array, c, rowSample, rowPosition);
  }

  /** J(K_b, K_s) per token from the per-token top-k lists (active entries only). */
  private addOverlap(o: ProjectionOutputs, n: number): void {
    const k = o.topk_b_val.dims[1];
    const bv = o.topk_b_val.data as Float32Array, bi = o.topk_b_idx.data as BigInt64Array;
    const sv = o.topk_s_val.data as Float32Array, si = o.topk_s_idx.data as BigInt64Array;
    for (let t = 0; t < n; t++) {
      const id = ++this.stampId;
      let nb = 0;
      for (let j = 0; j < k && bv[t * k + j] > 0; j++) { this.stamp[Number(bi[t * k + j])] = id; nb++; }
      let ns = 0, both = 0;
      for (let j = 0; j < k && sv[t * k + j] > 0; j++) { ns++; if (this.stamp[Number(si[t * k + j])] === id) both++; }
      const union = nb + ns - both;
      this.sums.overlap += union === 0 ? 1 : both / union;
    }
  }

  /** Adds another accumulator of the same layer (shards of one run). */
  mergeFrom(other: LayerAccumulator): void {
    for (const key of Object.keys(this.sums) as (keyof LayerSums)[]) this.sums[key] += other.sums[key];
    addInto(this.cntB, other.cntB);
    addInto(this.cntS, other.cntS);
    addInto(this.sumZb, other.sumZb);
    addInto(this.sumZs, other.sumZs);
    addInto(this.sumDiff, other.sumDiff);
    addInto(this.sumHb, other.sumHb);
    addInto(this.sumHs, other.sumHs);
    this.ctxBase.mergeFrom(other.ctxBase);
    this.ctxSft.mergeFrom(other.ctxSft);
  }
}

function addInto(acc: Float64Array, x: ArrayLike<number>): void {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
}
