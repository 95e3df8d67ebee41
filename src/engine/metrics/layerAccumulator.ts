import type { OutputTensor, ProjectionOutputs, ProjectionSink, SparseOutputName } from '../sae/projectionOutputs';
import { CODE_BLOCK } from '../sae/saeGraph';
import type { LayerSums } from './layerSums';
import { addReduced } from './reducedAccumulate';
import { ActivationHistograms } from './activationHistogram';
import { cosineFromSums } from './cosine';
import { LatentsByFeature } from './latentsByFeature';
import { TopContexts } from './topContexts';

export type { LayerSums } from './layerSums';

/**
 * Streaming accumulators of one (layer, fine-tune): memory O(SAE width + hidden), whatever the
 * number of tokens. Sums are float64 so the order of batches does not matter.
 */
export class LayerAccumulator implements ProjectionSink {
  sums: LayerSums = {
    tokens: 0,
    cos_h: 0,
    cos_r: 0,
    overlap: 0,
    jaccard: 0,
    l1_num: 0,
    l1_den: 0,
    norm_b: 0,
    norm_s: 0,
    l0_b: 0,
    l0_s: 0,
    err_b: 0,
    err_s: 0,
    sq_b: 0,
    sq_s: 0,
    delta_sq: 0,
    inside: 0,
    outside: 0,
  };
  readonly cntB: Float64Array;
  readonly cntS: Float64Array;
  readonly sumZb: Float64Array;
  readonly sumZs: Float64Array;
  readonly sumDiff: Float64Array;
  /** sum_t (z_s,i - z_b,i)^2: the variance of the paired difference, for significance. */
  readonly sumSqDiff: Float64Array;
  readonly sumHb: Float64Array;
  readonly sumHs: Float64Array;
  readonly ctxBase: TopContexts;
  readonly ctxSft: TopContexts;
  /** Per-feature activation histograms of each model (metrics/activationHistogram.ts). */
  readonly histBase: ActivationHistograms;
  readonly histSft: ActivationHistograms;
  /** Read from a partial report written before histograms existed: its histograms are not the run's. */
  histogramsMissing = false;
  /** Scratch for the top-k intersection: stamp[f] = token + 1 when f is in K_b(token). */
  private readonly stamp: Int32Array;
  private stampId = 0;
  private scratch = new Float32Array(256);
  private readonly codesB = new SparseCodes();
  private readonly codesS = new SparseCodes();
  private readonly byFeature: LatentsByFeature;

  constructor(
    readonly width: number,
    readonly hidden: number,
    contexts: number,
  ) {
    this.cntB = new Float64Array(width);
    this.cntS = new Float64Array(width);
    this.sumZb = new Float64Array(width);
    this.sumZs = new Float64Array(width);
    this.sumDiff = new Float64Array(width);
    this.sumSqDiff = new Float64Array(width);
    this.sumHb = new Float64Array(hidden);
    this.sumHs = new Float64Array(hidden);
    this.ctxBase = new TopContexts(width, contexts);
    this.ctxSft = new TopContexts(width, contexts);
    this.histBase = new ActivationHistograms(width);
    this.histSft = new ActivationHistograms(width);
    this.stamp = new Int32Array(width);
    this.byFeature = new LatentsByFeature(width);
  }

  /**
   * Adds one chunk of N tokens. `k` is sae.k (the top-k of feature_overlap); rowSample/rowPosition say
   * where each row came from (for the top activating contexts).
   */
  add(o: ProjectionOutputs, n: number, k: number, rowSample: Int32Array, rowPosition: Int32Array): void {
    // names typed by saeGraph.ts's output lists: a renamed graph output fails to compile here
    const out = (name: SparseOutputName): OutputTensor => o[name];
    const f = (name: SparseOutputName) => out(name).data as Float32Array;
    const dotH = f('dot_h'),
      sqHb = f('sq_hb'),
      sqHs = f('sq_hs');
    const dotR = f('dot_r'),
      sqRb = f('sq_rb'),
      sqRs = f('sq_rs');
    const errB = f('err_b'),
      errS = f('err_s');
    const sqDh = f('sq_dh'),
      dhDr = f('dh_dr'),
      dhDe = f('dh_de');
    const s = this.sums;
    for (let t = 0; t < n; t++) {
      s.cos_h += cosineFromSums(dotH[t], sqHb[t], sqHs[t]);
      s.cos_r += cosineFromSums(dotR[t], sqRb[t], sqRs[t]);
      s.norm_b += Math.sqrt(sqHb[t]);
      s.norm_s += Math.sqrt(sqHs[t]);
      s.err_b += errB[t];
      s.err_s += errS[t];
      s.sq_b += sqHb[t];
      s.sq_s += sqHs[t];
      s.delta_sq += sqDh[t];
      s.inside += dhDr[t];
      s.outside += dhDe[t];
    }
    s.tokens += n;
    addInto(this.sumHb, f('sum_hb'));
    addInto(this.sumHs, f('sum_hs'));
    const base = this.codesB.decode(out('blk_b').data as BigInt64Array, f('blkval_b'));
    const sft = this.codesS.decode(out('blk_s').data as BigInt64Array, f('blkval_s'));
    this.addCodes({ base, sft, n, k, rowSample, rowPosition });
  }

  /** Dense graph outputs (sae/reducedGraph.ts), already reduced over the chunk's n tokens: metrics/reducedAccumulate.ts. */
  addReduced(o: ProjectionOutputs, n: number, rowSample: Int32Array, rowPosition: Int32Array): void {
    addReduced(this, o, n, rowSample, rowPosition);
  }

  /**
   * Walks both models' active latents token by token (row-major (row, feature) pairs, features ascending within a
   * row) for the per-token metrics, then feature by feature (metrics/latentsByFeature.ts) for every feature-wise
   * quantity of docs/metrics.md, exactly.
   */
  private addCodes(chunk: CodesChunk): void {
    const { n, k, rowSample, rowPosition } = chunk;
    const { rows: rowB, feats: nzB, vals: valB, count: nnzB } = chunk.base;
    const { rows: rowS, feats: nzS, vals: valS, count: nnzS } = chunk.sft;
    const s = this.sums;
    const union = this.byFeature;
    union.clear();
    let pb = 0,
      ps = 0;
    for (let t = 0; t < n; t++) {
      const b0 = pb,
        s0 = ps;
      while (pb < nnzB && rowB[pb] === t) pb++;
      while (ps < nnzS && rowS[ps] === t) ps++;
      let l1b = 0,
        l1s = 0,
        l1diff = 0,
        both = 0;
      // merge the two feature-sorted lists: shared features, |z_s - z_b| over the union
      let i = b0,
        j = s0;
      while (i < pb || j < ps) {
        const fb = i < pb ? nzB[i] : 0x7fffffff;
        const fs = j < ps ? nzS[j] : 0x7fffffff;
        if (fb === fs) {
          const vb = valB[i++],
            vs = valS[j++];
          union.push(fb, t, vb, vs);
          l1b += vb;
          l1s += vs;
          l1diff += Math.abs(vs - vb);
          both++;
        } else if (fb < fs) {
          const vb = valB[i++];
          union.push(fb, t, vb, 0);
          l1b += vb;
          l1diff += vb;
        } else {
          const vs = valS[j++];
          union.push(fs, t, 0, vs);
          l1s += vs;
          l1diff += vs;
        }
      }
      const l0b = pb - b0,
        l0s = ps - s0;
      const unionSize = l0b + l0s - both;
      s.jaccard += unionSize === 0 ? 1 : both / unionSize;
      s.l1_num += l1diff;
      s.l1_den += l1b + l1s;
      s.l0_b += l0b;
      s.l0_s += l0s;
      s.overlap += this.topKJaccard(nzB, valB, b0, pb, nzS, valS, s0, ps, k);
    }
    union.sort();
    this.addFeatureWise(union, rowSample, rowPosition);
  }

  /**
   * Each feature's active latents of the chunk, in token order, into its firing counts, sums, contexts and
   * histograms, and |z_s - z_b| and its square (a latent active in one model only has z = 0 in the other).
   */
  private addFeatureWise(union: LatentsByFeature, rowSample: Int32Array, rowPosition: Int32Array): void {
    const { tokenAt, zbAt, zsAt, end } = union;
    let p = 0;
    for (let f = 0; f < this.width; f++) {
      for (const last = end[f]; p < last; p++) {
        const t = tokenAt[p],
          vb = zbAt[p],
          vs = zsAt[p];
        if (vb > 0) this.fireBase(f, vb, rowSample[t], rowPosition[t]);
        if (vs > 0) this.fireSft(f, vs, rowSample[t], rowPosition[t]);
        const d = vs - vb;
        this.sumDiff[f] += Math.abs(d);
        this.sumSqDiff[f] += d * d;
      }
    }
  }

  /**
   * A firing latent (z > 0; the sparse codes hold no others) of base at one token, into base's per-feature
   * sums, contexts and histograms. One method per side, so that each touches only its own arrays.
   */
  private fireBase(feature: number, z: number, sample: number, position: number): void {
    this.cntB[feature]++;
    this.sumZb[feature] += z;
    this.ctxBase.offer(feature, z, sample, position);
    this.histBase.add(feature, z);
  }

  private fireSft(feature: number, z: number, sample: number, position: number): void {
    this.cntS[feature]++;
    this.sumZs[feature] += z;
    this.ctxSft.offer(feature, z, sample, position);
    this.histSft.add(feature, z);
  }

  /** J(K_b, K_s): K = the top-k active features by activation, ties to the lower index; all if fewer. */
  private topKJaccard(
    nzB: Int32Array,
    valB: Float32Array,
    b0: number,
    b1: number,
    nzS: Int32Array,
    valS: Float32Array,
    s0: number,
    s1: number,
    k: number,
  ): number {
    const id = ++this.stampId;
    const nb = this.markTopK(nzB, valB, b0, b1, k, id);
    let ns = 0,
      shared = 0;
    const cutS = this.kthValue(valS, s0, s1, k);
    let tiesLeft = cutS.ties;
    for (let j = s0; j < s1; j++) {
      const v = valS[j];
      if (v > cutS.value || (v === cutS.value && tiesLeft-- > 0)) {
        ns++;
        if (this.stamp[nzS[j]] === id) shared++;
      }
    }
    const union = nb + ns - shared;
    return union === 0 ? 1 : shared / union;
  }

  private markTopK(nz: Int32Array, val: Float32Array, from: number, to: number, k: number, id: number): number {
    const cut = this.kthValue(val, from, to, k);
    let ties = cut.ties,
      count = 0;
    for (let i = from; i < to; i++) {
      const v = val[i];
      if (v > cut.value || (v === cut.value && ties-- > 0)) {
        this.stamp[nz[i]] = id;
        count++;
      }
    }
    return count;
  }

  /**
   * The k-th largest value of a token's active list and how many entries equal to it make the top-k
   * (taken in ascending feature order, i.e. ties go to the lower index). Everything when fewer than k.
   */
  private kthValue(val: Float32Array, from: number, to: number, k: number): { value: number; ties: number } {
    const len = to - from;
    if (len <= k) return { value: -Infinity, ties: 0 };
    if (this.scratch.length < len) this.scratch = new Float32Array(len * 2);
    const a = this.scratch;
    a.set(val.subarray(from, to));
    const value = selectKthLargest(a, len, k);
    let above = 0;
    for (let i = from; i < to; i++) if (val[i] > value) above++;
    return { value, ties: k - above };
  }

  /** Adds another accumulator of the same layer (shards of one run). */
  mergeFrom(other: LayerAccumulator): void {
    for (const key of Object.keys(this.sums) as (keyof LayerSums)[]) this.sums[key] += other.sums[key];
    addInto(this.cntB, other.cntB);
    addInto(this.cntS, other.cntS);
    addInto(this.sumZb, other.sumZb);
    addInto(this.sumZs, other.sumZs);
    addInto(this.sumDiff, other.sumDiff);
    addInto(this.sumSqDiff, other.sumSqDiff);
    addInto(this.sumHb, other.sumHb);
    addInto(this.sumHs, other.sumHs);
    this.ctxBase.mergeFrom(other.ctxBase);
    this.ctxSft.mergeFrom(other.ctxSft);
    this.histBase.mergeFrom(other.histBase);
    this.histSft.mergeFrom(other.histSft);
    this.histogramsMissing ||= other.histogramsMissing;
  }
}

/** The k-th largest of a[0..len) (1-based k), by quickselect: O(len) on average; reorders a. */
function selectKthLargest(a: Float32Array, len: number, k: number): number {
  let lo = 0,
    hi = len - 1;
  const target = k - 1; // index in descending order
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo,
      j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return a[target];
  }
  return a[target];
}

/** One chunk's active latents of both models, for LayerAccumulator.addCodes. */
interface CodesChunk {
  base: SparseCodes;
  sft: SparseCodes;
  /** Tokens (rows) in the chunk. */
  n: number;
  /** sae.k: the top-k of feature_overlap. */
  k: number;
  rowSample: Int32Array;
  rowPosition: Int32Array;
}

/** Active latents as parallel arrays (row, feature, value), row-major, decoded from the graph's blocks. */
class SparseCodes {
  rows = new Int32Array(1024);
  feats = new Int32Array(1024);
  vals = new Float32Array(1024);
  count = 0;

  /** blocks: [nblk, 2] int64 (row, block); values: [nblk, CODE_BLOCK]. */
  decode(blocks: BigInt64Array, values: Float32Array): this {
    // int64 indices here are far below 2^31: read their low 32-bit words, no BigInt conversions
    const words = new Int32Array(blocks.buffer, blocks.byteOffset, blocks.length * 2);
    const nblk = blocks.length / 2;
    if (this.vals.length < nblk * CODE_BLOCK) this.grow(nblk * CODE_BLOCK);
    let n = 0;
    for (let i = 0; i < nblk; i++) {
      const row = words[4 * i],
        first = words[4 * i + 2] * CODE_BLOCK;
      for (let j = 0; j < CODE_BLOCK; j++) {
        const v = values[i * CODE_BLOCK + j];
        if (v > 0) {
          this.rows[n] = row;
          this.feats[n] = first + j;
          this.vals[n] = v;
          n++;
        }
      }
    }
    this.count = n;
    return this;
  }

  private grow(size: number): void {
    this.rows = new Int32Array(size * 2);
    this.feats = new Int32Array(size * 2);
    this.vals = new Float32Array(size * 2);
  }
}

function addInto(acc: Float64Array, x: ArrayLike<number>): void {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
}
