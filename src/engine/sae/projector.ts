import * as ort from 'onnxruntime-node';
import { createSession, SessionSettings } from '../runtime/session';
import type { ProjectionOutputs } from '../metrics/layerAccumulator';
import type { SaeWeights } from './loadSae';
import { buildProjectionGraph } from './saeGraph';

/** One SAE as an ONNX Runtime session on the selected provider: activations in, metric reductions out. */
export class SaeProjector {
  private readonly zeroMean: ort.Tensor;

  private constructor(
    private readonly session: ort.InferenceSession, readonly width: number, readonly hidden: number,
    readonly architecture: SaeWeights['architecture'], readonly threshold: Float32Array | undefined,
    /** Whether the mean pre-activation change is linear in the mean activation change (not per-token normalisations). */
    readonly linearPreActivation: boolean,
  ) {
    this.zeroMean = new ort.Tensor('float32', new Float32Array(hidden), [1, hidden]);
  }

  static async create(sae: SaeWeights, settings: SessionSettings): Promise<SaeProjector> {
    const session = await createSession(buildProjectionGraph(sae), settings, `the SAE of ${sae.folder}`);
    const linear = sae.normalization === 'none' || sae.normalization === 'expected_average_only_in';
    return new SaeProjector(session, sae.dSae, sae.dIn, sae.architecture, sae.threshold, linear);
  }

  /** Mean pre-activation change per feature for a mean activation change (mean h_s - mean h_b). */
  async preActivationShift(meanDelta: Float32Array): Promise<Float32Array> {
    const d = this.hidden;
    const zero = new Float32Array(d);
    const out = await this.session.run({
      hb: new ort.Tensor('float32', zero, [1, d]), hs: new ort.Tensor('float32', zero, [1, d]),
      dmean: new ort.Tensor('float32', meanDelta, [1, d]),
    });
    return (out.dpre.data as Float32Array).slice(0, this.width);
  }

  /** hb, hs: [n, hidden] rows of the same tokens in base and fine-tune. */
  async project(hb: Float32Array, hs: Float32Array, n: number): Promise<ProjectionOutputs> {
    const d = this.hidden;
    const out = await this.session.run({ hb: new ort.Tensor('float32', hb, [n, d]), hs: new ort.Tensor('float32', hs, [n, d]), dmean: this.zeroMean });
    const result: ProjectionOutputs = {};
    for (const [name, t] of Object.entries(out)) result[name] = { data: t.data as Float32Array | BigInt64Array, dims: t.dims };
    return result;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
