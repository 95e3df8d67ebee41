/**
 * attn_z of models whose attention has a value bias (GPT-2, GPT-NeoX, Phi, Qwen2), as TransformerLens's hook_z: as the
 * attention computes it (from_pretrained_no_processing, what SAELens trains on since 3.19.2), or with each head's value
 * bias folded out (from_pretrained's fold_value_biases) where the SAE's config says it was trained so. Checked against
 * transformers' o_proj inputs and TransformerLens's own weight conversions (test/fixtures/value_bias_fixtures.py), and
 * against checkpoints whose value biases were folded into b_O as TransformerLens folds them.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { hoverAt } from '../src/engine/authoring/hover';
import { validateConfigText } from '../src/engine/authoring/index';
import { SaeDiffError } from '../src/engine/core/errors';
import { attentionHeads } from '../src/engine/model/modelFolder';
import type { ModelSource } from '../src/engine/model/modelSource';
import { HookedModel } from '../src/engine/model/runner';
import { readSaeInfo } from '../src/engine/sae/loadSae';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { checkpointFolder, checkpointOf, writeCheckpointWeights } from './helpers/checkpoints';
import { differenceFromExpected, readExpected } from './helpers/expectedActivations';
import { LAYER_SCALARS } from './helpers/golden';
import { hookZSae } from './helpers/hookZSae';
import { REPO_ROOT, scratchDir } from './helpers/paths';
import { runYaml } from './helpers/cli';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const EXPECTED = path.join(FIXTURES, 'attn-z');
const LLAMA = path.join(FIXTURES, 'tiny-llama', 'base');
const cpu = { provider: 'cpu' as const, threads: 1 };

const GPT2 = path.join(FIXTURES, 'gpt2');
const NEOX = path.join(FIXTURES, 'gpt-neox');
/** Models whose attention has a value bias, with the config.json that gives their heads. */
const biased: [string, string, () => ModelSource | string, string][] = [
  ["GPT-2 (checkpoint; c_attn's fused bias)", 'gpt2', () => checkpointOf(path.join(GPT2, 'base')), path.join(GPT2, 'base')],
  ['GPT-2 (TorchScript export)', 'gpt2', () => path.join(GPT2, 'onnx', 'torchscript', 'model.onnx'), path.join(GPT2, 'base')],
  [
    'GPT-2 (TorchScript export, opset 14)',
    'gpt2',
    () => path.join(GPT2, 'onnx', 'torchscript-opset14', 'model.onnx'),
    path.join(GPT2, 'base'),
  ],
  ['GPT-2 (dynamo export)', 'gpt2', () => path.join(GPT2, 'onnx', 'dynamo', 'model.onnx'), path.join(GPT2, 'base')],
  [
    "GPT-NeoX (checkpoint; query_key_value's bias interleaved per head)",
    'gpt-neox',
    () => checkpointOf(path.join(NEOX, 'parallel')),
    path.join(NEOX, 'parallel'),
  ],
  ['GPT-NeoX (TorchScript export)', 'gpt-neox', () => path.join(NEOX, 'onnx', 'torchscript', 'model.onnx'), path.join(NEOX, 'parallel')],
  ["Phi (checkpoint; v_proj's bias)", 'phi', () => checkpointOf(path.join(FIXTURES, 'phi', 'base')), path.join(FIXTURES, 'phi', 'base')],
  [
    "Qwen2 (checkpoint; v_proj's bias of 2 key/value heads for 4 query heads)",
    'qwen2',
    () => checkpointOf(path.join(FIXTURES, 'sliding-window', 'qwen2')),
    path.join(FIXTURES, 'sliding-window', 'qwen2'),
  ],
];
const valueBiasExpected = (model: string, section?: string) => {
  const all = JSON.parse(fs.readFileSync(path.join(EXPECTED, 'value-bias.json'), 'utf8'));
  const file = path.join(scratchDir('value-bias'), `${model}.json`);
  fs.writeFileSync(file, JSON.stringify(all[model]));
  return readExpected(file, section);
};
for (const [what, model, source, folder] of biased) {
  test(`attn_z of ${what}: the o_proj input as it is, and minus b_V as TransformerLens's fold_value_biases leaves it`, async () => {
    const heads = attentionHeads(JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')));
    for (const folded of [false, true]) {
      const expected = valueBiasExpected(model, folded ? 'folded' : undefined);
      const layers = expected.points.attn_z!.map((_, l) => l);
      const differences = await differenceFromExpected(source(), expected, 'attn_z', cpu, {
        foldValueBiases: folded ? new Set(layers) : undefined,
        attentionHeads: heads,
      });
      assert.equal(differences.length, layers.length);
      for (const d of differences) {
        assert.ok(d.relative < 1e-5, `${folded ? 'folded' : 'as it is'}, layer ${d.layer}: ${d.relative}`);
        assert.ok(d.largest > 0.05, `layer ${d.layer}: activations of size ${d.largest}`);
      }
    }
  });
}

test('folding a value bias sae-diff cannot place is refused, naming the projection and what config.json must say', async () => {
  const gpt2 = checkpointOf(path.join(GPT2, 'base'));
  const hooks = { targets: [1], hookPoint: 'attn_z' as const, tensorNames: new Map(), foldValueBiases: new Set([1]) };
  const refused = (pattern: RegExp) => (e: unknown) =>
    e instanceof SaeDiffError && pattern.test(e.message) && e.location?.key === 'layers.hook_point';
  await assert.rejects(HookedModel.load(gpt2, hooks, cpu), refused(/layer 1's value bias \(attn\/c_attn\).*heads are not known/));
  await assert.rejects(
    HookedModel.load(gpt2, { ...hooks, attentionHeads: { heads: 4, kvHeads: 4, headDim: 8 } }, cpu),
    refused(/it holds 192 values, but a c_attn bias of 4 heads \(4 key\/value heads\) of size 8 would hold 96/),
  );
  // a model without value biases has nothing to fold: hook_z is the o_proj input either way
  const llama = await HookedModel.load(
    path.join(LLAMA, 'model.onnx'),
    { ...hooks, attentionHeads: { heads: 4, kvHeads: 2, headDim: 32 } },
    cpu,
  );
  assert.equal(llama.valueBiasesFolded.size, 0);
  await llama.release();
});

const scratch = scratchDir('value-bias-folding');

/**
 * `from` (a GPT-2 folder) processed as TransformerLens's fold_value_biases processes it, into `to`: per layer
 * b_O += b_V @ W_O (Conv1D's weight is [in, out]: x W), then b_V (c_attn's bias, its last third) = 0.
 */
function foldedGpt2(from: string, to: string): string {
  checkpointFolder(from, to, []);
  const weights = readSafetensors(path.join(from, 'model.safetensors'));
  for (let layer = 0; weights.has(`transformer.h.${layer}.attn.c_attn.bias`); layer++) {
    const qkv = weights.get(`transformer.h.${layer}.attn.c_attn.bias`)!.data;
    const wO = weights.get(`transformer.h.${layer}.attn.c_proj.weight`)!;
    const bO = weights.get(`transformer.h.${layer}.attn.c_proj.bias`)!.data;
    const [inner, hidden] = wO.shape;
    const bV = qkv.subarray(2 * inner, 3 * inner);
    for (let j = 0; j < hidden; j++) for (let i = 0; i < inner; i++) bO[j] += bV[i] * wO.data[i * hidden + j];
    bV.fill(0);
  }
  writeCheckpointWeights(path.join(to, 'model.safetensors'), weights);
  return to;
}
const GPT2_FOLDED = {
  base: foldedGpt2(path.join(GPT2, 'base'), path.join(scratch, 'base')),
  sft: foldedGpt2(path.join(GPT2, 'sft'), path.join(scratch, 'sft')),
};

test("attn_z folded by the hooks is attn_z of the checkpoint TransformerLens's fold_value_biases processes; the model's output is unchanged", async () => {
  const { batch } = valueBiasExpected('gpt2');
  const heads = attentionHeads(JSON.parse(fs.readFileSync(path.join(GPT2, 'base', 'config.json'), 'utf8')));
  const layers = [0, 1, 2];
  for (const which of ['base', 'sft'] as const) {
    const hooked = async (folder: string, hookPoint: 'attn_z' | 'resid_post', fold: boolean) => {
      const m = await HookedModel.load(
        checkpointOf(folder),
        { targets: layers, hookPoint, tensorNames: new Map(), foldValueBiases: fold ? new Set(layers) : undefined, attentionHeads: heads },
        cpu,
      );
      try {
        const out = await m.run(batch);
        return { folded: m.valueBiasesFolded, values: layers.map((l) => Float32Array.from(out.get(l)!.data)) };
      } finally {
        await m.release();
      }
    };
    const original = path.join(GPT2, which);
    const maxDifference = (a: Float32Array[], b: Float32Array[]) =>
      Math.max(...a.map((x, l) => x.reduce((m, v, i) => Math.max(m, Math.abs(v - b[l][i])), 0)));
    const folded = await hooked(original, 'attn_z', true);
    const processed = await hooked(GPT2_FOLDED[which], 'attn_z', false);
    const asItIs = await hooked(original, 'attn_z', false);
    assert.deepEqual([...folded.folded], layers);
    assert.deepEqual([...processed.folded], [], 'nothing is folded where no SAE asks');
    assert.ok(maxDifference(folded.values, processed.values) < 1e-5, `${which}: ${maxDifference(folded.values, processed.values)}`);
    assert.ok(maxDifference(asItIs.values, processed.values) > 0.05, `${which}: the value biases matter`);
    const residual = [await hooked(original, 'resid_post', false), await hooked(GPT2_FOLDED[which], 'resid_post', false)];
    assert.ok(maxDifference(residual[0].values, residual[1].values) < 1e-4, `${which}: folding keeps the model's output`);
  }
});

/** A run on GPT-2's layer 1 attn_z with a hook_z SAE whose cfg.json has `kwargs`; its report and log. */
async function runGpt2AttnZ(name: string, models: { base: string; sft: string }, kwargs: Record<string, unknown> | undefined) {
  const dir = path.join(scratch, 'runs', name);
  const extra = kwargs ? { model_from_pretrained_kwargs: kwargs, sae_lens_training_version: '6.5.0' } : {};
  hookZSae(path.join(dir, 'saes', 'blocks.1.attn.hook_z'), 1, 64, 128, extra);
  const q = (p: string) => JSON.stringify(p.replace(/\\/g, '/'));
  const yaml = `diagnostic_pipeline:
  models: { base: ${q(models.base)}, sft: ${q(models.sft)} }
  sae: { path: ${q(path.join(dir, 'saes', 'blocks.{layer}.attn.hook_z'))}, k: 16 }
  layers: { target_indices: [1], hook_point: attn_z }
  dataset: { path: ${q(path.join(FIXTURES, 'tiny-llama', 'eval', 'general.jsonl'))}, max_samples: 24 }
  runtime: { max_tokens: 48, execution_provider: cpu }
`;
  return { ...(await runYaml(dir, yaml)), yaml, sae: path.join(dir, 'saes', 'blocks.1.attn.hook_z') };
}

test('a run whose hook_z SAE was trained with fold_value_biases equals the run on checkpoints TransformerLens processed, and differs from one without', async () => {
  const original = { base: path.join(GPT2, 'base'), sft: path.join(GPT2, 'sft') };
  const folded = await runGpt2AttnZ('folded', original, { fold_value_biases: true });
  const processed = await runGpt2AttnZ('processed', GPT2_FOLDED, {});
  const unfolded = await runGpt2AttnZ('unfolded', original, {});
  assert.match(
    folded.log,
    /attn_z minus each head's value bias at layer 1, as TransformerLens's fold_value_biases \(cfg\.json model_from_pretrained_kwargs fold_value_biases true\)/,
  );
  assert.doesNotMatch(processed.log, /value bias/);
  assert.deepEqual(
    [folded, processed, unfolded].map((r) => r.report.run.saes?.[0].value_biases_folded),
    [true, undefined, undefined],
  );
  const [a, b, c] = [folded, processed, unfolded].map((r) => r.report.comparisons[0].layers[0]);
  const keys = LAYER_SCALARS;
  for (const key of keys) assert.ok(Math.abs(a[key] - b[key]) < 1e-5, `${key}: folded by the hooks ${a[key]} vs processed ${b[key]}`);
  assert.ok(
    keys.some((key) => Math.abs(a[key] - c[key]) > 1e-3),
    `the value biases change what the SAE reads: ${keys.map((k) => `${k} ${a[k]} vs ${c[k]}`).join(', ')}`,
  );
  assert.ok(!folded.report.run.warnings.some((w) => /Logit effects/.test(w)), folded.report.run.warnings.join('\n'));
  // logit effects through GPT-2's W_O, a Conv1D stored [in, out]: W_dec[f] · c_proj.weight · wteᵀ (tied head)
  const weights = readSafetensors(path.join(GPT2, 'base', 'model.safetensors'));
  const wO = weights.get('transformer.h.1.attn.c_proj.weight')!.data;
  const wte = weights.get('transformer.wte.weight')!;
  const wDec = readSafetensors(path.join(folded.sae, 'sae_weights.safetensors')).get('W_dec')!.data;
  const f = a.shifted_features[0];
  const residual = Array.from({ length: 64 }, (_, j) =>
    wDec.subarray(f.id * 64, f.id * 64 + 64).reduce((t, z, i) => t + z * wO[i * 64 + j], 0),
  );
  const logits = Array.from({ length: wte.shape[0] }, (_, v) => residual.reduce((t, x, i) => t + x * wte.data[v * 64 + i], 0));
  const top = [...logits.keys()].sort((x, y) => logits[y] - logits[x]).slice(0, 10);
  assert.deepEqual(
    f.logit_effects!.promoted.map((e) => e.id),
    top,
  );
  // the editor says it too: the hover names the folding, a config that does not say is warned about
  const line = folded.yaml.split('\n').findIndex((l) => l.includes('  sae:'));
  const hover = hoverAt(folded.yaml, folded.configFile, { line, character: folded.yaml.split('\n')[line].indexOf('hook_z') })!;
  assert.match(
    hover.markdown,
    /Trained with TransformerLens's value biases folded out of hook_z \(cfg\.json model_from_pretrained_kwargs fold_value_biases true\)/,
  );
});

test('SAELens configs say whether hook_z had the value biases folded out: model_from_pretrained_kwargs, and older configs that do not say', async () => {
  const sae = (kwargs: Record<string, unknown> | undefined, version?: string) => {
    const dir = path.join(scratch, 'configs', `${JSON.stringify(kwargs)}-${version}`.replace(/[^\w.-]/g, '_'));
    hookZSae(dir, 1, 64, 128, {
      ...(kwargs ? { model_from_pretrained_kwargs: kwargs } : {}),
      ...(version ? { sae_lens_training_version: version } : {}),
    });
    return dir;
  };
  assert.equal(readSaeInfo(sae({ fold_value_biases: true }, '6.5.0')).modelProcessing?.foldValueBiases, true);
  assert.equal(
    readSaeInfo(sae({ fold_value_biases: false, center_writing_weights: true }, '6.5.0')).modelProcessing?.foldValueBiases,
    false,
  );
  assert.equal(readSaeInfo(sae(undefined, '5.11.0')).modelProcessing?.foldValueBiases, false);
  // gpt2-small-hook-z-kk as SAE.from_pretrained loads it and save_model saves it: SAELens 6 metadata with empty kwargs
  // and the neuronpedia_id that names the release, trained on TransformerLens's default processing
  const kkDir = path.join(scratch, 'configs', 'kk-saved');
  hookZSae(kkDir, 1, 64, 128, {
    metadata: { neuronpedia_id: 'gpt2-small/1-att-kk', model_from_pretrained_kwargs: {}, sae_lens_version: '6.5.0' },
  });
  const kk = readSaeInfo(kkDir).modelProcessing!;
  assert.deepEqual([kk.centre, kk.foldValueBiases], [true, true]);
  assert.match(kk.source, /release gpt2-small-hook-z-kk \(neuronpedia_id gpt2-small\/1-att-kk\)/);
  const old = sae(undefined, '3.18.0');
  assert.equal(readSaeInfo(old).modelProcessing?.unstated, true);
  // the run reads hook_z as the attention computes it and warns; so does the editor, where the base has value biases
  const dir = path.join(scratch, 'editor');
  fs.mkdirSync(dir, { recursive: true });
  const check = (base: string, sft: string) => {
    const q = (p: string) => JSON.stringify(p.replace(/\\/g, '/'));
    const text = `diagnostic_pipeline:
  models: { base: ${q(base)}, sft: ${q(sft)} }
  sae: { path: ${q(old)} }
  layers: { target_indices: [1], hook_point: attn_z }
  dataset: { path: ${q(path.join(FIXTURES, 'tiny-llama', 'eval', 'general.jsonl'))} }
`;
    const file = path.join(dir, 'check.sae-diff.yaml');
    fs.writeFileSync(file, text);
    return validateConfigText(text, file, { env: { HF_HUB_CACHE: path.join(dir, 'no-hub') } }).diagnostics;
  };
  const warned = check(path.join(GPT2, 'base'), path.join(GPT2, 'sft'));
  assert.deepEqual(
    warned.map((d) => [d.code, d.severity]),
    [['sae-value-bias-folding-unstated', 'warning']],
  );
  assert.match(warned[0].message, /add "model_from_pretrained_kwargs": \{"fold_value_biases": true\} to its cfg\.json/);
  const llama = path.join(FIXTURES, 'tiny-llama');
  const codes = check(path.join(llama, 'base'), path.join(llama, 'sft-domain')).map((d) => d.code);
  assert.ok(!codes.includes('sae-value-bias-folding-unstated'), `a Llama has no value bias to fold: ${codes.join(', ')}`);
});
