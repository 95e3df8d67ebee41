/**
 * Activations on and beside every histogram edge, with the bin docs/metrics.md gives each, run through an
 * identity SAE (codes = activations) on a provider and reduction path: test/activationHistograms.test.ts runs them
 * on the CPU, test/webgpu/devicePath.test.ts on a WebGPU device, where the dense graph's comparisons
 * (reducedGraph.ts addAbovePowerOfTwo: HardSigmoid at scales up to 2^34) run as shaders.
 */
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { HISTOGRAM_BINS, HISTOGRAM_EDGES } from '../../src/engine/metrics/activationHistogram';
import { LayerAccumulator } from '../../src/engine/metrics/layerAccumulator';
import type { Reduction } from '../../src/engine/runtime/reduction';
import type { SessionSettings } from '../../src/engine/runtime/session';
import { createProjector } from '../../src/engine/sae/createProjector';
import { identitySae } from './identitySae';

/** The float32 next to x, above or below. */
function float32Beside(x: number, step: 1 | -1): number {
  const f = new Float32Array([x]);
  new Uint32Array(f.buffer)[0] += step;
  return f[0];
}

/** [activation, bin]: (0, e0] is bin 0, (e(j-1), e(j)] bin j, above e22 bin 23; -1 for a code that does not fire. */
export const EDGE_CASES: readonly [number, number][] = [
  ...HISTOGRAM_EDGES.flatMap((e, j): [number, number][] => [
    [e, j],
    [float32Beside(e, -1), j],
    [float32Beside(e, 1), j + 1],
  ]),
  // a subnormal; one whose scaled value overflows float32; values between the edges
  [1e-45, 0],
  [3e38, 23],
  [1e-6, 0],
  [0.3, 10],
  [1e6, 23],
  [0, -1],
  [-2, -1],
];

/**
 * Feature 0 of base and feature 1 of the fine-tune take the cases in turn (one token each), accumulated in two
 * chunks (counts add across chunks); asserts the bins of both, that feature 1 of base never fires, and that the bins
 * sum to the firing count.
 */
export async function assertEdgeCaseBins(settings: SessionSettings, reduction: Reduction): Promise<void> {
  const m = 2,
    n = EDGE_CASES.length;
  const zb = new Float32Array(n * m),
    zs = new Float32Array(n * m);
  EDGE_CASES.forEach(([v], t) => {
    zb[t * m] = v;
    zs[t * m + 1] = v;
  });
  const tensor = (z: Float32Array) => ({ data: z, hidden: m, tensor: new ort.Tensor('float32', z, [1, n, m]) });
  const rows = {
    flat: Int32Array.from({ length: n }, (_, i) => i),
    sample: new Int32Array(n),
    position: Int32Array.from({ length: n }, (_, i) => i + 1),
  };
  const expected = new Array(HISTOGRAM_BINS).fill(0);
  for (const [, bin] of EDGE_CASES) if (bin >= 0) expected[bin]++;
  const projector = await createProjector(identitySae(m), settings, reduction, { k: 2, contexts: 1 });
  const acc = new LayerAccumulator(m, m, 1);
  try {
    await projector.accumulate(acc, tensor(zb), tensor(zs), rows, 0, 5);
    await projector.accumulate(acc, tensor(zb), tensor(zs), rows, 5, n);
  } finally {
    await projector.release();
  }
  const on = `${settings.provider}, ${reduction} path`;
  assert.deepEqual(acc.histBase.feature(0), expected, `${on}: base, feature 0`);
  assert.deepEqual(acc.histSft.feature(1), expected, `${on}: sft, feature 1`);
  assert.deepEqual(acc.histBase.feature(1), new Array(HISTOGRAM_BINS).fill(0), `${on}: feature 1 never fires in base`);
  assert.equal(
    acc.cntB[0],
    expected.reduce((a, b) => a + b, 0),
    `${on}: bins sum to the firing count`,
  );
}
