/**
 * The dense SAE graph alone (sae/reducedGraph.ts, what a GPU run spends its SAE stage in), timed per chunk on
 * one provider at the sizes given, so that a short GPU session can tell the products from the rest:
 *   node out/bench/saeGraphBench.js --provider webgpu --hidden 1024 --width 16384 --tokens 2048,8192 --runs 3
 * A random standard SAE (encoder columns of norm ~1, biases firing ~0.8% of latents on N(0, 1) activations, as
 * ../shared/bench/make_bench_gpu.py's quantile bias does) and random activations for base and fine-tune. Prints
 * per chunk size the median time of a run after two warm-ups, tokens/s, and the products' rate (encoder and
 * decoder, both models: 8 n d m FLOPs), then the products alone (timeProducts: the provider's ceiling, and which
 * form of the encoder product is faster on it). With SAE_DIFF_ORT_PROFILE=<folder>, ONNX Runtime's profile per operator
 * follows (out/bench/ortProfileSummary.js sums it).
 */
import type { ExecutionProviderName } from '../src/engine/config/types';
import { ort } from '../src/engine/runtime/ort';
import { bufferLimit } from '../src/engine/runtime/bufferLimit';
import { createSession, type SessionSettings } from '../src/engine/runtime/session';
import { encodeModel, FLOAT, GraphBuilder, int, tensorInfo } from '../src/engine/sae/graphBuilder';
import { DenseProjector } from '../src/engine/sae/denseProjector';
import type { SaeWeights } from '../src/engine/sae/loadSae';
import { LayerAccumulator } from '../src/engine/metrics/layerAccumulator';
import { commandLineFlags } from './flags';
import { Rng } from './workload/rng';

/** The standard normal's 0.992 quantile: a bias of minus this fires 0.8% of latents on N(0, 1) pre-activations. */
const FIRING_QUANTILE = 2.409;

function randomSae(d: number, m: number, rng: Rng): SaeWeights {
  const W_enc = new Float32Array(d * m);
  const scale = 1 / Math.sqrt(d);
  for (let i = 0; i < W_enc.length; i++) W_enc[i] = rng.normal() * scale;
  const W_dec = new Float32Array(m * d);
  for (let i = 0; i < W_dec.length; i++) W_dec[i] = rng.normal() * scale;
  return {
    folder: 'random',
    format: 'saelens',
    architecture: 'standard',
    dIn: d,
    dSae: m,
    dtype: 'float32',
    W_enc,
    b_enc: new Float32Array(m).fill(-FIRING_QUANTILE),
    W_dec,
    b_dec: new Float32Array(d),
    applyBDecToInput: true,
    normalization: 'none',
    weightsFile: '',
  };
}

function activations(n: number, d: number, rng: Rng, from?: Float32Array): ort.Tensor {
  const data = new Float32Array(n * d);
  // the fine-tune: base moved by a tenth of its scale, so that codes differ as after fine-tuning
  for (let i = 0; i < data.length; i++) data[i] = from ? from[i] + 0.1 * rng.normal() : rng.normal();
  return new ort.Tensor('float32', data, [1, n, d]);
}

/** The first runs of a shape allocate its buffers (and on a GPU compile its shaders): left out of the times. */
const WARM_UPS = 2;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The median seconds of `runs` runs of a session after the warm-ups. */
async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, runs: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < WARM_UPS + runs; r++) {
    const t = performance.now();
    await session.run(feeds);
    if (r >= WARM_UPS) times.push((performance.now() - t) / 1000);
  }
  return median(times);
}

/**
 * The SAE's products alone, in the forms ONNX offers, on the same rows: what bounds the dense graph on this provider,
 * and whether the encoder is faster as one Gemm (what saeGraph.ts builds) or as MatMul then Add. Each graph ends in a
 * row sum, so that only n numbers come back (a [n, width] output would time its copy to the host).
 */
async function timeProducts(sae: SaeWeights, settings: SessionSettings, x: Float32Array, runs: number): Promise<string> {
  const d = sae.dIn,
    m = sae.dSae,
    n = x.length / d;
  const forms = {
    'encoder Gemm': (g: GraphBuilder) => g.one('Relu', [g.one('Gemm', ['x', 'W_enc', 'b_enc'])]),
    'encoder MatMul+Add': (g: GraphBuilder) => g.one('Relu', [g.one('Add', [g.one('MatMul', ['x', 'W_enc']), 'b_enc'])]),
    'encoder and decoder': (g: GraphBuilder) => g.one('MatMul', [g.one('Relu', [g.one('Gemm', ['x', 'W_enc', 'b_enc'])]), 'W_dec']),
  };
  const seconds: Record<string, number> = {};
  for (const [form, build] of Object.entries(forms)) {
    const g = new GraphBuilder({ maxBufferBytes: settings.maxBufferBytes });
    g.floats('W_enc', sae.W_enc, [d, m]);
    g.floats('b_enc', sae.b_enc, [m]);
    if (form === 'encoder and decoder') g.floats('W_dec', sae.W_dec, [m, d]);
    g.one('ReduceSum', [build(g), g.ints('axis1', [1])], [int('keepdims', 0)], 'rows');
    const session = await createSession(
      encodeModel(g, 'products', [tensorInfo('x', FLOAT, ['n', d])], [tensorInfo('rows', FLOAT, ['n'])]),
      settings,
      `products ${form}`,
    );
    try {
      seconds[form] = await timeRuns(session, { x: new ort.Tensor('float32', x, [n, d]) }, runs);
    } finally {
      await session.release();
    }
  }
  const product = 2 * n * d * m;
  const rate = (s: number) => `${(s * 1000).toFixed(1)} ms, ${(product / s / 1e12).toFixed(2)} TFLOP/s`;
  const decoder = seconds['encoder and decoder'] - seconds['encoder Gemm'];
  return (
    `  products alone: encoder Gemm ${rate(seconds['encoder Gemm'])}; encoder MatMul+Add ${rate(seconds['encoder MatMul+Add'])}; ` +
    `decoder (encoder and decoder less encoder) ${decoder > 0 ? rate(decoder) : 'not measurable'}`
  );
}

async function main(): Promise<void> {
  const flags = commandLineFlags(process.argv.slice(2));
  const flag = (name: string, dflt: string) => flags.flag(name) ?? dflt;
  const provider = flag('provider', 'cpu') as ExecutionProviderName;
  const d = Number(flag('hidden', '1024')),
    m = Number(flag('width', '16384')),
    runs = Number(flag('runs', '3'));
  const sizes = flag('tokens', '2048').split(',').map(Number);
  const rng = new Rng(1);
  const sae = randomSae(d, m, rng);
  const settings = { provider, threads: 0, maxBufferBytes: bufferLimit(provider).bytes };
  const projector = await DenseProjector.create(sae, settings, { k: 64, contexts: 5 });
  console.log(
    `dense SAE graph on ${provider}: d ${d}, width ${m}, ${runs} run${runs === 1 ? '' : 's'} per size after ${WARM_UPS} warm-ups`,
  );
  try {
    for (const n of sizes) {
      const hb = activations(n, d, rng);
      const hs = activations(n, d, rng, hb.data as Float32Array);
      const rows = { flat: Int32Array.from({ length: n }, (_, i) => i), sample: new Int32Array(n), position: new Int32Array(n) };
      const acc = new LayerAccumulator(m, d, 5);
      const times: number[] = [];
      for (let r = 0; r < WARM_UPS + runs; r++) {
        const t = await projector.accumulate(
          acc,
          { data: hb.data as Float32Array, hidden: d, tensor: hb },
          { data: hs.data as Float32Array, hidden: d, tensor: hs },
          rows,
          0,
          n,
        );
        if (r >= WARM_UPS) times.push(t.sae);
      }
      const s = median(times);
      const l0 = acc.cntB.reduce((a, c) => a + c, 0) / ((WARM_UPS + runs) * n);
      console.log(
        `${n} tokens: ${(s * 1000).toFixed(1)} ms per run (${times.map((x) => (x * 1000).toFixed(0)).join(', ')}), ` +
          `${Math.round(n / s).toLocaleString('en')} tokens/s, products ${((8 * n * d * m) / s / 1e12).toFixed(2)} TFLOP/s, L0 ${l0.toFixed(1)}`,
      );
      console.log(await timeProducts(sae, settings, hb.data as Float32Array, runs));
    }
  } finally {
    await projector.release();
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exitCode = 1;
});
