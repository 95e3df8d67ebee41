import { ort } from '../runtime/ort';
import { gatherRows } from '../data/batching';
import { Activations, hostData } from '../model/runner';
import type { Reduction } from '../runtime/reduction';
import { createSession, SessionSettings } from '../runtime/session';
import type { SaeWeights } from './loadSae';
import { toProjectionOutputs, type ProjectionOutputs, type ProjectionSink } from './projectionOutputs';
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
  /** Base-only fit on the given rows of one tensor (the self-check's neighbouring positions). */
  fit(h: Activations, rows: Int32Array): Promise<FitSums>;
  /** Mean pre-activation change per feature for a mean activation change (mean h_s - mean h_b). */
  preActivationShift(meanDelta: Float32Array): Promise<Float32Array>;
  release(): Promise<void>;
}

/** What both projectors need from the run's config. */
export interface ProjectorOptions {
  k: number;
  contexts: number;
}

export const isLinearPreActivation = (sae: SaeWeights) => sae.normalization === 'none' || sae.normalization === 'expected_average_only_in';

/** The sparse path: the graph emits per-token scalars and the active latents; JavaScript accumulates. */
export class SaeProjector implements Projector {
  readonly reduction = 'sparse' as const;
  private readonly zeroMean: ort.Tensor;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly width: number,
    readonly hidden: number,
    readonly architecture: SaeWeights['architecture'],
    readonly threshold: Float32Array | undefined,
    readonly linearPreActivation: boolean,
    private readonly options: ProjectorOptions,
  ) {
    this.zeroMean = new ort.Tensor('float32', new Float32Array(hidden), [1, hidden]);
  }

  static async create(sae: SaeWeights, settings: SessionSettings, options: ProjectorOptions): Promise<SaeProjector> {
    const session = await createSession(buildProjectionGraph(sae, saeGraphOptions(settings)), settings, `the SAE of ${sae.folder}`);
    return new SaeProjector(session, sae.dSae, sae.dIn, sae.architecture, sae.threshold, isLinearPreActivation(sae), options);
  }

  async preActivationShift(meanDelta: Float32Array): Promise<Float32Array> {
    const d = this.hidden;
    const zero = new Float32Array(d);
    const out = await this.session.run({
      hb: new ort.Tensor('float32', zero, [1, d]),
      hs: new ort.Tensor('float32', zero, [1, d]),
      dmean: new ort.Tensor('float32', meanDelta, [1, d]),
    });
    return (out.dpre.data as Float32Array).slice(0, this.width);
  }

  /** hb, hs: [n, hidden] rows of the same tokens in base and fine-tune. */
  async project(hb: Float32Array, hs: Float32Array, n: number): Promise<ProjectionOutputs> {
    const d = this.hidden;
    const out = await this.session.run({
      hb: new ort.Tensor('float32', hb, [n, d]),
      hs: new ort.Tensor('float32', hs, [n, d]),
      dmean: this.zeroMean,
    });
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
    const out = await this.project(
      gatherRows(await hostData(hb), d, rows.flat, from, to),
      gatherRows(await hostData(hs), d, rows.flat, from, to),
      to - from,
    );
    const sae = (performance.now() - t) / 1000;
    t = performance.now();
    acc.add(out, to - from, this.options.k, rows.sample.subarray(from, to), rows.position.subarray(from, to));
    return { sae, metrics: (performance.now() - t) / 1000 };
  }

  async fit(h: Activations, rows: Int32Array): Promise<FitSums> {
    const x = gatherRows(await hostData(h), this.hidden, rows);
    const o = await this.project(x, x, rows.length);
    const sum = (a: Float32Array) => a.reduce((p, v) => p + v, 0);
    return { err: sum(o.err_b.data as Float32Array), sq: sum(o.sq_hb.data as Float32Array), sum: o.sum_hb.data as Float32Array };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
