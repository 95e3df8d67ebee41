import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { applyEdits, quickFixesFor, validateConfigText } from '../src/engine/authoring/index';
import { runCli } from './helpers/cli';

// layers.hook_point that contradicts the SAE's own hook: an error in the editor and in `sae-diff validate`, with a quick fix.
const FIX = path.resolve(__dirname, '../../test/fixtures/tiny-llama');
const TMP = path.resolve(__dirname, '../../test/.tmp/sae-hook-point');
const CONFIG = path.join(TMP, 'hook.sae-diff.yaml');
const ENV = { HF_HUB_CACHE: path.join(TMP, 'empty-hub') };

/** Layer-3 SAE whose SAELens 6 cfg says it reads resid_mid (cfg rewritten, weights shared). */
function midSae(): string {
  const folder = path.join(TMP, 'blocks.3.hook_resid_mid');
  fs.mkdirSync(folder, { recursive: true });
  const src = path.join(FIX, 'saes', 'blocks.3.hook_resid_post');
  fs.copyFileSync(path.join(src, 'sae_weights.safetensors'), path.join(folder, 'sae_weights.safetensors'));
  fs.writeFileSync(
    path.join(folder, 'cfg.json'),
    JSON.stringify({
      architecture: 'standard',
      d_in: 128,
      d_sae: 1024,
      dtype: 'float32',
      device: 'cpu',
      apply_b_dec_to_input: true,
      normalize_activations: 'none',
      reshape_activations: 'none',
      metadata: {
        sae_lens_version: '6.5.0',
        model_name: 'tiny-llama/base',
        hook_name: 'blocks.3.hook_resid_mid',
        hook_head_index: null,
        prepend_bos: true,
      },
    }),
  );
  return folder;
}

function text(layers: string): string {
  return `diagnostic_pipeline:
  models: { base: ${FIX}/base, sft: ${FIX}/sft-late }
  sae: { path: "${midSae()}", k: 16 }
${layers}
  dataset: { path: ${FIX}/eval/general.txt }
`;
}

function fix(t: string): string {
  const ds = validateConfigText(t, CONFIG, { env: ENV }).diagnostics;
  assert.deepEqual(
    ds.map((d) => d.code),
    ['sae-hook-point-mismatch'],
  );
  assert.match(
    ds[0].message,
    /The SAE for layer 3 reads resid_mid \(hook blocks\.3\.hook_resid_mid\), but layers\.hook_point is resid_post/,
  );
  const fixes = quickFixesFor(t, ds);
  assert.equal(fixes.length, 1);
  assert.equal(fixes[0].title, 'Set layers.hook_point: resid_mid');
  const fixed = applyEdits(t, fixes[0].edits);
  assert.deepEqual(validateConfigText(fixed, CONFIG, { env: ENV }).diagnostics, []);
  return fixed;
}

test('hook_point written and wrong: the value is replaced', () => {
  fs.mkdirSync(TMP, { recursive: true });
  assert.match(
    fix(text('  layers: { target_indices: [3], hook_point: resid_post }')),
    /layers: \{ target_indices: \[3\], hook_point: resid_mid \}/,
  );
});

test('hook_point not written (the default resid_post): the key is added, in flow and in block style', () => {
  fs.mkdirSync(TMP, { recursive: true });
  assert.match(fix(text('  layers: { target_indices: [3] }')), /layers: \{ target_indices: \[3\], hook_point: resid_mid \}/);
  assert.match(fix(text('  layers:\n    target_indices: [3]')), / {2}layers:\n {4}target_indices: \[3\]\n {4}hook_point: resid_mid\n/);
});

test('sae-diff validate reports the contradiction as an error, exit 1', () => {
  fs.mkdirSync(TMP, { recursive: true });
  fs.writeFileSync(CONFIG, text('  layers: { target_indices: [3], hook_point: resid_post }'));
  const res = runCli(['validate', CONFIG]);
  assert.equal(res.code, 1);
  assert.match(res.stdout + res.stderr, /error: .*reads resid_mid .*Set layers\.hook_point: resid_mid/);
});
