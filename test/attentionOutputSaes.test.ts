/**
 * SAEs saved by Kissane et al.'s attention-output-saes ({name}.pt + {name}_cfg.json; test/fixtures/attention-output-saes,
 * built by attention_output_saes_fixtures.py): read as its AutoEncoder.forward computes them, named by their .pt
 * file where several sit side by side, and run on attn_z as its train.py trained them: on TransformerLens's default
 * processing, the value biases folded out of hook_z.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { hoverAt } from '../src/engine/authoring/hover';
import { validateConfigText } from '../src/engine/authoring/index';
import { hubSaeHint, resolveSaePath } from '../src/engine/model/hfCache';
import { loadRunConfig } from '../src/engine/model/loadRunConfig';
import { SaeDiffError } from '../src/engine/core/errors';
import { detectSaeFormat, loadSae, readSaeInfo } from '../src/engine/sae/loadSae';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { LAYER_SCALARS } from './helpers/golden';
import { REPO_ROOT, scratchDir } from './helpers/paths';
import { assertLikeLibrary } from './helpers/saeDirect';
import { writeSafetensors } from './helpers/safetensors';
import { runYaml } from './helpers/cli';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const HERE = path.join(FIXTURES, 'attention-output-saes');
const GPT2 = path.join(FIXTURES, 'gpt2');
const expected = readSafetensors(path.join(HERE, 'expected.safetensors'));
const x = expected.get('x')!.data;
const n = expected.get('x')!.shape[0];
/** The .pt file of `layer`'s SAE in the gpt2 folder (two side by side, as the hub repo holds twelve). */
const fileOf = (layer: number) =>
  path.join(
    HERE,
    'gpt2',
    fs.readdirSync(path.join(HERE, 'gpt2')).find((f) => f.includes(`_L${layer}_`) && f.endsWith('.pt'))!,
  );
const scratch = scratchDir('attention-output-saes');

for (const layer of [1, 2]) {
  test(`attention-output-saes' layer ${layer} SAE, named by its .pt file, encodes and decodes as AutoEncoder.forward does`, async () => {
    const sae = loadSae(fileOf(layer));
    assert.deepEqual(
      [
        sae.format,
        sae.architecture,
        sae.dIn,
        sae.dSae,
        sae.hookLayer,
        sae.hookPoint,
        sae.hookName,
        sae.applyBDecToInput,
        sae.prependBos,
        sae.modelName,
      ],
      ['attention_output_saes', 'standard', 64, 128, layer, 'attn_z', `blocks.${layer}.attn.hook_z`, true, true, 'gpt2-small'],
    );
    assert.deepEqual(
      [sae.modelProcessing?.centre, sae.modelProcessing?.foldValueBiases],
      [true, true],
      'train.py loads HookedTransformer.from_pretrained with its default processing',
    );
    await assertLikeLibrary(sae, x, n, {
      latents: expected.get(`L${layer}.latents`)!.data,
      reconstruction: expected.get(`L${layer}.reconstruction`)!.data,
    });
  });
}

test("a folder of one pair reads as its .pt file; a folder of several asks for the file; one head's SAE and a foreign state dict are refused", () => {
  const single = path.join(scratch, 'single');
  fs.mkdirSync(single, { recursive: true });
  for (const f of [fileOf(1), fileOf(1).replace(/\.pt$/, '_cfg.json')]) fs.copyFileSync(f, path.join(single, path.basename(f)));
  assert.equal(detectSaeFormat(single), 'attention_output_saes');
  assert.deepEqual(readSaeInfo(single).dSae, readSaeInfo(fileOf(1)).dSae);
  const refused = (where: string, pattern: RegExp) =>
    assert.throws(
      () => readSaeInfo(where),
      (e: unknown) => e instanceof SaeDiffError && pattern.test(`${e.message} ${e.hint}`),
    );
  refused(
    path.join(HERE, 'gpt2'),
    /holds 2 SAEs saved by attention-output-saes .*Name each layer's \.pt file: sae\.path as a map from layer to file/,
  );
  refused(path.join(HERE, 'one-head'), /reads one head's z \(concat_heads false, head 2\)/);
  // another state dict beside a {name}_cfg.json is not one of these
  const foreign = path.join(scratch, 'foreign');
  fs.mkdirSync(foreign, { recursive: true });
  fs.copyFileSync(
    path.join(FIXTURES, 'torch-state-dict', 'goodfire', fs.readdirSync(path.join(FIXTURES, 'torch-state-dict', 'goodfire'))[0]),
    path.join(foreign, 'sae.pt'),
  );
  fs.copyFileSync(fileOf(1).replace(/\.pt$/, '_cfg.json'), path.join(foreign, 'sae_cfg.json'));
  refused(path.join(foreign, 'sae.pt'), /holds decoder_linear\.bias, .*encoder_linear\.weight, not an attention-output-saes AutoEncoder/);
});

/** A run of GPT-2's base vs sft on attn_z at layers 1 and 2 with `sae` (a sae.path value); its report and log. */
async function runGpt2(name: string, sae: string) {
  const q = (p: string) => JSON.stringify(p.replace(/\\/g, '/'));
  const yaml = `diagnostic_pipeline:
  models: { base: ${q(path.join(GPT2, 'base'))}, sft: ${q(path.join(GPT2, 'sft'))} }
  sae: { path: ${sae}, k: 16 }
  layers: { target_indices: [1, 2], hook_point: attn_z }
  dataset: { path: ${q(path.join(FIXTURES, 'tiny-llama', 'eval', 'general.jsonl'))}, max_samples: 24 }
  runtime: { max_tokens: 48, execution_provider: cpu }
`;
  return { ...(await runYaml(path.join(scratch, name), yaml)), yaml };
}

test('a run with the .pt files mapped to layers folds the value biases out of attn_z, as the SAELens twin whose cfg.json says fold_value_biases', async () => {
  const map = `{ 1: ${JSON.stringify(fileOf(1).replace(/\\/g, '/'))}, 2: ${JSON.stringify(fileOf(2).replace(/\\/g, '/'))} }`;
  const kissane = await runGpt2('kissane', map);
  assert.match(
    kissane.log,
    /attn_z minus each head's value bias at layers 1, 2, as TransformerLens's fold_value_biases \(attention-output-saes' train\.py/,
  );
  assert.deepEqual(
    kissane.report.run.saes?.map((s) => [s.layer, s.format, s.value_biases_folded]),
    [
      [1, 'attention_output_saes', true],
      [2, 'attention_output_saes', true],
    ],
  );
  // the same weights in SAELens's layout, cfg.json saying TransformerLens folded the value biases
  for (const layer of [1, 2]) {
    const sae = loadSae(fileOf(layer));
    const folder = path.join(scratch, 'saelens', `blocks.${layer}.attn.hook_z`);
    fs.mkdirSync(folder, { recursive: true });
    writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
      W_enc: { shape: [64, 128], data: sae.W_enc },
      b_enc: { shape: [128], data: sae.b_enc },
      W_dec: { shape: [128, 64], data: sae.W_dec },
      b_dec: { shape: [64], data: sae.b_dec },
    });
    fs.writeFileSync(
      path.join(folder, 'cfg.json'),
      JSON.stringify({
        architecture: 'standard',
        d_in: 64,
        d_sae: 128,
        dtype: 'float32',
        hook_name: `blocks.${layer}.attn.hook_z`,
        hook_layer: layer,
        activation_fn_str: 'relu',
        apply_b_dec_to_input: true,
        normalize_activations: 'none',
        reshape_activations: 'hook_z',
        prepend_bos: true,
        sae_lens_training_version: '6.5.0',
        model_from_pretrained_kwargs: { fold_value_biases: true, center_writing_weights: true },
      }),
    );
  }
  const twin = await runGpt2('saelens', JSON.stringify(path.join(scratch, 'saelens', 'blocks.{layer}.attn.hook_z').replace(/\\/g, '/')));
  for (const [a, b] of kissane.report.comparisons[0].layers.map((l, i) => [l, twin.report.comparisons[0].layers[i]] as const))
    for (const key of LAYER_SCALARS) assert.ok(Math.abs(a[key] - b[key]) <= 1e-6, `layer ${a.layer} ${key}: ${a[key]} vs ${b[key]}`);
  // the editor takes the map of files, and says what the SAEs were trained on
  assert.deepEqual(
    validateConfigText(kissane.yaml, kissane.configFile).diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  const lines = kissane.yaml.split('\n');
  const line = lines.findIndex((l) => l.includes('  sae:'));
  const hover = hoverAt(kissane.yaml, kissane.configFile, { line, character: lines[line].indexOf('_L1_') })!;
  assert.match(hover.markdown, /Trained with TransformerLens's value biases folded out of hook_z \(attention-output-saes' train\.py/);
});

const REPO = 'ckkissane/attn-saes-gpt2-small-all-layers';
/** A hub cache whose snapshot of REPO holds the gpt2 pairs side by side, as `hf download` leaves them. */
function hubCache(): { hub: string; snapshot: string } {
  const hub = path.join(scratch, 'hub');
  const snapshot = path.join(hub, 'models--ckkissane--attn-saes-gpt2-small-all-layers', 'snapshots', 'rev1');
  fs.mkdirSync(snapshot, { recursive: true });
  for (const f of fs.readdirSync(path.join(HERE, 'gpt2'))) fs.copyFileSync(path.join(HERE, 'gpt2', f), path.join(snapshot, f));
  return { hub, snapshot };
}

test('a .pt file of the hub repo is found in the local cache; a missing one is downloaded with its {name}_cfg.json: the hint names both', () => {
  const { hub, snapshot } = hubCache();
  const l1 = path.basename(fileOf(1));
  const found = resolveSaePath(`${REPO}/${l1}`, scratch, { HF_HUB_CACHE: hub });
  assert.equal(found.folder, path.join(snapshot, l1));
  assert.equal(readSaeInfo(found.folder).hookLayer, 1);
  const name = 'gpt2-small_L5_Hcat_z_lr1.20e-03_l18.00e-01_ds24576_bs4096_dc1.00e-06_rsanthropic_rie25000_nr4_v9';
  assert.match(
    hubSaeHint({ id: REPO, subpath: `${name}.pt` }, { HF_HUB_CACHE: path.join(scratch, 'no-hub') }),
    new RegExp(`its file ${name}\\.pt is not in the local cache .*hf download ${REPO} --include "${name}\\.pt" "${name}_cfg\\.json"`),
  );
});

test("a {layer} template whose file name has a * names each layer's .pt file, beside the config or in the hub cache; several matches are refused, listing them", () => {
  const pattern = 'gpt2-small_L{layer}_Hcat_z_*.pt';
  const dir = path.join(scratch, 'template');
  fs.mkdirSync(dir, { recursive: true });
  const q = (p: string) => JSON.stringify(p.replace(/\\/g, '/'));
  const yaml = (sae: string) => `diagnostic_pipeline:
  models: { base: ${q(path.join(GPT2, 'base'))}, sft: ${q(path.join(GPT2, 'sft'))} }
  sae: { path: ${q(sae)} }
  layers: { target_indices: [1, 2], hook_point: attn_z }
  dataset: { path: ${q(path.join(FIXTURES, 'tiny-llama', 'eval', 'general.jsonl'))} }
`;
  const configFile = path.join(dir, 'template.sae-diff.yaml');
  fs.writeFileSync(configFile, yaml(path.join(HERE, 'gpt2', pattern)));
  assert.deepEqual([...loadRunConfig(configFile).sae.paths.values()], [fileOf(1), fileOf(2)]);
  const text = fs.readFileSync(configFile, 'utf8');
  assert.deepEqual(
    validateConfigText(text, configFile).diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
  // in the hub cache, and the download command for a layer that is not there
  const { hub, snapshot } = hubCache();
  const found = resolveSaePath(`${REPO}/${pattern.replace('{layer}', '2')}`, dir, { HF_HUB_CACHE: hub });
  assert.equal(found.folder, path.join(snapshot, path.basename(fileOf(2))));
  assert.match(
    hubSaeHint({ id: REPO, subpath: pattern.replace('{layer}', '7') }, { HF_HUB_CACHE: hub }),
    /--include "gpt2-small_L7_Hcat_z_\*\.pt" "gpt2-small_L7_Hcat_z_\*_cfg\.json"/,
  );
  // a pattern that matches both layers' files names them
  const both = resolveSaePath(path.join(HERE, 'gpt2', 'gpt2-small_L*.pt'), dir).folder;
  assert.throws(
    () => readSaeInfo(both),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      /2 entries match the SAE path .*gpt2-small_L\*\.pt: gpt2-small_L1_.*\.pt, gpt2-small_L2_.*\.pt$/.test(e.message),
  );
  const editor = validateConfigText(yaml(path.join(HERE, 'gpt2', 'gpt2-small_L*.pt')), configFile).diagnostics;
  assert.match(
    editor.find((d) => d.code === 'sae-not-found')?.message ?? '',
    /No usable SAE for layers 1, 2: 2 entries match the SAE path/,
  );
});
