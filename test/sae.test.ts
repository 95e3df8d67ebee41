import assert from 'node:assert/strict';
import * as path from 'path';
import { test } from 'node:test';
import { loadSae } from '../src/engine/sae/loadSae';
import { FIXTURES } from './helpers/paths';
import { encodeDirect, encodeWithOrt, layer3Activations, maxAbsDiff } from './helpers/saeDirect';

const variants = path.join(FIXTURES, 'saes-variants');

for (const variant of ['jumprelu', 'topk', 'bf16', 'sparsify', 'gemmascope']) {
  test(`SAE variant ${variant}: ONNX Runtime encodings equal a direct computation (1e-5)`, async () => {
    const sae = loadSae(path.join(variants, variant));
    const { data, n } = await layer3Activations();
    const z = await encodeWithOrt(sae, data, n);
    assert.ok(maxAbsDiff(z, encodeDirect(sae, data, n)) <= 1e-5);
    assert.ok(
      z.some((v) => v > 0),
      'some features fire',
    );
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
