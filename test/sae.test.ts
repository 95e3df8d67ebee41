import assert from 'node:assert/strict';
import * as path from 'path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { HookedModel } from '../src/engine/model/runner';
import { loadSae, SaeWeights } from '../src/engine/sae/loadSae';
import { buildEncoderGraph } from '../src/engine/sae/saeGraph';
import { FIXTURES } from './helpers/paths';

const variants = path.join(FIXTURES, 'saes-variants');
const cpu = { provider: 'cpu' as const, threads: 0 };

/** Real layer-3 activations of the base model on a few prompts (BOS excluded). */
async function layer3Activations(): Promise<{ data: Float32Array; n: number }> {
  const model = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), { targets: [3], hookPoint: 'resid_post', tensorNames: new Map() }, cpu);
  const ids = Int32Array.from([0, 84, 290, 301, 77, 412, 99, 300, 0, 55, 66, 77, 88, 99, 100, 101]);
  const out = await model.run({ batch: 2, seq: 8, ids, mask: new Uint8Array(16).fill(1) });
  await model.release();
  const h = out.get(3)!;
  const rows = [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15];
  const data = new Float32Array(rows.length * 128);
  rows.forEach((r, i) => data.set(h.data.subarray(r * 128, r * 128 + 128), i * 128));
  return { data, n: rows.length };
}

async function encodeWithOrt(sae: SaeWeights, x: Float32Array, n: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(buildEncoderGraph(sae));
  const out = await session.run({ x: new ort.Tensor('float32', x, [n, sae.dIn]) });
  await session.release();
  return out.z.data as Float32Array;
}

/** METRICS.md's encoder, computed directly in float64. */
function encodeDirect(sae: SaeWeights, x: Float32Array, n: number): Float64Array {
  const { dIn: d, dSae: m } = sae;
  const z = new Float64Array(n * m);
  for (let t = 0; t < n; t++) {
    const pre = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      let s = sae.b_enc[j];
      for (let i = 0; i < d; i++) s += (x[t * d + i] - (sae.applyBDecToInput ? sae.b_dec[i] : 0)) * sae.W_enc[i * m + j];
      pre[j] = s;
    }
    if (sae.architecture === 'standard') for (let j = 0; j < m; j++) z[t * m + j] = Math.max(0, pre[j]);
    else if (sae.architecture === 'jumprelu') for (let j = 0; j < m; j++) z[t * m + j] = pre[j] > sae.threshold![j] ? pre[j] : 0;
    else {
      const order = Array.from(pre.keys()).sort((a, b) => pre[b] - pre[a] || a - b).slice(0, sae.kSae);
      for (const j of order) z[t * m + j] = Math.max(0, pre[j]);
    }
  }
  return z;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const variant of ['jumprelu', 'topk', 'bf16', 'sparsify', 'gemmascope']) {
  test(`SAE variant ${variant}: ONNX Runtime encodings equal a direct computation (1e-5)`, async () => {
    const sae = loadSae(path.join(variants, variant));
    const { data, n } = await layer3Activations();
    const z = await encodeWithOrt(sae, data, n);
    assert.ok(maxAbsDiff(z, encodeDirect(sae, data, n)) <= 1e-5);
    assert.ok(z.some((v) => v > 0), 'some features fire');
  });
}

test('SAE variant architectures and layouts are read as documented', () => {
  const expect: Record<string, [string, string, boolean, number | undefined]> = {
    jumprelu: ['saelens', 'jumprelu', true, undefined],
    topk: ['saelens', 'topk', true, 16],
    bf16: ['saelens', 'standard', true, undefined],
    sparsify: ['sparsify', 'standard', true, undefined],
    gemmascope: ['gemmascope', 'jumprelu', false, undefined],
  };
  for (const [v, [format, arch, applyBDec, k]] of Object.entries(expect)) {
    const sae = loadSae(path.join(variants, v));
    assert.deepEqual([sae.format, sae.architecture, sae.applyBDecToInput, sae.kSae], [format, arch, applyBDec, k], v);
    assert.deepEqual([sae.dIn, sae.dSae], [128, 1024]);
  }
});

test('bf16 weights are the float32 layer-3 SAE rounded (differences within bf16 precision)', () => {
  const f32 = loadSae(path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post'));
  const bf16 = loadSae(path.join(variants, 'bf16'));
  const d = maxAbsDiff(f32.W_enc, bf16.W_enc);
  assert.ok(d > 0 && d <= 9.1e-3, `max diff ${d}`);
});

test('sparsify and Gemma Scope layouts give the latents of their SAELens twins', async () => {
  const { data, n } = await layer3Activations();
  const standard = await encodeWithOrt(loadSae(path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post')), data, n);
  const sparsify = await encodeWithOrt(loadSae(path.join(variants, 'sparsify')), data, n);
  assert.ok(maxAbsDiff(standard, sparsify) <= 1e-5);
  const jumprelu = await encodeWithOrt(loadSae(path.join(variants, 'jumprelu')), data, n);
  const gemmascope = await encodeWithOrt(loadSae(path.join(variants, 'gemmascope')), data, n);
  assert.ok(maxAbsDiff(jumprelu, gemmascope) <= 1e-5);
});
