/**
 * OpenMOSS Language-Model-SAEs runs (hyperparams.json + checkpoints/final.safetensors: how Llama Scope is published),
 * read from the files the library writes (test/fixtures/lm-saes, built by lm_saes_fixtures.py) and checked against what
 * its own SparseAutoEncoder.from_pretrained, encode and decode compute (expected.safetensors).
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { SaeDiffError } from '../src/engine/core/errors';
import { detectSaeFormat, loadSae, readSaeInfo } from '../src/engine/sae/loadSae';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { runLayer3 } from './helpers/cli';
import { REPO_ROOT, scratchDir } from './helpers/paths';
import { assertLikeLibrary } from './helpers/saeDirect';
import { writeSafetensors } from './helpers/safetensors';

const LM = path.join(REPO_ROOT, 'test', 'fixtures', 'lm-saes');
const expected = readSafetensors(path.join(LM, 'expected.safetensors'));
const x = expected.get('x')!.data;
const n = expected.get('x')!.shape[0];

const SAES: [string, string, string][] = [
  ['jumprelu', 'jumprelu', 'Language-Model-SAEs jumprelu, threshold 0.5, dataset-wise normalisation folded in'],
  ['topk', 'topk', 'Language-Model-SAEs topk, k 8, dataset-wise normalisation folded in'],
  ['relu', 'standard', 'Language-Model-SAEs relu'],
];
for (const [folder, architecture, kind] of SAES) {
  test(`Language-Model-SAEs ${folder}: latents and reconstructions equal the library's own from_pretrained, encode and decode`, async () => {
    assert.equal(detectSaeFormat(path.join(LM, folder)), 'lm_saes');
    const sae = loadSae(path.join(LM, folder));
    assert.deepEqual([sae.format, sae.architecture, sae.dIn, sae.dSae, sae.sourceKind], ['lm_saes', architecture, 128, 64, kind]);
    assert.deepEqual([sae.hookLayer, sae.hookPoint, sae.modelName], [3, 'resid_post', 'tiny-llama/base']);
    await assertLikeLibrary(sae, x, n, {
      latents: expected.get(`${folder}.latents`)!.data,
      reconstruction: expected.get(`${folder}.reconstruction`)!.data,
    });
  });
}

test('a Language-Model-SAEs SAE saved to a .pt (torch.save of {"sae": state dict}) reads as its safetensors twin', () => {
  const fromPt = loadSae(path.join(LM, 'jumprelu-pt'));
  const fromSafetensors = loadSae(path.join(LM, 'jumprelu'));
  assert.equal(path.basename(fromPt.weightsFile), 'final.pt');
  for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'] as const) assert.deepEqual(fromPt[key], fromSafetensors[key], key);
  assert.deepEqual(loadSae(path.join(LM, 'jumprelu-pt'), 'auto', [5, 1]).W_dec, loadSae(path.join(LM, 'jumprelu'), 'auto', [5, 1]).W_dec);
});

test('Language-Model-SAEs runs the engine cannot read are refused, naming the key', () => {
  for (const [folder, message] of [
    [
      'transcoder',
      /hook_point_out 'blocks\.3\.hook_mlp_out' differs from hook_point_in 'blocks\.3\.hook_resid_post': this is a transcoder/,
    ],
    ['glu', /use_glu_encoder: a gated \(GLU\) encoder is not built/],
    ['token-wise', /norm_activation 'token-wise' scales each token by its own norm, which is not built/],
    ['negative-threshold', /jump_relu_threshold -0\.1 is negative/],
    [
      'topk-with-threshold',
      /act_fn topk with jump_relu_threshold 0\.5: Language-Model-SAEs announces a JumpReLU for inference but still runs top-k/,
    ],
  ] as const) {
    const where = path.join(LM, 'refusals', folder);
    assert.throws(
      () => readSaeInfo(where),
      (e: unknown) => e instanceof SaeDiffError && message.test(e.message) && e.location?.file === path.join(where, 'hyperparams.json'),
      folder,
    );
  }
  // a .pt that is no torch.save archive
  const dir = scratchDir('lm-saes');
  const damaged = path.join(dir, 'damaged');
  fs.mkdirSync(path.join(damaged, 'checkpoints'), { recursive: true });
  fs.copyFileSync(path.join(LM, 'jumprelu', 'hyperparams.json'), path.join(damaged, 'hyperparams.json'));
  fs.writeFileSync(path.join(damaged, 'checkpoints', 'final.pt'), 'pickle');
  assert.throws(() => readSaeInfo(damaged), /not a torch\.save checkpoint/);
});

test('a run with a Llama Scope-style SAE: the hook from hook_point_in, what the SAE is in the log', () => {
  const dir = scratchDir('lm-saes-run');
  const { report, log } = runLayer3(dir, 'run', path.join(LM, 'jumprelu'));
  assert.equal(report.run.saes[0].format, 'lm_saes');
  const layer = report.comparisons[0].layers[0];
  assert.ok(Number.isFinite(layer.explained_variance_base) && layer.dense_cosine < 1, `EV ${layer.explained_variance_base}`);
  assert.match(log, /SAE layer 3: lm_saes jumprelu \(Language-Model-SAEs jumprelu, threshold 0\.5, dataset-wise normalisation folded in\)/);
});

test("a later Language-Model-SAEs folder (config.json with hook_point_in, Llama Scope R1 Distill's layout) is refused as that, not read as SAELens's", () => {
  const folder = path.join(scratchDir('lm-saes-later'), 'L3R');
  fs.mkdirSync(folder, { recursive: true });
  // SparseAutoEncoder.save_pretrained's files: its config, and the weights without the activation norm
  fs.writeFileSync(
    path.join(folder, 'config.json'),
    JSON.stringify({
      sae_type: 'sae',
      d_model: 4,
      expansion_factor: 2,
      hook_point_in: 'blocks.3.hook_resid_post',
      hook_point_out: 'blocks.3.hook_resid_post',
      act_fn: 'jumprelu',
      norm_activation: 'dataset-wise',
    }),
  );
  writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
    'encoder.weight': { shape: [8, 4], data: new Float32Array(32) },
    'encoder.bias': { shape: [8], data: new Float32Array(8) },
    'decoder.weight': { shape: [4, 8], data: new Float32Array(32) },
    'decoder.bias': { shape: [4], data: new Float32Array(4) },
    log_jumprelu_threshold: { shape: [8], data: new Float32Array(8) },
  });
  assert.equal(detectSaeFormat(folder), 'lm_saes');
  assert.throws(
    () => readSaeInfo(folder),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      /saved by a later Language-Model-SAEs \(config\.json with hook_point_in.*does not save the dataset-wise activation norm/.test(
        e.message,
      ) &&
      /SAE\.from_pretrained .* sae\.save_model/.test(e.hint ?? '') &&
      e.location?.file === path.join(folder, 'config.json'),
  );
});
