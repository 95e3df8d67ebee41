import { ort } from '../runtime/ort';
import { HISTOGRAM_EDGES } from './histogramEdges';
import type { Activations } from '../model/runner';
import { createSession, feedsArraysOf, SessionSettings } from '../runtime/session';
import type { SaeWeights } from './loadSae';
import { toProjectionOutputs, type ProjectionOutputs, type ProjectionSink } from './projectionOutputs';
import { ChunkTimings, EvaluatedRows, FitSums, Projector, ProjectorOptions, SessionProjector } from './projector';
import { buildReducedGraph, TOKEN_SUMS } from './reducedGraph';
import { saeGraphOptions } from './saeGraph';
import { topKSetsFor } from './topKMembership';

const int64 = (v: number) => new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), [1]);
/** The k of feature_overlap's top-k sets: sae.k above the width compares every active feature (the pipeline warns). */
const kTopOf = (k: number, width: number) => Math.max(1, Math.min(k, width));

/**
 * The dense path: the graph gathers T's rows from the hooked tensors (which may stay on the device),
 * encodes, and reduces over the chunk's tokens; JavaScript reads back O(width + hidden) numbers.
 */
export class DenseProjector extends SessionProjector implements Projector {
  readonly reduction = 'dense' as const;
  private readonly kTop: ort.Tensor;

  private constructor(session: ort.InferenceSession, sae: SaeWeights, options: ProjectorOptions, sharesSaeWeights: boolean) {
    super(session, sae, options, sharesSaeWeights);
    this.kTop = int64(kTopOf(options.k, this.width));
  }

  static async create(sae: SaeWeights, settings: SessionSettings, options: ProjectorOptions): Promise<DenseProjector> {
    const graph = buildReducedGraph(sae, HISTOGRAM_EDGES, saeGraphOptions(settings), topKSetsFor(kTopOf(options.k, sae.dSae), sae.dSae));
    const session = await createSession(graph, settings, `the SAE of ${sae.folder}`);
    return new DenseProjector(session, sae, options, feedsArraysOf(graph, [sae.W_enc, sae.W_dec]));
  }

  /** Runs the graph on rows of hb / hs (tensors as the model returned them: host or device). */
  private async run(
    hb: ort.Tensor,
    hs: ort.Tensor,
    rows: Int32Array,
    dmean = this.zeroMean,
    contexts = this.options.contexts,
  ): Promise<ProjectionOutputs> {
    const n = rows.length;
    const out = await this.session.run({
      hb,
      hs,
      rows: new ort.Tensor('int32', rows, [n]),
      k_top: this.kTop,
      k_ctx: int64(Math.max(1, Math.min(contexts, n))),
      dmean,
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
    let t = performance.now();
    const out = await this.run(hb.tensor, hs.tensor, rows.flat.subarray(from, to));
    const sae = (performance.now() - t) / 1000;
    t = performance.now();
    acc.addReduced(out, to - from, rows.sample.subarray(from, to), rows.position.subarray(from, to));
    return { sae, metrics: (performance.now() - t) / 1000 };
  }

  /** Two positions per run, as base and fine-tune (the graph always encodes both sides); an odd last one on both. */
  async fits(positions: Activations[], rows: Int32Array): Promise<FitSums[]> {
    const out: FitSums[] = [];
    for (let i = 0; i < positions.length; i += 2) {
      const [a, b] = [positions[i], positions[i + 1] ?? positions[i]];
      // contexts unused here: one candidate per feature keeps the token-axis TopK small
      const o = await this.run(a.tensor, b.tensor, rows, this.zeroMean, 1);
      const sums = o.token_sums.data as Float32Array;
      const side = (m: 'b' | 's'): FitSums => ({
        err: sums[TOKEN_SUMS.indexOf(`err_${m}`)],
        sq: sums[TOKEN_SUMS.indexOf(`sq_${m}`)],
        sum: o[`sum_h${m}`].data as Float32Array,
      });
      out.push(side('b'));
      if (i + 1 < positions.length) out.push(side('s'));
    }
    return out;
  }

  async preActivationShift(meanDelta: Float32Array): Promise<Float32Array> {
    const d = this.hidden;
    const zero = new ort.Tensor('float32', new Float32Array(d), [1, d]);
    const out = await this.run(zero, zero, Int32Array.of(0), new ort.Tensor('float32', meanDelta, [1, d]), 1);
    return (out.dpre.data as Float32Array).slice(0, this.width);
  }
}
