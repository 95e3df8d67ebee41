/**
 * GPT-2 (test/fixtures/gpt2, built by gpt2_fixtures.py with transformers): its checkpoints run from safetensors as
 * transformers runs them, its ONNX exports hook alike, and TransformerLens's centring (center_writing_weights) is
 * applied where an SAE was trained on it and the model normalises with LayerNorm.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { hoverAt } from '../src/engine/authoring/hover';
import { validateConfigText } from '../src/engine/authoring/index';
import type { HookPoint } from '../src/engine/config/types';
import { SaeDiffError } from '../src/engine/core/errors';
import { normalisesWithLayerNorm } from '../src/engine/model/centring';
import { checkSameProcessing, processingNotes } from '../src/engine/pipeline/modelProcessing';
import { checkpointSpec } from '../src/engine/model/checkpoint/decoderConfig';
import { readLoraAdapter } from '../src/engine/model/checkpoint/loraAdapter';
import { adapterSource, type CheckpointSource, type ModelSource, readModelGraph } from '../src/engine/model/modelSource';
import { readOnnxModel } from '../src/engine/model/onnxGraph';
import { HookedModel } from '../src/engine/model/runner';
import { readUnembedding, type Unembedding } from '../src/engine/report/unembedding';
import { readSaeInfo } from '../src/engine/sae/loadSae';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { runCli, writeConfig } from './helpers/cli';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { LAYER_SCALARS } from './helpers/golden';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';
import { checkpointOf } from './helpers/checkpoints';

const GPT2 = path.join(REPO_ROOT, 'test', 'fixtures', 'gpt2');
const out = scratchDir('gpt2');
const cpu = { provider: 'cpu' as const, threads: 1 };
const POINTS: HookPoint[] = ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out'];

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const EXPORTS = ['torchscript', 'torchscript-opset14', 'dynamo'].map(
  (name) => [name, path.join(GPT2, 'onnx', name, 'model.onnx')] as const,
);

/** Every layer at every hook point within 1e-5 (relative to the values' size) of `section` of base's expected.json. */
async function assertMatchesTransformers(source: ModelSource | string, section?: string, centre = false) {
  const expected = expectedIn(path.join(GPT2, 'base'), section);
  for (const point of POINTS) {
    const centred = centre ? { centred: new Set([0, 1, 2]) } : {};
    for (const d of await differenceFromExpected(source, expected, point, cpu, centred)) {
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
      assert.ok(d.largest > 0.1, `${point} layer ${d.layer}: activations of size ${d.largest}`);
    }
  }
}

test("a GPT-2 checkpoint (LayerNorm, learned positions, Conv1D, fused c_attn) gives transformers' activations at every hook point", async () => {
  await assertMatchesTransformers(checkpointOf(path.join(GPT2, 'base')));
});

test("GPT-2 as openai-community/gpt2's model.safetensors lays it out (no transformer. prefix, attn.bias buffers) runs alike, W_U from wte", async () => {
  const hub = checkpointOf(path.join(GPT2, 'hub-layout'));
  await assertMatchesTransformers(hub);
  const [a, b] = [readUnembedding(hub), readUnembedding(checkpointOf(path.join(GPT2, 'base')))] as Unembedding[];
  assert.equal(typeof a, 'object', String(a));
  assert.deepEqual([a.hidden, a.vocab, a.name], [64, 1024, 'wte.weight']);
  assert.deepEqual([b.name], ['transformer.wte.weight']);
  assert.deepEqual(a.data, b.data);
});

test("a GPT-2 LoRA adapter (PEFT's Conv1D adapters, fan_in_fan_out true, a rank_pattern) gives PEFT's unmerged activations", async () => {
  const folder = path.join(GPT2, 'lora');
  const adapter = readLoraAdapter(folder);
  assert.equal(readJson(path.join(folder, 'adapter_config.json')).fan_in_fan_out, true);
  assert.equal(adapter.modules.size, 12);
  const source = adapterSource(checkpointOf(path.join(GPT2, 'base')) as CheckpointSource, adapter);
  for (const point of ['resid_mid', 'resid_post'] as const) {
    for (const d of await differenceFromExpected(source, expectedIn(folder), point, cpu)) {
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
    }
  }
  // the adapter matters: the base's own values are far from these
  const base = expectedIn(path.join(GPT2, 'base')).points.resid_post![2];
  const adapted = expectedIn(folder).points.resid_post![2];
  assert.ok(Math.max(...base.map((v, i) => Math.abs(v - adapted[i]))) > 0.5);
});

for (const [name, file] of EXPORTS) {
  test(`GPT-2 exported by torch (${name}) hooks at every point as transformers computes them`, async () => {
    await assertMatchesTransformers(file);
  });
}

test('LayerNorm is told from RMSNorm in exports and checkpoint graphs (TransformerLens centres only the former)', () => {
  for (const [name, file] of EXPORTS) assert.equal(normalisesWithLayerNorm(readOnnxModel(file)), true, name);
  assert.equal(normalisesWithLayerNorm(readModelGraph(checkpointOf(path.join(GPT2, 'base'))).model), true, 'gpt2 checkpoint');
  assert.equal(normalisesWithLayerNorm(readOnnxModel(path.join(FIXTURES, 'base', 'model.onnx'))), false, 'tiny-llama export');
  assert.equal(normalisesWithLayerNorm(readModelGraph(checkpointOf(path.join(FIXTURES, 'base'))).model), false, 'tiny-llama checkpoint');
});

test("centred hooks give TransformerLens's center_writing_weights stream at every point: checkpoint and exports", async () => {
  await assertMatchesTransformers(checkpointOf(path.join(GPT2, 'base')), 'centred', true);
  for (const [, file] of EXPORTS) await assertMatchesTransformers(file, 'centred', true);
  // uncentred and centred differ: the check above cannot pass by accident
  const raw = expectedIn(path.join(GPT2, 'base')).points.resid_post![1];
  const centred = expectedIn(path.join(GPT2, 'base'), 'centred').points.resid_post![1];
  assert.ok(Math.max(...raw.map((v, i) => Math.abs(v - centred[i]))) > 0.05);
});

test('an RMSNorm model is never centred (TransformerLens does not centre it): the hooks say so and give the stream as it is', async () => {
  const hooks = { targets: [1], hookPoint: 'resid_post' as const, tensorNames: new Map<number, string>() };
  const plain = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), hooks, cpu);
  const asked = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), { ...hooks, centred: new Set([1]) }, cpu);
  try {
    assert.deepEqual([asked.layerNorm, [...asked.centred]], [false, []]);
    const batch = { batch: 1, seq: 4, ids: Int32Array.of(1, 50, 60, 70), mask: Uint8Array.of(1, 1, 1, 1) };
    assert.deepEqual((await asked.run(batch)).get(1)!.data, (await plain.run(batch)).get(1)!.data);
  } finally {
    await plain.release();
    await asked.release();
  }
});

test("the run says what it centred, and warns where an SAE's centring cannot apply or is not said", () => {
  const none = { centre: false, foldValueBiases: false };
  const asked = new Map([[1, { ...none, centre: true, source: 'cfg.json model_from_pretrained_kwargs center_writing_weights true' }]]);
  const unstated = new Map([
    [2, { ...none, unstated: true, source: 'cfg.json (no model_from_pretrained_kwargs, written before SAELens 3.19.2)' }],
  ]);
  const hooked = (layerNorm: boolean, centred: number[] = [], valueBiased: number[] = [], folded: number[] = []) => ({
    modelFile: 'model.onnx',
    layerNorm,
    centred: new Set(centred),
    valueBiased: new Set(valueBiased),
    valueBiasesFolded: new Set(folded),
  });
  const ln = processingNotes(asked, hooked(true, [1]), 'resid_pre', 'gpt2');
  assert.deepEqual(ln.warnings, []);
  assert.match(ln.logs[0], /centred over the hidden axis at layer 1, as TransformerLens's center_writing_weights \(cfg\.json/);
  const rms = processingNotes(asked, hooked(false), 'resid_pre', 'llama');
  assert.deepEqual(rms.logs, []);
  assert.match(rms.warnings[0], /but llama normalises with RMSNorm, which TransformerLens does not centre/);
  assert.match(processingNotes(unstated, hooked(true), 'resid_pre', 'gpt2').warnings[0], /written before SAELens 3\.19\.2/);
  assert.deepEqual(processingNotes(unstated, hooked(false), 'resid_pre', 'llama').warnings, []);
  // at attn_z: nothing about centring (it changes what writes to the stream), the value biases instead
  const z = processingNotes(unstated, hooked(true, [], [2]), 'attn_z', 'gpt2');
  assert.equal(z.warnings.length, 1);
  assert.match(
    z.warnings[0],
    /does not say whether TransformerLens folded gpt2's value biases out of hook_z .*\{"fold_value_biases": true\}/,
  );
  assert.deepEqual(processingNotes(unstated, hooked(false), 'attn_z', 'llama').warnings, []);
  const folds = new Map([[2, { ...none, foldValueBiases: true, source: 'cfg.json model_from_pretrained_kwargs fold_value_biases true' }]]);
  const folded = processingNotes(folds, hooked(true, [], [2], [2]), 'attn_z', 'gpt2');
  assert.deepEqual(folded.warnings, []);
  assert.match(folded.logs[0], /attn_z minus each head's value bias at layer 2, as TransformerLens's fold_value_biases \(cfg\.json/);
  assert.throws(
    () => checkSameProcessing(hooked(true, [], [2], [2]), [hooked(true)]),
    (e: unknown) => e instanceof SaeDiffError && /ask for TransformerLens's fold_value_biases, but model\.onnx has none/.test(e.message),
  );
});

test('SAELens configs say whether the SAE read the centred stream: model_from_pretrained_kwargs, releases, older versions', () => {
  const sae = path.join(GPT2, 'saes', 'blocks.1.hook_resid_pre');
  assert.deepEqual(readSaeInfo(sae).modelProcessing?.centre, true);
  const variant = (name: string, edit: (cfg: Record<string, any>) => void, under = out) => {
    const dir = path.join(under, name);
    fs.mkdirSync(dir, { recursive: true });
    const cfg = readJson(path.join(sae, 'cfg.json'));
    edit(cfg);
    fs.writeFileSync(path.join(dir, 'cfg.json'), JSON.stringify(cfg));
    fs.copyFileSync(path.join(sae, 'sae_weights.safetensors'), path.join(dir, 'sae_weights.safetensors'));
    return readSaeInfo(dir).modelProcessing!;
  };
  // SAELens 6 keeps the kwargs in metadata
  assert.equal(
    variant('metadata', (c) => {
      c.metadata = { model_from_pretrained_kwargs: c.model_from_pretrained_kwargs, sae_lens_version: '6.5.0' };
      delete c.model_from_pretrained_kwargs;
    }).centre,
    true,
  );
  assert.equal(variant('false', (c) => (c.model_from_pretrained_kwargs = { center_writing_weights: false })).centre, false);
  // an HF model (AutoModelForCausalLM) is never processed, whatever the kwargs
  assert.equal(variant('hf-model', (c) => (c.model_class_name = 'AutoModelForCausalLM')).centre, false);
  // no kwargs: SAELens 3.19.2 and later trained unprocessed; earlier versions did not record it
  const noKwargs = (version?: string) => (c: Record<string, any>) => {
    delete c.model_from_pretrained_kwargs;
    for (const key of ['sae_lens_version', 'sae_lens_training_version']) {
      if (version) c[key] = version;
      else delete c[key];
    }
  };
  assert.deepEqual(variant('v5-no-kwargs', noKwargs('5.11.0')), {
    centre: false,
    foldValueBiases: false,
    source: 'cfg.json (SAELens 3.19.2 or later, no model_from_pretrained_kwargs)',
  });
  assert.equal(variant('v3-no-kwargs', noKwargs('3.18.0')).unstated, true);
  // a gpt2-small-res-jb SAE that SAE.from_pretrained loaded and save_model saved names its release by neuronpedia_id
  const savedJb = variant('saved-jb', (c) => {
    noKwargs('6.5.0')(c);
    c.metadata = { neuronpedia_id: 'gpt2-small/1-res-jb', model_from_pretrained_kwargs: {} };
  });
  assert.deepEqual([savedJb.centre, savedJb.foldValueBiases], [true, false]);
  assert.match(savedJb.source, /release gpt2-small-res-jb \(neuronpedia_id gpt2-small\/1-res-jb\)/);
  assert.equal(variant('unversioned', noKwargs()).unstated, true);
  // gpt2-small-res-jb as the hub cache holds it: SAELens' release override centres it
  const snapshot = path.join(out, 'hub', 'models--jbloom--GPT2-Small-SAEs-Reformatted', 'snapshots', '0123abc');
  const jb = variant('blocks.1.hook_resid_pre', noKwargs(), snapshot);
  assert.equal(jb.centre, true);
  assert.match(jb.source, /gpt2-small-res-jb \(jbloom\/GPT2-Small-SAEs-Reformatted\)/);
});

test("the editor's SAE hover says the SAE reads TransformerLens's centred stream", () => {
  const sae = path.join(GPT2, 'saes', 'blocks.{layer}.hook_resid_pre');
  const text = `diagnostic_pipeline:\n  sae: { path: ${JSON.stringify(sae)} }\n  layers: { target_indices: [1], hook_point: resid_pre }\n`;
  const hover = hoverAt(text, path.join(out, 'hover.sae-diff.yaml'), { line: 1, character: text.split('\n')[1].indexOf('blocks') })!;
  assert.match(
    hover.markdown,
    /Trained on TransformerLens's centred residual stream \(cfg\.json model_from_pretrained_kwargs center_writing_weights true\)/,
  );
});

test('the editor warns when an older SAELens config does not say whether the GPT-2 stream it read was centred', () => {
  const dir = path.join(out, 'editor');
  const sae = path.join(dir, 'old', 'blocks.1.hook_resid_pre');
  fs.mkdirSync(sae, { recursive: true });
  const source = path.join(GPT2, 'saes', 'blocks.1.hook_resid_pre');
  const {
    model_from_pretrained_kwargs: _kwargs,
    sae_lens_version: _v,
    sae_lens_training_version: _t,
    ...old
  } = readJson(path.join(source, 'cfg.json'));
  fs.writeFileSync(path.join(sae, 'cfg.json'), JSON.stringify(old));
  fs.copyFileSync(path.join(source, 'sae_weights.safetensors'), path.join(sae, 'sae_weights.safetensors'));
  const check = (saeFolder: string) => {
    const text = `diagnostic_pipeline:
  models: { base: ${JSON.stringify(path.join(GPT2, 'base'))}, sft: ${JSON.stringify(path.join(GPT2, 'sft'))} }
  sae: { path: ${JSON.stringify(saeFolder)} }
  layers: { target_indices: [1], hook_point: resid_pre }
  dataset: { path: ${JSON.stringify(path.join(FIXTURES, 'eval', 'general.jsonl'))} }
  runtime: { max_tokens: 64 }
`;
    const file = path.join(dir, 'check.sae-diff.yaml');
    fs.writeFileSync(file, text);
    return validateConfigText(text, file, { env: { HF_HUB_CACHE: path.join(out, 'no-hub') } }).diagnostics;
  };
  const warned = check(sae);
  assert.deepEqual(
    warned.map((d) => [d.code, d.severity]),
    [['sae-centring-unstated', 'warning']],
  );
  assert.match(warned[0].message, /add "model_from_pretrained_kwargs": \{"center_writing_weights": true\} to its cfg\.json/);
  assert.deepEqual(check(source), []);
});

/**
 * A CLI run on layer 1's resid_pre of `base` vs `sft` (folders), with `sae` (the fixture SAE by default) and `dataset`
 * of tiny-llama's eval prompts; its result, and its report when it wrote one.
 */
function runGpt2(name: string, o: { base: string; sft: string; sae?: string; dataset?: string; samples?: number; maxTokens?: number }) {
  const dir = path.join(out, 'runs', name);
  fs.mkdirSync(dir, { recursive: true });
  const q = (p: string) => JSON.stringify(p.replace(/\\/g, '/'));
  const config = writeConfig(
    dir,
    'gpt2.sae-diff.yaml',
    `diagnostic_pipeline:
  models: { base: ${q(o.base)}, sft: ${q(o.sft)} }
  sae: { path: ${q(o.sae ?? path.join(GPT2, 'saes', 'blocks.{layer}.hook_resid_pre'))}, k: 16 }
  layers: { target_indices: [1], hook_point: resid_pre }
  dataset: { path: "@/eval/${o.dataset ?? 'general.jsonl'}", max_samples: ${o.samples ?? 48} }
  runtime: { max_tokens: ${o.maxTokens ?? 64}, execution_provider: cpu }
  output: { format: "json", save_path: "report.json" }
`,
  );
  const res = runCli(['run', config, '--provider', 'cpu']);
  const file = path.join(dir, 'report.json');
  return { ...res, dir, report: fs.existsSync(file) ? (readJson(file) as SaeDiffReport) : undefined };
}

/** The run's report of gpt2 fixture `models` with the fixture SAE, whose cfg.json is edited by `edit`. */
function runWith(name: string, models: { base: string; sft: string }, edit: (cfg: Record<string, any>) => void = () => {}) {
  const sae = path.join(out, 'saes', name, 'blocks.1.hook_resid_pre');
  fs.mkdirSync(sae, { recursive: true });
  const source = path.join(GPT2, 'saes', 'blocks.1.hook_resid_pre');
  const cfg = readJson(path.join(source, 'cfg.json'));
  edit(cfg);
  fs.writeFileSync(path.join(sae, 'cfg.json'), JSON.stringify(cfg));
  fs.copyFileSync(path.join(source, 'sae_weights.safetensors'), path.join(sae, 'sae_weights.safetensors'));
  const res = runGpt2(name, {
    base: path.join(GPT2, models.base),
    sft: path.join(GPT2, models.sft),
    sae: path.join(path.dirname(sae), 'blocks.{layer}.hook_resid_pre'),
  });
  assert.equal(res.code, 0, res.stderr);
  return { report: res.report!, stderr: res.stderr };
}

test('a run whose SAE was trained centred equals the same run on TransformerLens-centred checkpoints, and differs from an uncentred one', () => {
  const dropKwargs = (c: Record<string, any>) => (c.model_from_pretrained_kwargs = {});
  const centred = runWith('centred', { base: 'base', sft: 'sft' });
  const processed = runWith('processed', { base: 'base-centred', sft: 'sft-centred' }, dropKwargs);
  const uncentred = runWith('uncentred', { base: 'base', sft: 'sft' }, dropKwargs);
  assert.match(centred.stderr, /activations centred over the hidden axis at layer 1/);
  assert.equal(centred.report.run.saes[0].centred, true);
  assert.equal(processed.report.run.saes[0].centred, undefined);
  const [a, b, c] = [centred, processed, uncentred].map((r) => r.report.comparisons[0].layers[0]);
  for (const key of LAYER_SCALARS) assert.ok(Math.abs(a[key] - b[key]) < 1e-4, `${key}: ${a[key]} vs ${b[key]}`);
  assert.deepEqual(
    a.shifted_features.map((f) => f.id),
    b.shifted_features.map((f) => f.id),
  );
  // the SAE reconstructs the centred stream it was trained on, and reads the raw stream worse
  assert.ok(a.explained_variance_base > 0.6, `${a.explained_variance_base}`);
  assert.ok(c.explained_variance_base < a.explained_variance_base - 0.05, `uncentred ${c.explained_variance_base}`);
});

test('a fine-tune that is not centred where the LayerNorm base is (an RMSNorm model) stops the run, naming it', () => {
  const rms = path.join(out, 'models', 'mistral-64');
  fs.mkdirSync(rms, { recursive: true });
  const mistral = path.join(REPO_ROOT, 'test', 'fixtures', 'sliding-window', 'mistral');
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(mistral, f), path.join(rms, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(GPT2, 'base', f), path.join(rms, f));
  const res = runGpt2('mixed', { base: path.join(GPT2, 'base'), sft: rms, samples: 8 });
  assert.notEqual(res.code, 0);
  assert.match(
    res.stderr,
    /mistral-64\/model\.safetensors is not centred and the base .*gpt2\/base\/model\.safetensors centred at layers 1/,
  );
  assert.equal(res.report, undefined);
});

test('GPT-2 configs: what the graph does not build is refused, naming the key; prompts past n_positions stop the run at max_tokens', () => {
  const base = readJson(path.join(GPT2, 'base', 'config.json'));
  const refused = (change: Record<string, unknown>) => {
    try {
      checkpointSpec({ ...base, ...change }, 'config.json');
    } catch (e) {
      return e as SaeDiffError;
    }
    return undefined;
  };
  assert.equal(refused({ activation_function: 'quick_gelu' })?.location?.key, 'activation_function');
  assert.equal(refused({ add_cross_attention: true })?.location?.key, 'add_cross_attention');
  assert.equal(refused({ scale_attn_by_inverse_layer_idx: true })?.location?.key, 'scale_attn_by_inverse_layer_idx');
  assert.equal(refused({ n_head: 5 })?.location?.key, 'n_head');
  assert.equal(refused({}), undefined);
  assert.equal(checkpointSpec({ ...base, n_inner: null }, 'config.json').intermediate, 4 * 64);

  const res = runGpt2('positions', {
    base: path.join(GPT2, 'base'),
    sft: path.join(GPT2, 'sft'),
    dataset: 'domain.jsonl',
    samples: 8,
    maxTokens: 128,
  });
  assert.notEqual(res.code, 0);
  assert.match(res.stderr, /has position embeddings for 64 \(n_positions/);
  assert.match(res.stderr, /runtime\.max_tokens/);
});
