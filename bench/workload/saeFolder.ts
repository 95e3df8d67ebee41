import * as fs from 'fs';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { onnx } from 'onnx-proto';
import { Rng, streamSeed, toHalfArray } from './rng';
import { TensorToWrite, writeSafetensors } from './safetensorsWriter';

export interface SaeSpec {
  layer: number;
  hidden: number;
  dSae: number;
  fp16: boolean;
  seed: number;
  modelName: string;
}

/** X [N,H] @ W [H,C] on ONNX Runtime: the calibration product is too big for a JS loop at real sizes. */
async function matmulSession(): Promise<ort.InferenceSession> {
  const F = onnx.TensorProto.DataType.FLOAT;
  const vi = (name: string, dims: string[]) => ({
    name,
    type: { tensorType: { elemType: F, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const bytes = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'mm',
      node: [{ opType: 'MatMul', input: ['x', 'w'], output: ['y'], name: 'mm' }],
      input: [vi('x', ['n', 'h']), vi('w', ['h', 'c'])],
      output: [vi('y', ['n', 'c'])],
    },
  }).finish();
  return ort.InferenceSession.create(bytes, { executionProviders: ['cpu'] });
}

/** torch.quantile's default (linear interpolation between the two nearest ranks). */
function quantile(sorted: Float32Array, q: number): number {
  const pos = q * (sorted.length - 1),
    lo = Math.floor(pos),
    hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

const bytesOf = (a: Float32Array, half: boolean): Uint8Array => {
  const v = half ? toHalfArray(a) : a;
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
};

/**
 * A SAELens SAE for one layer, built the way ../shared/bench/make_bench_gpu.py builds it: random
 * unit decoder rows, b_dec the mean activation, W_enc = W_dec^T / std(h), and b_enc set so each latent
 * fires on about 0.8% of the calibration tokens (its 0.992 quantile), as a trained SAE of this width would.
 * `acts` are the base model's resid_post activations at this layer [N, hidden], position 0 excluded.
 */
export async function writeSaeFolder(
  folder: string,
  spec: SaeSpec,
  acts: Float32Array,
  templateCfg: Record<string, unknown>,
): Promise<void> {
  const { hidden: H, dSae: D } = spec;
  const n = acts.length / H;
  const bDec = new Float32Array(H);
  for (let t = 0; t < n; t++) for (let j = 0; j < H; j++) bDec[j] += acts[t * H + j] / n;
  let mean = 0,
    m2 = 0;
  for (let i = 0; i < acts.length; i++) mean += acts[i] / acts.length;
  for (let i = 0; i < acts.length; i++) m2 += (acts[i] - mean) ** 2;
  const std = Math.sqrt(m2 / (acts.length - 1));
  const rng = new Rng(streamSeed(spec.seed, `sae.${spec.layer}.W_dec`));
  const wDec = new Float32Array(D * H);
  for (let r = 0; r < D; r++) {
    const row = wDec.subarray(r * H, (r + 1) * H);
    rng.fillNormal(row, 1);
    let norm = 0;
    for (const v of row) norm += v * v;
    norm = Math.sqrt(norm);
    for (let j = 0; j < H; j++) row[j] /= norm;
  }
  const wEnc = new Float32Array(H * D);
  for (let r = 0; r < D; r++) for (let j = 0; j < H; j++) wEnc[j * D + r] = wDec[r * H + j] / std;
  const centered = Float32Array.from(acts, (v, i) => v - bDec[i % H]);
  const bEnc = new Float32Array(D);
  const session = await matmulSession();
  try {
    const chunk = Math.max(1, Math.min(D, Math.floor((64 << 20) / Math.max(n, H))));
    for (let c0 = 0; c0 < D; c0 += chunk) {
      const c = Math.min(chunk, D - c0);
      const w = new Float32Array(H * c);
      for (let j = 0; j < H; j++) w.set(wEnc.subarray(j * D + c0, j * D + c0 + c), j * c);
      const out = await session.run({ x: new ort.Tensor('float32', centered, [n, H]), w: new ort.Tensor('float32', w, [H, c]) });
      const pre = out.y.data as Float32Array;
      const col = new Float32Array(n);
      for (let f = 0; f < c; f++) {
        for (let t = 0; t < n; t++) col[t] = pre[t * c + f];
        bEnc[c0 + f] = -quantile(col.sort(), 0.992);
      }
    }
  } finally {
    await session.release();
  }
  fs.mkdirSync(folder, { recursive: true });
  const dtype = spec.fp16 ? 'F16' : 'F32';
  const tensors: TensorToWrite[] = [
    { name: 'W_enc', dtype, shape: [H, D], bytes: bytesOf(wEnc, spec.fp16) },
    { name: 'b_enc', dtype, shape: [D], bytes: bytesOf(bEnc, spec.fp16) },
    { name: 'W_dec', dtype, shape: [D, H], bytes: bytesOf(wDec, spec.fp16) },
    { name: 'b_dec', dtype, shape: [H], bytes: bytesOf(bDec, spec.fp16) },
  ];
  writeSafetensors(path.join(folder, 'sae_weights.safetensors'), tensors);
  const hook = `blocks.${spec.layer}.hook_resid_post`;
  const cfg = {
    ...templateCfg,
    d_in: H,
    d_sae: D,
    dtype: spec.fp16 ? 'float16' : 'float32',
    model_name: spec.modelName,
    hook_name: hook,
    hook_layer: spec.layer,
    dataset_path: 'synthetic: random SAE calibrated on the bench prompts (sae-diff bench)',
  };
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify(cfg, null, 2));
}
