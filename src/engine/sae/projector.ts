import { ort } from '../runtime/ort';
import { gatherRows } from '../data/batching';
import { Activations, hostData } from '../model/runner';
import type { Reduction } from '../runtime/reduction';
import { createSession, feedsArraysOf, SessionSettings } from '../runtime/session';
import type { SaeWeights } from './loadSae';
import { toProjectionOutputs, type OutputTensor, type ProjectionOutputs, type ProjectionSink } from './projectionOutputs';
import { buildProjectionGraph, saeGraphOptions } from './saeGraph';

/** The evaluated tokens of one batch: row indices into [batch*seq] and where each came from. */
export interface EvaluatedRows {
  flat: Int32Array;
  sample: Int32Array;
  position: Int32Array;
}

/** Seconds spent in the SAE session and in JavaScript for one chunk. */
export interface ChunkTimings {
  sae: number;
  metrics: number;
}

/** Sums over some tokens of one model, for explained variance: Σ|h - r|^2, Σ|h|^2, Σh. */
export interface FitSums {
  err: number;
  sq: number;
  sum: ArrayLike<number>;
}

/**
 * One SAE as an ONNX Runtime session on the selected provider: activations in, reductions into a
 * ProjectionSink (metrics/layerAccumulator.ts) out. Two implementations: sparse (codes to JavaScript; CPU) and dense (reduced in
 * the graph; GPU), chosen by runtime/reduction.ts; both fill the same accumulator state.
 */
export interface Projector {
  readonly reduction: Reduction;
  readonly width: number;
  readonly hidden: number;
  readonly architecture: SaeWeights['architecture'];
  readonly threshold: Float32Array | undefined;
  /** Whether the mean pre-activation change is linear in the mean activation change (not per-token normalisations). */
  readonly linearPreActivation: boolean;
  /** Projects rows [from, to) of T (base and a fine-tune) and adds them into acc. */
  accumulate(acc: ProjectionSink, hb: Activations, hs: Activations, rows: EvaluatedRows, from: number, to: number): Promise<ChunkTimings>;
  /** Base-only fits on the given rows of each tensor (the self-check's neighbouring positions), in order. */
  fits(positions: Activations[], rows: Int32Array): Promise<FitSums[]>;
  /**
   * Whether the session is fed the SAE's own W_enc and W_dec (no copy of them in ONNX Runtime): keeping the
   * SAE loaded for the feature details then costs no memory (report/featureDetails.ts's keepLoadedSae).
   */
  readonly sharesSaeWeights: boolean;
  /** Mean pre-activation change per feature for a mean activation change (mean h_s - mean h_b). */
  preActivationShift(meanDelta: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

/** What both projectors need from the run's config. */
export interface ProjectorOptions {
  k: number;
  contexts: number;
  /**
   * How many models are compared with base on each batch (the fine-tunes and the reference). Above 1, the
   * sparse path encodes each chunk of base once per batch and gives the later comparisons its reconstruction
   * and codes (saeGraph.ts's use_rb), so base's half of the SAE work is not repeated.
   */
  comparisons?: number;
}

/** Base's encoding of one chunk of a batch, kept for that batch's other comparisons (ProjectorOptions.comparisons). */
interface EncodedBase {
  /** The hooked tensor the chunk's rows came from: the same object for every comparison of one batch. */
  hb: Activations;
  to: number;
  rb: Float32Array;
  blk: OutputTensor;
  blkval: OutputTensor;
  usesLeft: number;
}

/** The feeds with which the projection graph encodes base itself (saeGraph.ts's use_rb false, rb empty). */
export function encodeBaseFeeds(hidden: number): { use_rb: ort.Tensor; rb: ort.Tensor } {
  return { use_rb: new ort.Tensor('bool', Uint8Array.of(0), []), rb: new ort.Tensor('float32', new Float32Array(0), [0, hidden]) };
}

export const isLinearPreActivation = (sae: SaeWeights) => sae.normalization === 'none' || sae.normalization === 'expected_average_only_in';

/** What both projectors hold: their session, the SAE's shape and activation rule, and the run's options. */
export abstract class SessionProjector {
  readonly width: number;
  readonly hidden: number;
  readonly architecture: SaeWeights['architecture'];
  readonly threshold: Float32Array | undefined;
  readonly linearPreActivation: boolean;
  /** A zero mean activation change: `dmean` for every run but the pre-activation shift's. */
  protected readonly zeroMean: ort.Tensor;

  protected constructor(
    protected readonly session: ort.InferenceSession,
    sae: SaeWeights,
    protected readonly options: ProjectorOptions,
    readonly sharesSaeWeights: boolean,
  ) {
    this.width = sae.dSae;
    this.hidden = sae.dIn;
    this.architecture = sae.architecture;
    this.threshold = sae.threshold;
    this.linearPreActivation = isLinearPreActivation(sae);
    this.zeroMean = new ort.Tensor('float32', new Float32Array(this.hidden), [1, this.hidden]);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** The sparse path: the graph emits per-token scalars and the active latents; JavaScript accumulates. */
export class SaeProjector extends SessionProjector implements Projector {
  readonly reduction = 'sparse' as const;
  /** Feeds that make the graph encode base itself (saeGraph.ts's use_rb and rb). */
  private readonly encodeBase: { use_rb: ort.Tensor; rb: ort.Tensor };
  private readonly useGivenRb = new ort.Tensor('bool', Uint8Array.of(1), []);
  /** Every output but rb_base, which is read only when a later comparison will use it. */
  private readonly pairOutputs: string[];
  /** By the chunk's first row. */
  private readonly encodedBase = new Map<number, EncodedBase>();
  /** Chunks whose base this projector encoded, and those that took an earlier comparison's encoding. */
  readonly baseChunks = { encoded: 0, reused: 0 };

  private constructor(session: ort.InferenceSession, sae: SaeWeights, options: ProjectorOptions, sharesSaeWeights: boolean) {
    super(session, sae, options, sharesSaeWeights);
    this.encodeBase = encodeBaseFeeds(this.hidden);
    this.pairOutputs = session.outputNames.filter((name) => name !== 'rb_base');
  }

  static async create(sae: SaeWeights, settings: SessionSettings, options: ProjectorOptions): Promise<SaeProjector> {
    const graph = buildProjectionGraph(sae, saeGraphOptions(settings));
    const session = await createSession(graph, settings, `the SAE of ${sae.folder}`);
    return new SaeProjector(session, sae, options, feedsArraysOf(graph, [sae.W_enc, sae.W_dec]));
  }

  async preActivationShift(meanDelta: Float32Array): Promise<Float32Array> {
    const d = this.hidden;
    const zero = new Float32Array(d);
    const out = await this.session.run(
      {
        hb: new ort.Tensor('float32', zero, [1, d]),
        hs: new ort.Tensor('float32', zero, [1, d]),
        dmean: new ort.Tensor('float32', meanDelta, [1, d]),
        ...this.encodeBase,
      },
      ['dpre'],
    );
    return (out.dpre.data as Float32Array).slice(0, this.width);
  }

  /** hb, hs: [n, hidden] rows of the same tokens in base and fine-tune; `base`: how base is encoded (saeGraph.ts's use_rb). */
  async project(
    hb: Float32Array,
    hs: Float32Array,
    n: number,
    fetches: readonly string[] = this.pairOutputs,
    base: { use_rb: ort.Tensor; rb: ort.Tensor } = this.encodeBase,
  ): Promise<ProjectionOutputs> {
    const d = this.hidden;
    const out = await this.session.run(
      {
        hb: new ort.Tensor('float32', hb, [n, d]),
        hs: new ort.Tensor('float32', hs, [n, d]),
        dmean: this.zeroMean,
        ...base,
      },
      fetches,
    );
    return toProjectionOutputs(out);
  }

  async accumulate(
    acc: ProjectionSink,
    hb: Activations,
    hs: Activations,
    rows: EvaluatedRows,
    from: number,
    to: number,
  ): Promise<ChunkTimings> {
    const d = this.hidden;
    let t = performance.now();
    const out = await this.projectPair(
      hb,
      gatherRows(await hostData(hb), d, rows.flat, from, to),
      gatherRows(await hostData(hs), d, rows.flat, from, to),
      from,
      to,
    );
    const sae = (performance.now() - t) / 1000;
    t = performance.now();
    acc.add(out, to - from, this.options.k, rows.sample.subarray(from, to), rows.position.subarray(from, to));
    return { sae, metrics: (performance.now() - t) / 1000 };
  }

  /**
   * One chunk of base and a fine-tune. Base's reconstruction and codes come from an earlier comparison of the
   * same batch when one kept them: the same numbers (the graph computes everything else from rb exactly as
   * from its own encoding), at about half the SAE's work.
   */
  private async projectPair(hb: Activations, xb: Float32Array, xs: Float32Array, from: number, to: number): Promise<ProjectionOutputs> {
    const n = to - from;
    const kept = this.encodedBase.get(from);
    if (kept && kept.hb === hb && kept.to === to) {
      if (--kept.usesLeft === 0) this.encodedBase.delete(from);
      this.baseChunks.reused++;
      const out = await this.project(xb, xs, n, this.pairOutputs, {
        use_rb: this.useGivenRb,
        rb: new ort.Tensor('float32', kept.rb, [n, this.hidden]),
      });
      return { ...out, blk_b: kept.blk, blkval_b: kept.blkval };
    }
    this.baseChunks.encoded++;
    const usesLeft = (this.options.comparisons ?? 1) - 1;
    if (usesLeft <= 0) return this.project(xb, xs, n);
    const out = await this.project(xb, xs, n, [...this.pairOutputs, 'rb_base']);
    this.encodedBase.set(from, { hb, to, rb: out.rb_base.data as Float32Array, blk: out.blk_b, blkval: out.blkval_b, usesLeft });
    return out;
  }

  async fits(positions: Activations[], rows: Int32Array): Promise<FitSums[]> {
    const n = rows.length;
    // each position encoded once, as the fine-tune's side: a given (unused) base reconstruction skips base's encoder
    const skipBase = { use_rb: this.useGivenRb, rb: new ort.Tensor('float32', new Float32Array(n * this.hidden), [n, this.hidden]) };
    const sum = (a: Float32Array) => a.reduce((p, v) => p + v, 0);
    const out: FitSums[] = [];
    for (const h of positions) {
      const x = gatherRows(await hostData(h), this.hidden, rows);
      const o = await this.project(x, x, n, ['err_s', 'sq_hs', 'sum_hs'], skipBase);
      out.push({ err: sum(o.err_s.data as Float32Array), sq: sum(o.sq_hs.data as Float32Array), sum: o.sum_hs.data as Float32Array });
    }
    return out;
  }

  async release(): Promise<void> {
    this.encodedBase.clear();
    await super.release();
  }
}
