/**
 * SAEs saved as one torch.save'd state dict (test/fixtures/torch-state-dict, built by torch_state_dict_fixtures.py):
 * Goodfire's encoder_linear / decoder_linear and qresearch's encoder / decoder, read as their classes compute them.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { detectSaeFormat, loadSae, readSaeInfo } from '../src/engine/sae/loadSae';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { latentSubset } from '../src/engine/sae/saeGraph';
import { REPO_ROOT, scratchDir } from './helpers/paths';
import { encodeAndDecodeWithOrt } from './helpers/saeDirect';

const DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'torch-state-dict');
const expected = readSafetensors(path.join(DIR, 'expected.safetensors'));
const x = expected.get('x')!.data;

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst / scale;
}

for (const [name, dtype] of [
  ['goodfire', 'BF16'],
  ['qresearch', 'F32'],
] as const) {
  test(`a lone ${name} state dict: its latents and reconstructions, its layer from the file name`, async () => {
    const folder = path.join(DIR, name);
    assert.equal(detectSaeFormat(folder), 'torch_state_dict');
    const sae = loadSae(folder);
    assert.deepEqual(
      [sae.architecture, sae.dIn, sae.dSae, sae.dtype, sae.hookLayer, sae.hookPoint, sae.applyBDecToInput],
      ['standard', 128, 256, dtype, 3, 'resid_post', false],
    );
    assert.match(sae.sourceKind!, name === 'goodfire' ? /^Goodfire's encoder_linear/ : /^qresearch's encoder \/ decoder/);
    const { z, r } = await encodeAndDecodeWithOrt(sae, x, 24);
    assert.ok(maxRelDiff(z, expected.get(`${name}.latents`)!.data) <= 1e-5, 'latents');
    assert.ok(maxRelDiff(r, expected.get(`${name}.reconstruction`)!.data) <= 1e-5, 'reconstructions');
    const ids = [255, 0, 40];
    const read = loadSae(folder, 'auto', ids);
    const cut = latentSubset(sae, ids);
    for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec'] as const) assert.deepEqual(read[key], cut[key], key);
  });
}

test('a folder with two state dicts, or a state dict of another layout, is refused naming what it holds', () => {
  const refusals = path.join(DIR, 'refusals');
  assert.equal(detectSaeFormat(path.join(refusals, 'two-files')), undefined);
  assert.throws(() => readSaeInfo(path.join(refusals, 'two-files')), /No SAE in .*two-files/);
  assert.throws(
    () => readSaeInfo(path.join(refusals, 'other-layout')),
    /sae-l3\.pt holds W_enc, W_dec: not an SAE layout sae-diff reads from a lone state dict/,
  );
  // without l{N} in its name the file says no layer: the SAE is hooked where the config puts it
  const dir = scratchDir('torch-state-dict');
  fs.copyFileSync(path.join(DIR, 'qresearch', 'DeepSeek-R1-Distill-tiny-SAE-l3.pt'), path.join(dir, 'sae.pt'));
  assert.deepEqual([readSaeInfo(dir).hookLayer, readSaeInfo(dir).hookPoint], [undefined, undefined]);
});
