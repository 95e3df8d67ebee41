import assert from 'node:assert/strict';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { HookedModel } from '../../src/engine/model/runner';
import { loadSae, type SaeWeights } from '../../src/engine/sae/loadSae';
import { buildEncoderGraph, latentSubset } from '../../src/engine/sae/saeGraph';
import { FIXTURES } from './paths';

const cpu = { provider: 'cpu' as const, threads: 0 };

/** Real layer-3 activations of the base model on a few prompts (BOS excluded). */
export async function layer3Activations(): Promise<{ data: Float32Array; n: number }> {
  const model = await HookedModel.load(
    path.join(FIXTURES, 'base', 'model.onnx'),
    { targets: [3], hookPoint: 'resid_post', tensorNames: new Map() },
    cpu,
  );
  const ids = Int32Array.from([0, 84, 290, 301, 77, 412, 99, 300, 0, 55, 66, 77, 88, 99, 100, 101]);
  const out = await model.run({ batch: 2, seq: 8, ids, mask: new Uint8Array(16).fill(1) });
  await model.release();
  const h = out.get(3)!;
  const rows = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15];
  const data = new Float32Array(rows.length * 128);
  rows.forEach((r, i) => data.set(h.data.subarray(r * 128, r * 128 + 128), i * 128));
  return { data, n: rows.length };
}

export async function encodeWithOrt(sae: SaeWeights, x: Float32Array, n: number): Promise<Float32Array> {
  return (await encodeAndDecodeWithOrt(sae, x, n)).z;
}

/** The encoder graph's z and reconstruction r; `maxBufferBytes` splits its weight matrices as on WebGPU. */
export async function encodeAndDecodeWithOrt(
  sae: SaeWeights,
  x: Float32Array,
  n: number,
  maxBufferBytes?: number,
): Promise<{ z: Float32Array; r: Float32Array }> {
  const graph = buildEncoderGraph(sae, { maxBufferBytes });
  const session = await ort.InferenceSession.create(graph.model, { externalData: graph.externalData });
  const out = await session.run({ x: new ort.Tensor('float32', x, [n, sae.dIn]) });
  await session.release();
  return { z: out.z.data as Float32Array, r: out.r.data as Float32Array };
}

/** docs/metrics.md's encoder, computed directly in float64. */
export function encodeDirect(sae: SaeWeights, xRaw: Float32Array, n: number): Float64Array {
  const { dIn: d, dSae: m } = sae;
  const z = new Float64Array(n * m);
  const x = normalizeDirect(sae, xRaw, n);
  for (let t = 0; t < n; t++) {
    const pre = new Float64Array(m);
    const mag = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      let s = sae.b_enc[j],
        sm = sae.b_mag ? sae.b_mag[j] : 0;
      for (let i = 0; i < d; i++) {
        const xi = x[t * d + i] - (sae.applyBDecToInput ? sae.b_dec[i] : 0);
        s += xi * sae.W_enc[i * m + j];
        if (sae.W_mag) sm += xi * sae.W_mag[i * m + j];
      }
      pre[j] = s;
      mag[j] = sm;
    }
    if (sae.architecture === 'gated') {
      for (let j = 0; j < m; j++) z[t * m + j] = pre[j] > 0 ? Math.max(0, mag[j]) : 0;
      continue;
    }
    if (sae.architecture === 'standard') for (let j = 0; j < m; j++) z[t * m + j] = Math.max(0, pre[j]);
    else if (sae.architecture === 'jumprelu') for (let j = 0; j < m; j++) z[t * m + j] = pre[j] > sae.threshold![j] ? pre[j] : 0;
    else {
      const order = Array.from(pre.keys())
        .sort((a, b) => pre[b] - pre[a] || a - b)
        .slice(0, sae.kSae);
      for (const j of order) z[t * m + j] = Math.max(0, pre[j]);
    }
  }
  return z;
}

/**
 * An SAE as the engine reads it gives what its own library computed (`want`: latents and reconstructions of `x`), within
 * 1e-5 of the largest value, with the same latents firing; and, for feature-wise architectures, reading single latents
 * (what the feature details do) gives exactly the whole SAE's.
 */
export async function assertLikeLibrary(
  sae: SaeWeights,
  x: Float32Array,
  n: number,
  want: { latents: Float32Array; reconstruction: Float32Array },
): Promise<void> {
  const { z, r } = await encodeAndDecodeWithOrt(sae, x, n);
  assert.ok(maxRelativeDiff(z, want.latents) <= 1e-5, `latents: ${maxRelativeDiff(z, want.latents)}`);
  assert.ok(maxRelativeDiff(r, want.reconstruction) <= 1e-5, `reconstructions: ${maxRelativeDiff(r, want.reconstruction)}`);
  assert.deepEqual(
    Array.from(z, (v) => v > 0),
    Array.from(want.latents, (v) => v > 0),
    'the same latents fire: none on the wrong side of a threshold',
  );
  if (sae.architecture === 'topk') return;
  const ids = [63, 0, 17, 5];
  const read = loadSae(sae.folder, 'auto', ids);
  const cut = latentSubset(sae, ids);
  for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold', 'W_mag', 'b_mag'] as const)
    assert.deepEqual(read[key], cut[key], key);
}

/** The largest |a - b| relative to the largest |b| (at least 1). */
export function maxRelativeDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  return maxAbsDiff(a, b) / scale;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** SAELens normalisations, per token, in float64. */
export function normalizeDirect(sae: SaeWeights, x: Float32Array, n: number): Float64Array {
  const d = sae.dIn;
  const out = Float64Array.from(x);
  for (let t = 0; t < n; t++) {
    const row = out.subarray(t * d, t * d + d);
    if (sae.normalization === 'expected_average_only_in') row.forEach((v, i) => (row[i] = v * sae.scalingFactor!));
    else if (sae.normalization === 'constant_norm_rescale') {
      const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
      row.forEach((v, i) => (row[i] = (v * Math.sqrt(d)) / norm));
    } else if (sae.normalization === 'layer_norm') {
      const mean = row.reduce((a, v) => a + v, 0) / d;
      const std = Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / (d - 1));
      row.forEach((v, i) => (row[i] = (v - mean) / (std + 1e-5)));
    }
  }
  return out;
}
