/**
 * Fine-tunes given as PEFT LoRA adapter folders, applied unmerged on the base checkpoint's graph: they must give
 * what the merged weights W + scaling · B A give (the oracle, merged in float64 by the test helper), in the hooks
 * and in a whole run; what PEFT computes otherwise is refused.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { hoverAt } from '../src/engine/authoring/hover';
import { validateConfigText } from '../src/engine/authoring/index';
import { loadConfigText } from '../src/engine/config/load';
import { SaeDiffError } from '../src/engine/core/errors';
import { checkpointSpec, decoderSpec } from '../src/engine/model/checkpoint/decoderConfig';
import { alphaFor, describeAdapter, readLoraAdapter } from '../src/engine/model/checkpoint/loraAdapter';
import { adapterSource, checkpointSource, type CheckpointSource } from '../src/engine/model/modelSource';
import { HookedModel } from '../src/engine/model/runner';
import { resolveModels } from '../src/engine/pipeline/models';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { LAYER_METRIC_FIELDS } from '../src/shared/layerMetrics';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { checkpointFolder, writeCheckpointWeights, writeLoraAdapter, type LoraSpec } from './helpers/checkpoints';
import { runCli } from './helpers/cli';
import { LAYER_TOL } from './helpers/golden';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const out = scratchDir('lora');
const cpu = { provider: 'cpu' as const, threads: 1 };
const BASE = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, 'base'));
const weights = new Map([...readSafetensors(path.join(BASE, 'model.safetensors'))].map(([n, t]) => [n, { shape: t.shape, data: t.data }]));
const MODULES = [
  'model.layers.0.self_attn.k_proj',
  'model.layers.1.self_attn.q_proj',
  'model.layers.2.self_attn.v_proj',
  'model.layers.3.self_attn.o_proj',
  'model.layers.4.mlp.gate_proj',
  'model.layers.4.mlp.down_proj',
  'model.layers.5.mlp.up_proj',
];

function source(folder: string): CheckpointSource {
  const config = path.join(folder, 'config.json');
  return checkpointSource(path.join(folder, 'model.safetensors'), config, decoderSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config));
}

/** An adapter folder and a checkpoint folder holding the weights it merges into. */
function adapterAndMerged(name: string, spec: LoraSpec): { adapter: string; merged: string } {
  const adapter = path.join(out, name, 'adapter');
  const mergedWeights = writeLoraAdapter(adapter, weights, spec);
  const merged = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, name, 'merged'), []);
  writeCheckpointWeights(path.join(merged, 'model.safetensors'), mergedWeights);
  return { adapter, merged };
}

const batch = (() => {
  const mask = new Uint8Array(3 * 20).fill(1);
  for (let c = 0; c < 5; c++) mask[40 + c] = 0;
  return { batch: 3, seq: 20, ids: Int32Array.from({ length: 60 }, (_, i) => 3 + ((i * 53) % 900)), mask };
})();

async function activations(from: CheckpointSource, point: 'resid_post' | 'attn_out' | 'mlp_out'): Promise<Map<number, Float32Array>> {
  const m = await HookedModel.load(from, { targets: [0, 1, 2, 3, 4, 5], hookPoint: point, tensorNames: new Map() }, cpu);
  try {
    return new Map([...(await m.run(batch))].map(([l, a]) => [l, a.data.slice()]));
  } finally {
    await m.release();
  }
}

function largestDifference(a: Map<number, Float32Array>, b: Map<number, Float32Array>): number {
  let worst = 0;
  for (const [layer, x] of a) {
    const y = b.get(layer)!;
    for (let i = 0; i < x.length; i++)
      if (batch.mask[Math.floor(i / 128)]) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(y[i])));
  }
  return worst;
}

for (const rslora of [false, true]) {
  test(`an unmerged LoRA adapter${rslora ? ' (use_rslora)' : ''} gives the activations of its merged weights`, async () => {
    const { adapter, merged } = adapterAndMerged(rslora ? 'rslora' : 'plain', { modules: MODULES, r: 4, alpha: 8, rslora });
    const lora = adapterSource(source(BASE), readLoraAdapter(adapter));
    for (const point of ['resid_post', 'attn_out', 'mlp_out'] as const) {
      const [viaAdapter, viaMerged, viaBase] = [
        await activations(lora, point),
        await activations(source(merged), point),
        await activations(source(BASE), point),
      ];
      assert.ok(largestDifference(viaAdapter, viaMerged) < 1e-5, `${point}: adapter vs merged ${largestDifference(viaAdapter, viaMerged)}`);
      // the adapter changes the model: from layer 0 on (k_proj), and more than rounding
      assert.ok(largestDifference(viaAdapter, viaBase) > 1e-2, `${point}: adapter vs base ${largestDifference(viaAdapter, viaBase)}`);
    }
  });
}

test('an adapter PEFT 0.21 saved (rsLoRA, rank_pattern, all seven projections) gives what PEFT computes with it', async () => {
  // test/fixtures/peft-lora: PeftModel.save_pretrained's files, and PEFT's unmerged forward pass on transformers, in
  // float32. Two float32 computations differ by their rounding: PyTorch's own result is up to 1.4e-5 (relative) from
  // its float64 result on this batch, growing with depth; sae-diff's is 3.5e-6 to 3.1e-5 from PyTorch's
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'peft-lora');
  const adapter = readLoraAdapter(folder);
  assert.equal(adapter.modules.size, 6 * 7);
  assert.equal(adapter.modules.get('model.layers.4.mlp.down_proj')!.a.shape[0], 2, 'rank_pattern');
  for (const d of await differenceFromExpected(adapterSource(source(BASE), adapter), expectedIn(folder), 'resid_post', cpu))
    assert.ok(d.relative < 5e-5, `layer ${d.layer}: ${d.relative}`);
});

for (const [fixture, what] of [
  ['lora', 'LoRA on embed_tokens (lora_embedding_A / B) beside one on q_proj'],
  ['modules-to-save', "embed_tokens in modules_to_save (the trained table's copy) beside a LoRA on v_proj"],
] as const) {
  test(`an adapter PEFT 0.21 saved with ${what} gives what PEFT computes with it`, async () => {
    // test/fixtures/peft-embedding: PeftModel.save_pretrained's files and PEFT's unmerged forward pass on transformers
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'peft-embedding', fixture);
    const adapter = readLoraAdapter(folder);
    // PEFT saves the table beside a LoRA on it (save_embedding_layers), and in modules_to_save
    assert.deepEqual([...adapter.replaced.keys()], ['model.embed_tokens']);
    assert.equal(adapter.modules.get('model.embed_tokens')?.kind, fixture === 'lora' ? 'embedding' : undefined);
    assert.equal(
      describeAdapter(adapter),
      fixture === 'lora'
        ? "LoRA on 7 modules, rank 4 (the token embedding among them); token embedding replaced by the adapter's copy"
        : "LoRA on 6 modules, rank 4; token embedding replaced by the adapter's copy",
    );
    for (const d of await differenceFromExpected(adapterSource(source(BASE), adapter), expectedIn(folder), 'resid_post', cpu))
      assert.ok(d.relative < 5e-5, `layer ${d.layer}: ${d.relative}`);
  });
}

for (const [fixture, base, what] of [
  ['llama', path.join(FIXTURES, 'base'), 'Linear layers without bias (q_proj, v_proj, down_proj)'],
  ['gpt2', path.join(REPO_ROOT, 'test', 'fixtures', 'gpt2', 'base'), "GPT-2's Conv1D with biases (c_attn, c_proj: fan_in_fan_out)"],
] as const) {
  test(`a DoRA adapter PEFT 0.21 saved on ${what} gives what PEFT computes with it`, async () => {
    // test/fixtures/peft-dora: use_dora with each module's lora_magnitude_vector, magnitudes moved off their start
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'peft-dora', fixture);
    const adapter = readLoraAdapter(folder);
    assert.ok([...adapter.modules.values()].every((m) => m.magnitude !== undefined));
    assert.equal(describeAdapter(adapter), fixture === 'llama' ? 'DoRA on 18 modules, rank 4' : 'DoRA on 9 modules, rank 4');
    const config = path.join(base, 'config.json');
    const from = checkpointSource(
      path.join(base, 'model.safetensors'),
      config,
      checkpointSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config),
    );
    for (const d of await differenceFromExpected(adapterSource(from, adapter), expectedIn(folder), 'resid_post', cpu))
      assert.ok(d.relative < 5e-5, `layer ${d.layer}: ${d.relative}`);
  });
}

test('an adapter whose embedding copy has other rows than the base (a resized vocabulary) is refused, naming both shapes', async () => {
  const folder = path.join(out, 'resized');
  fs.mkdirSync(folder, { recursive: true });
  fs.copyFileSync(
    path.join(REPO_ROOT, 'test', 'fixtures', 'peft-embedding', 'modules-to-save', 'adapter_config.json'),
    path.join(folder, 'adapter_config.json'),
  );
  writeCheckpointWeights(
    path.join(folder, 'adapter_model.safetensors'),
    new Map([['base_model.model.model.embed_tokens.weight', { shape: [1030, 128], data: new Float32Array(1030 * 128) }]]),
  );
  await assert.rejects(
    HookedModel.load(
      adapterSource(source(BASE), readLoraAdapter(folder)),
      { targets: [0], hookPoint: 'resid_post', tensorNames: new Map() },
      cpu,
    ),
    /The adapter's copy of 'model\.embed_tokens\.weight' has shape \[1030,128\], but the base's is \[1024,128\]/,
  );
});

test("a PEFT adapter of a Gemma 3 vision-language model (all-linear: transformers 5's module names, LoRA on the vision tower too) gives what PEFT computes on text", async () => {
  const base = path.join(REPO_ROOT, 'test', 'fixtures', 'gemma3-multimodal');
  const folder = path.join(base, 'lora');
  const adapter = readLoraAdapter(folder);
  assert.ok([...adapter.modules.keys()].some((m) => m.startsWith('model.language_model.layers.')));
  assert.ok([...adapter.modules.keys()].some((m) => m.startsWith('model.vision_tower.')));
  for (const d of await differenceFromExpected(adapterSource(source(base), adapter), expectedIn(folder), 'resid_post', cpu))
    assert.ok(d.relative < 1e-5, `layer ${d.layer}: ${d.relative}`);
});

test("a PEFT adapter of a Qwen 3.5 model (all-linear: LoRA on the linear attention's in_proj_qkv, in_proj_z, in_proj_a, in_proj_b and out_proj too) gives what PEFT computes", async () => {
  const base = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'multimodal');
  const folder = path.join(base, 'lora');
  const adapter = readLoraAdapter(folder);
  for (const module of ['in_proj_qkv', 'in_proj_z', 'in_proj_a', 'in_proj_b', 'out_proj'])
    assert.ok(adapter.modules.has(`model.language_model.layers.0.linear_attn.${module}`), module);
  for (const d of await differenceFromExpected(adapterSource(source(base), adapter), expectedIn(folder), 'resid_post', cpu))
    assert.ok(d.relative < 1e-5, `layer ${d.layer}: ${d.relative}`);
});

test('a run with a LoRA adapter folder as the fine-tune reports what the merged fine-tune reports', () => {
  const { adapter, merged } = adapterAndMerged('run', { modules: MODULES, r: 8, alpha: 16, seed: 11 });
  const reports = [adapter, merged].map((sft, i) => {
    const config = path.join(out, 'run', `run${i}.sae-diff.yaml`);
    fs.writeFileSync(
      config,
      `diagnostic_pipeline:
  models: { base: ${JSON.stringify(BASE)}, sft: ${JSON.stringify(sft)} }
  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers: { target_indices: [0, 2, 5] }
  dataset: { path: "${FIXTURES}/eval/general.jsonl", max_samples: 24 }
  runtime: { max_tokens: 48 }
`,
    );
    const file = path.join(out, 'run', `report${i}.json`);
    const res = runCli(['run', config, '--provider', 'cpu', '--out', file, '--quiet']);
    assert.equal(res.code, 0, res.stderr);
    return JSON.parse(fs.readFileSync(file, 'utf8')) as SaeDiffReport;
  });
  const [viaAdapter, viaMerged] = reports;
  assert.equal(viaAdapter.run.tokens, viaMerged.run.tokens);
  viaAdapter.comparisons[0].layers.forEach((l, i) => {
    const m = viaMerged.comparisons[0].layers[i];
    for (const k of LAYER_METRIC_FIELDS) assert.ok(Math.abs(l[k] - m[k]) <= LAYER_TOL, `layer ${l.layer} ${k}: ${l[k]} vs ${m[k]}`);
    assert.deepEqual(l.flags, m.flags);
  });
  assert.ok(viaAdapter.comparisons[0].layers[2].dense_cosine < 0.999, 'the adapter shifts layer 2');
});

test("alpha_pattern gives a module its alpha as PEFT's get_pattern_key matches it: the first key matching the name's end after a dot", () => {
  const folder = path.join(out, 'alpha-pattern');
  writeLoraAdapter(folder, weights, {
    modules: MODULES.slice(0, 3),
    r: 2,
    alpha: 4,
    // 'proj' matches no name (only a whole part after a dot does); layers 0's k_proj takes the first matching key
    config: { alpha_pattern: { proj: 100, 'layers\\.0\\..*': 2, 'k_proj|v_proj': 8 } },
  });
  const adapter = readLoraAdapter(folder);
  const scaling = (m: string) => adapter.modules.get(m)!.scaling;
  assert.deepEqual(
    [scaling(MODULES[0]), scaling(MODULES[1]), scaling(MODULES[2])],
    [1, 2, 4],
    'k_proj of layer 0: 2 / 2; q_proj: lora_alpha 4 / 2; v_proj: 8 / 2',
  );
  assert.equal(alphaFor(adapter, 'model.layers.1.mlp.experts.gate_up_proj'), 4);
});

test('adapters PEFT runs otherwise are refused, naming the key or tensor', () => {
  const refusal = (name: string, spec: Partial<LoraSpec>, edit?: (folder: string) => void) => {
    const folder = path.join(out, 'refused', name);
    writeLoraAdapter(folder, weights, { modules: MODULES.slice(0, 2), r: 2, alpha: 4, ...spec });
    edit?.(folder);
    try {
      readLoraAdapter(folder);
    } catch (e) {
      return e as SaeDiffError;
    }
    assert.fail(`${name} is refused`);
  };
  for (const [key, value, message] of [
    // DoRA without the magnitudes it is computed with
    ['use_dora', true, /use_dora is set but the adapter holds no lora_magnitude_vector of model\.layers\.\d\.self_attn\.[kq]_proj/],
    ['peft_type', 'IA3', /peft_type "IA3" is not built/],
    ['bias', 'all', /train the base biases/],
    ['trainable_token_indices', [5, 6], /Trainable token embeddings/],
    ['use_bdlora', { target_modules_bd_a: ['q_proj'], nblocks: 2 }, /Block-diagonal LoRA \(use_bdlora\)/],
    ['kasa_config', { beta: 1e-4 }, /KaSA/],
    ['init_lora_weights', 'mica', /MiCA adapters/],
    ['use_qalora', true, /QA-LoRA/],
    // a key from a later PEFT that is set: it might be a variant
    ['use_futura', true, /sets use_futura, which sae-diff does not know/],
  ] as const) {
    const e = refusal(key, { config: { [key]: value } });
    assert.equal(e.location?.key, key);
    assert.match(e.message, message);
  }
  // alpha_pattern's keys are Python regular expressions: one JavaScript would read otherwise is refused, naming it
  const python = refusal('python-pattern', { config: { alpha_pattern: { '(?P<projection>q)_proj': 8 } } });
  assert.equal(python.location?.key, 'alpha_pattern.(?P<projection>q)_proj');
  assert.match(python.message, /Python-only regular expression syntax/);
  const embedding = refusal('embedding', {}, (folder) => {
    const file = path.join(folder, 'adapter_model.safetensors');
    const tensors = readSafetensors(file);
    tensors.set('base_model.model.model.embed_tokens.lora_embedding_A', { shape: [2, 1024], data: new Float32Array(2048) });
    writeCheckpointWeights(file, tensors);
  });
  assert.match(embedding.message, /has lora_embedding_A of model\.embed_tokens but not lora_embedding_B/);
  // modules_to_save of anything but the token embedding (a norm here) changes what the graph does not take from adapters
  const norm = refusal('norm', {}, (folder) => {
    const file = path.join(folder, 'adapter_model.safetensors');
    const tensors = readSafetensors(file);
    tensors.set('base_model.model.model.norm.weight', { shape: [128], data: new Float32Array(128) });
    writeCheckpointWeights(file, tensors);
  });
  assert.match(
    norm.message,
    /holds 'base_model\.model\.model\.norm\.weight', which is not a LoRA A or B matrix of a Linear or Embedding layer, nor a saved token embedding/,
  );
  // a LoRA on the head changes nothing the run sees (it stops before lm_head): ignored, not refused
  const head = path.join(out, 'refused', 'head');
  writeLoraAdapter(head, weights, { modules: MODULES.slice(0, 2), r: 2, alpha: 4 });
  const file = path.join(head, 'adapter_model.safetensors');
  const tensors = readSafetensors(file);
  tensors.set('base_model.model.lm_head.lora_A.weight', { shape: [2, 128], data: new Float32Array(256) });
  tensors.set('base_model.model.lm_head.lora_B.weight', { shape: [1024, 2], data: new Float32Array(2048) });
  writeCheckpointWeights(file, tensors);
  const read = readLoraAdapter(head);
  assert.deepEqual([read.modules.size, read.ignored.length], [2, 2]);
});

test('an adapter needs a safetensors base, and is not a base itself', () => {
  const { adapter } = adapterAndMerged('roles', { modules: MODULES, r: 2, alpha: 2 });
  const config = (base: string, sft: string) =>
    loadConfigText(
      `diagnostic_pipeline:
  models: { base: ${JSON.stringify(base)}, sft: ${JSON.stringify(sft)} }
  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers: { target_indices: [0] }
  dataset: { path: "${FIXTURES}/eval/general.jsonl" }
`,
      path.join(out, 'roles', 'c.sae-diff.yaml'),
    );
  assert.throws(
    () => resolveModels(config(adapter, BASE), () => {}),
    /is a LoRA adapter \(adapter_config\.json\); the base must be a whole model/,
  );
  assert.throws(
    () => resolveModels(config(path.join(FIXTURES, 'base'), adapter), () => {}),
    /needs the base as a Hugging Face checkpoint, but base runs from .*model\.onnx/,
  );
  const warnings: string[] = [];
  const { files } = resolveModels(config(BASE, adapter), () => {}, warnings);
  assert.deepEqual(warnings, [], "the adapter's recorded base (tiny-llama/base) names a folder 'base'");
  const elsewhere = path.join(out, 'roles', 'other-base-adapter');
  writeLoraAdapter(elsewhere, weights, {
    modules: MODULES,
    r: 2,
    alpha: 2,
    config: { base_model_name_or_path: 'meta-llama/Llama-3.2-1B' },
  });
  resolveModels(config(BASE, elsewhere), () => {}, warnings);
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0],
    /was trained on 'meta-llama\/Llama-3\.2-1B' \(base_model_name_or_path in adapter_config\.json\), but the base is .*base: check/,
  );
  // config and tokenizer come from base; provenance hashes the adapter's files too
  assert.equal(files.fineTunes[0].configPath, path.join(BASE, 'config.json'));
  assert.equal(files.fineTunes[0].tokenizerJsonPath, path.join(BASE, 'tokenizer.json'));
  assert.equal(files.fineTunes[0].source.file, path.join(adapter, 'adapter_model.safetensors'));

  const editor = (base: string, sft: string) => {
    const file = path.join(out, 'roles', 'e.sae-diff.yaml');
    const text = `diagnostic_pipeline:
  models: { base: ${JSON.stringify(base)}, sft: ${JSON.stringify(sft)} }
  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers: { target_indices: [0, 3] }
  dataset: { path: "${FIXTURES}/eval/general.jsonl" }
`;
    fs.writeFileSync(file, text);
    return validateConfigText(text, file, { env: { HF_HUB_CACHE: path.join(out, 'no-hub') } }).diagnostics.map((d) => d.code);
  };
  assert.deepEqual(editor(BASE, adapter), []);
  const hoverText = `diagnostic_pipeline:\n  models: { base: ${JSON.stringify(BASE)}, sft: ${JSON.stringify(adapter)} }\n`;
  const hover = hoverAt(hoverText, path.join(out, 'roles', 'e.sae-diff.yaml'), {
    line: 1,
    character: hoverText.split('\n')[1].indexOf(adapter) + 2,
  });
  assert.match(
    hover?.markdown ?? '',
    /PEFT LoRA adapter, run on the base's checkpoint \(its config\.json and tokenizer from the base\): LoRA on 7 modules, rank 2\n/,
  );
  assert.deepEqual(editor(adapter, BASE), ['model-adapter-as-base']);
  // DoRA without its magnitudes: the editor says so too
  const dora = path.join(out, 'roles', 'dora');
  writeLoraAdapter(dora, weights, { modules: MODULES, r: 2, alpha: 2, config: { use_dora: true } });
  assert.deepEqual(editor(BASE, dora), ['model-bad-adapter']);
});
