/**
 * layers.hook_point attn_z: TransformerLens's hook_z, the heads' outputs before W_O (what Gemma Scope's attention SAEs
 * and SAELens's hook_z SAEs read), found in exports by both torch exporters and in graphs built from checkpoints, with
 * a LoRA adapter too, against transformers' o_proj inputs (test/fixtures/attn_z_fixtures.py); refused where a value
 * bias makes TransformerLens's hook_z another tensor.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { validateConfigText } from '../src/engine/authoring/index';
import { loadConfigText } from '../src/engine/config/load';
import { SaeDiffError } from '../src/engine/core/errors';
import { readLoraAdapter } from '../src/engine/model/checkpoint/loraAdapter';
import { adapterSource, type ModelSource, onnxSource } from '../src/engine/model/modelSource';
import { attentionWidth, hookedWidth } from '../src/engine/model/modelFolder';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import { outputProjectionReader } from '../src/engine/report/outputProjection';
import { parseHookName } from '../src/engine/sae/hookName';
import { readSaeInfo } from '../src/engine/sae/loadSae';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { fixtureConfig } from './helpers/cli';
import { differenceFromExpected, readExpected } from './helpers/expectedActivations';
import { FIXTURES as TINY_LLAMA, REPO_ROOT, scratchDir } from './helpers/paths';
import { hookZSae } from './helpers/hookZSae';
import { checkpointOf } from './helpers/checkpoints';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const EXPECTED = path.join(FIXTURES, 'attn-z');
const cpu = { provider: 'cpu' as const, threads: 1 };

const LLAMA = path.join(FIXTURES, 'tiny-llama', 'base');
const GEMMA2 = path.join(FIXTURES, 'gemma2-exports');
const cases: [string, string, () => ModelSource | string, string?][] = [
  ['tiny-llama (TorchScript export)', 'tiny-llama.json', () => path.join(LLAMA, 'model.onnx')],
  ['tiny-llama (checkpoint)', 'tiny-llama.json', () => checkpointOf(LLAMA)],
  [
    'tiny-llama with a PEFT LoRA adapter on v_proj and o_proj among others',
    'tiny-llama.json',
    () => adapterSource(checkpointOf(LLAMA), readLoraAdapter(path.join(FIXTURES, 'peft-lora'))),
    'lora',
  ],
  ['Gemma 2 (TorchScript export)', 'gemma2.json', () => path.join(GEMMA2, 'torchscript', 'model.onnx')],
  ['Gemma 2 (dynamo export)', 'gemma2.json', () => path.join(GEMMA2, 'dynamo', 'model.onnx')],
  ['Gemma 2 (checkpoint)', 'gemma2.json', () => checkpointOf(path.join(FIXTURES, 'sliding-window', 'gemma2'))],
];
for (const [what, file, source, section] of cases) {
  test(`attn_z of ${what} is what transformers' o_proj reads, every layer`, async () => {
    const expected = readExpected(path.join(EXPECTED, file), section);
    const differences = await differenceFromExpected(source(), expected, 'attn_z', cpu);
    assert.equal(differences.length, expected.points.attn_z!.length);
    for (const d of differences) {
      assert.ok(d.relative < 1e-5, `layer ${d.layer}: ${d.relative}`);
      assert.ok(d.largest > 0.05, `layer ${d.layer}: activations of size ${d.largest}`);
    }
  });
}

test('the hook names that say attn_z: SAELens blocks.N.attn.hook_z, a Hugging Face o_proj.input; heads x head_dim is its width', () => {
  assert.deepEqual(parseHookName('blocks.7.attn.hook_z'), { layer: 7, point: 'attn_z' });
  assert.deepEqual(parseHookName('model.layers.12.self_attn.o_proj.input'), { layer: 12, point: 'attn_z' });
  assert.match(parseHookName('blocks.7.attn.hook_q').refused ?? '', /'attn\.hook_q' is not a hook the engine supports/);
  // Gemma 2 2B: 8 heads of 256 beside a hidden size of 2304
  const gemma2b = { model_type: 'gemma2', hidden_size: 2304, num_attention_heads: 8, head_dim: 256 };
  assert.deepEqual([attentionWidth(gemma2b), hookedWidth(gemma2b, 'attn_z'), hookedWidth(gemma2b, 'resid_post')], [2048, 2048, 2304]);
  assert.equal(attentionWidth({ n_embd: 768, n_head: 12 }), 768, "GPT-2's keys, head_dim from the hidden size");
});

test("a SAELens hook_z SAE's config: reshape_activations hook_z only on attn.hook_z, one head's SAE refused", () => {
  const dir = scratchDir('attn-z-saes');
  const z = hookZSae(path.join(dir, 'z'), 2, 128, 64);
  assert.equal(readSaeInfo(z, 'auto').hookPoint, 'attn_z');
  for (const [name, extra, message] of [
    [
      'resid',
      { hook_name: 'blocks.2.hook_resid_post' },
      /reshape_activations "hook_z" is not built for the hook blocks\.2\.hook_resid_post/,
    ],
    ['head', { hook_head_index: 3 }, /reads one attention head \(field hook_head_index 3\)/],
  ] as const) {
    const folder = hookZSae(path.join(dir, name), 2, 128, 64, extra);
    assert.throws(
      () => readSaeInfo(folder, 'auto'),
      (e: unknown) => e instanceof SaeDiffError && message.test(e.message),
    );
  }
});

test('a run at attn_z: SAEs of d_in heads x head_dim, the same report on the sparse and dense paths, logit effects through W_O', async () => {
  const dir = scratchDir('attn-z-run');
  for (const layer of [1, 4]) hookZSae(path.join(dir, 'saes', `blocks.${layer}.attn.hook_z`), layer, 128, 256);
  const reports = [];
  for (const reduction of ['sparse', 'dense'] as const) {
    const yaml = fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      sae: `{ path: "${dir.replace(/\\/g, '/')}/saes/blocks.{layer}.attn.hook_z", k: 16 }`,
      layers: '{ target_indices: [1, 4], hook_point: attn_z }',
      dataset: '{ path: "@/eval/general.jsonl", max_samples: 24 }',
      runtime: `{ max_tokens: 48, execution_provider: cpu, reduction: ${reduction} }`,
    }).replace(/@\//g, TINY_LLAMA.replace(/\\/g, '/') + '/');
    const configFile = path.join(dir, `${reduction}.sae-diff.yaml`);
    fs.writeFileSync(configFile, yaml);
    assert.deepEqual(
      validateConfigText(yaml, configFile).diagnostics.map((d) => `${d.severity}: ${d.message}`),
      [],
      'the editor takes a d_in of heads x head_dim',
    );
    const { report } = await runDiagnostic(loadConfigText(yaml, configFile), {
      provider: 'cpu',
      outPath: path.join(dir, `${reduction}.json`),
    });
    reports.push(report);
  }
  const [sparse, dense] = reports;
  assert.equal(sparse.run.hook_point, 'attn_z');
  assert.ok(!sparse.run.warnings.some((w) => /Logit effects/.test(w)), sparse.run.warnings.join('\n'));
  // logit effects through W_O: W_dec[f] · o_proj.weightᵀ · lm_head.weightᵀ, from the checkpoint's own tensors (the run
  // read W_O from the export)
  const weights = readSafetensors(path.join(LLAMA, 'model.safetensors'));
  const lmHead = weights.get('lm_head.weight')!.data;
  for (const l of sparse.comparisons[0].layers) {
    const d = dense.comparisons[0].layers.find((x) => x.layer === l.layer)!;
    assert.ok(l.dense_cosine > 0 && l.dense_cosine < 1, `layer ${l.layer}: the fine-tune moves z (dense cosine ${l.dense_cosine})`);
    for (const key of ['dense_cosine', 'recon_cosine', 'feature_overlap', 'explained_variance_base', 'explained_variance_sft'] as const)
      assert.ok(Math.abs(l[key] - d[key]) < 1e-5, `layer ${l.layer} ${key}: sparse ${l[key]} vs dense ${d[key]}`);
    assert.ok(l.shifted_features.length > 0, `layer ${l.layer}: features shift`);
    const wO = weights.get(`model.layers.${l.layer}.self_attn.o_proj.weight`)!.data;
    const wDec = readSafetensors(path.join(dir, 'saes', `blocks.${l.layer}.attn.hook_z`, 'sae_weights.safetensors')).get('W_dec')!.data;
    const f = l.shifted_features[0];
    const residual = Array.from({ length: 128 }, (_, i) => {
      let s = 0;
      for (let j = 0; j < 128; j++) s += wO[i * 128 + j] * wDec[f.id * 128 + j];
      return s;
    });
    const logits = Array.from({ length: 1024 }, (_, v) => residual.reduce((s, x, i) => s + x * lmHead[v * 128 + i], 0));
    const top = [...logits.keys()].sort((a, b) => logits[b] - logits[a]).slice(0, 10);
    assert.deepEqual(
      f.logit_effects!.promoted.map((e) => e.id),
      top,
      `layer ${l.layer} feature ${f.id}`,
    );
    f.logit_effects!.promoted.forEach((e, i) => assert.ok(Math.abs(e.value - logits[top[i]]) < 1e-4, `${e.value} vs ${logits[top[i]]}`));
  }
});

test("W_O is read alike from an export and from its checkpoint: Llama's, Gemma 2's, GPT-2's Conv1D (through its Reshape), GPT-NeoX's dense", () => {
  const gpt2 = path.join(FIXTURES, 'gpt2');
  for (const [onnx, checkpoint] of [
    [path.join(LLAMA, 'model.onnx'), LLAMA],
    [path.join(GEMMA2, 'dynamo', 'model.onnx'), path.join(FIXTURES, 'sliding-window', 'gemma2')],
    [path.join(GEMMA2, 'torchscript', 'model.onnx'), path.join(FIXTURES, 'sliding-window', 'gemma2')],
    ...['torchscript', 'torchscript-opset14', 'dynamo'].map((e) => [path.join(gpt2, 'onnx', e, 'model.onnx'), path.join(gpt2, 'base')]),
    [path.join(FIXTURES, 'gpt-neox', 'onnx', 'torchscript', 'model.onnx'), path.join(FIXTURES, 'gpt-neox', 'parallel')],
  ]) {
    for (const layer of [0, 2]) {
      const a = outputProjectionReader(onnxSource(onnx))(layer);
      const b = outputProjectionReader(checkpointOf(checkpoint))(layer);
      assert.ok(typeof a !== 'string' && typeof b !== 'string', `${onnx} layer ${layer}: ${String(a)} / ${String(b)}`);
      assert.deepEqual([a.width, a.hidden], [b.width, b.hidden]);
      assert.deepEqual(a.data, b.data, `${onnx} layer ${layer}`);
    }
  }
});
