/**
 * Models given as Hugging Face checkpoints (config.json + safetensors, no ONNX file): the graph built from
 * them (model/checkpoint) against the torch exports of the same weights, the goldens run from checkpoints,
 * and the refusals of what the builder does not build.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { hoverAt } from '../src/engine/authoring/hover';
import { validateConfigText } from '../src/engine/authoring/index';
import type { HookPoint } from '../src/engine/config/types';
import { modelFacts } from '../src/engine/authoring/facts';
import { SaeDiffError } from '../src/engine/core/errors';
import { checkpointSpec, decoderSpec } from '../src/engine/model/checkpoint/decoderConfig';
import type { NemotronHSpec } from '../src/engine/model/checkpoint/nemotronHConfig';
import { ropeInverseFrequencies } from '../src/engine/model/checkpoint/ropeFrequencies';
import { alphaFor, describeAdapter, type LoraAdapter, readLoraAdapter } from '../src/engine/model/checkpoint/loraAdapter';
import {
  adapterSource,
  checkpointCompute,
  checkpointSource,
  type CheckpointSource,
  type ModelSource,
  readModelGraph,
} from '../src/engine/model/modelSource';
import { declaredElemTypes, graphOf, TensorDataType } from '../src/engine/model/onnxGraph';
import { embeddingsOnCpu } from '../src/engine/model/oversizedWeights';
import { HookedModel, type TokenBatch } from '../src/engine/model/runner';
import { attentionWidth } from '../src/engine/model/modelFolder';
import { readUnembedding, type Unembedding } from '../src/engine/report/unembedding';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { checkpointFolder, checkpointFromDynamo, float16Checkpoint } from './helpers/checkpoints';
import { runCli } from './helpers/cli';
import { compareWithGolden } from './helpers/golden';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';
import { fromBf16, toBf16, writeRawSafetensors, type RawTensors } from './helpers/safetensors';
import { readSafetensors } from '../src/engine/sae/safetensors';

const out = scratchDir('checkpoint');
const cpu = { provider: 'cpu' as const, threads: 1 };
const DYNAMO = path.join(REPO_ROOT, 'test', 'fixtures', 'dynamo-export', 'qwen2');

function sourceOf(folder: string, main = 'model.safetensors'): CheckpointSource {
  const configFile = path.join(folder, 'config.json');
  return checkpointSource(path.join(folder, main), configFile, decoderSpec(JSON.parse(fs.readFileSync(configFile, 'utf8')), configFile));
}

/** Three prompts of 20 tokens: one full, one right-padded, one left-padded. */
const BATCH: TokenBatch = (() => {
  const B = 3,
    S = 20;
  const mask = new Uint8Array(B * S).fill(1);
  for (let c = 15; c < S; c++) mask[S + c] = 0;
  for (let c = 0; c < 6; c++) mask[2 * S + c] = 0;
  return { batch: B, seq: S, ids: Int32Array.from({ length: B * S }, (_, i) => 3 + ((i * 37) % 900)), mask };
})();

/** The largest |a - b| over the real tokens of BATCH, every layer, and the largest |b|. */
async function hookDifference(a: ModelSource | string, b: ModelSource | string, layers: number[], point: HookPoint) {
  const hooks = { targets: layers, hookPoint: point, tensorNames: new Map<number, string>() };
  const [ma, mb] = [await HookedModel.load(a, hooks, cpu), await HookedModel.load(b, hooks, cpu)];
  try {
    const [ra, rb] = [await ma.run(BATCH), await mb.run(BATCH)];
    let worst = 0,
      largest = 0;
    for (const [layer, x] of ra) {
      const y = rb.get(layer)!;
      for (let t = 0; t < BATCH.batch * BATCH.seq; t++) {
        if (!BATCH.mask[t]) continue;
        for (let i = 0; i < x.hidden; i++) {
          worst = Math.max(worst, Math.abs(x.data[t * x.hidden + i] - y.data[t * x.hidden + i]));
          largest = Math.max(largest, Math.abs(y.data[t * x.hidden + i]));
        }
      }
    }
    return { worst, largest };
  } finally {
    await ma.release();
    await mb.release();
  }
}

test('a Llama checkpoint gives the torch export its activations at every hook point, padded either side', async () => {
  const folder = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, 'llama-base'));
  for (const point of ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out'] as HookPoint[]) {
    const { worst, largest } = await hookDifference(sourceOf(folder), path.join(FIXTURES, 'base', 'model.onnx'), [0, 1, 2, 3, 4, 5], point);
    // the export matched PyTorch to 2.4e-6 (the fixture README)
    assert.ok(worst < 1e-5, `${point}: ${worst}`);
    assert.ok(largest > 0.5, `${point}: activations of size ${largest}`);
  }
});

test('a Qwen2 checkpoint (transformers 5 config: rope_parameters, biases, tied embeddings) matches its dynamo export', async () => {
  const folder = checkpointFolder(path.join(DYNAMO, 'base'), path.join(out, 'qwen2-base'), []);
  checkpointFromDynamo(path.join(DYNAMO, 'base', 'model.onnx'), path.join(folder, 'model.safetensors'));
  for (const point of ['resid_post', 'resid_mid', 'attn_out', 'mlp_out'] as HookPoint[]) {
    const { worst, largest } = await hookDifference(sourceOf(folder), path.join(DYNAMO, 'base', 'model.onnx'), [0, 1, 2, 3], point);
    assert.ok(worst < 1e-6 * Math.max(1, largest) + 1e-7, `${point}: ${worst} (largest ${largest})`);
  }
});

test('golden sft-domain__domain runs from checkpoint folders (linked safetensors, no ONNX) within docs/metrics.md tolerances', () => {
  const base = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, 'golden', 'base'), []);
  const sft = checkpointFolder(path.join(FIXTURES, 'sft-domain'), path.join(out, 'golden', 'sft-domain'), []);
  // the Hugging Face cache keeps snapshot files as links into its blobs folder
  fs.symlinkSync(path.join(FIXTURES, 'base', 'model.safetensors'), path.join(base, 'model.safetensors'));
  fs.symlinkSync(path.join(FIXTURES, 'sft-domain', 'model.safetensors'), path.join(sft, 'model.safetensors'));
  const yaml = fs
    .readFileSync(path.join(FIXTURES, 'golden', 'sft-domain__domain.yaml'), 'utf8')
    .replace('"../base"', JSON.stringify(base))
    .replace('"../sft-domain"', JSON.stringify(sft))
    .replace(/"\.\.\//g, `"${FIXTURES.replace(/\\/g, '/')}/`);
  const config = path.join(out, 'golden', 'checkpoint.sae-diff.yaml');
  fs.writeFileSync(config, yaml);
  const file = path.join(out, 'golden', 'report.json');
  const res = runCli(['run', config, '--provider', 'cpu', '--out', file]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, new RegExp(`model base: ${path.join(base, 'model.safetensors').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as SaeDiffReport;
  const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', 'sft-domain__domain.json'), 'utf8'));
  assert.equal(report.run.tokens, golden.tokens);
  assert.deepEqual(compareWithGolden(report.comparisons[0], golden), []);
  assert.equal(report.run.self_check_failed, false);
  // logit effects come from the checkpoint's lm_head
  assert.ok(report.comparisons[0].layers[5].shifted_features[0].logit_effects, 'logit effects');
});

test('golden of the dynamo Qwen2 runs from checkpoints recovered from its export', () => {
  const golden = JSON.parse(fs.readFileSync(path.join(DYNAMO, 'golden.json'), 'utf8'));
  const dir = path.join(out, 'qwen2-golden');
  for (const side of ['base', 'sft']) {
    checkpointFolder(path.join(DYNAMO, side), path.join(dir, side), []);
    checkpointFromDynamo(path.join(DYNAMO, side, 'model.onnx'), path.join(dir, side, 'model.safetensors'));
  }
  const yaml = fs
    .readFileSync(path.join(DYNAMO, 'golden.yaml'), 'utf8')
    .replace('"saes/', `"${DYNAMO.replace(/\\/g, '/')}/saes/`)
    .replace('"eval/', `"${DYNAMO.replace(/\\/g, '/')}/eval/`);
  fs.writeFileSync(path.join(dir, 'golden.yaml'), yaml);
  const file = path.join(dir, 'report.json');
  const res = runCli(['run', path.join(dir, 'golden.yaml'), '--provider', 'cpu', '--out', file, '--quiet']);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as SaeDiffReport;
  assert.equal(report.run.tokens, golden.tokens);
  // as test/dynamo.test.ts: the fixture's random SAE thresholds flip a token's firing on float rounding
  const problems = compareWithGolden(report.comparisons[0], golden).filter((p) => {
    const l0 = /layer (\d+) (l0_base|l0_sft): (\S+) vs golden (\S+)/.exec(p);
    if (l0 && Math.abs(Number(l0[3]) - Number(l0[4])) <= 4e-3 * Math.abs(Number(l0[4]))) return false;
    const freq = /feature \d+ freq_(base|sft): (\S+) vs golden (\S+)/.exec(p);
    return !(freq && Math.abs(Number(freq[2]) - Number(freq[3])) * golden.tokens <= 8);
  });
  assert.deepEqual(problems, []);
});

test('a sharded bfloat16 checkpoint runs as its weights widened to float32, and its W_U reads alike', async () => {
  const weights = readSafetensors(path.join(FIXTURES, 'base', 'model.safetensors'));
  const half: RawTensors[] = [{}, {}];
  const widened: RawTensors = {};
  const index: Record<string, string> = {};
  [...weights].forEach(([name, t], i) => {
    const bits = toBf16(t.data);
    const shard = i % 2;
    half[shard][name] = { dtype: 'BF16', shape: t.shape, bytes: new Uint8Array(bits.buffer) };
    widened[name] = { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(fromBf16(bits).buffer) };
    index[name] = `model-0000${shard + 1}-of-00002.safetensors`;
  });
  const sharded = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, 'bf16-sharded'), []);
  half.forEach((tensors, i) => writeRawSafetensors(path.join(sharded, `model-0000${i + 1}-of-00002.safetensors`), tensors));
  fs.writeFileSync(path.join(sharded, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: index }));
  const wide = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, 'bf16-widened'), []);
  writeRawSafetensors(path.join(wide, 'model.safetensors'), widened);

  const shardedSource = sourceOf(sharded, 'model.safetensors.index.json');
  const { worst, largest } = await hookDifference(shardedSource, sourceOf(wide), [1, 4], 'resid_post');
  assert.equal(worst, 0, 'the same float32 weights give the same activations');
  assert.ok(largest > 1);
  // the embedding rows are widened after the gather, from the table as stored
  assert.equal((await hookDifference(shardedSource, sourceOf(wide), [0], 'resid_pre')).worst, 0);
  const graph = graphOf(readModelGraph(shardedSource).model);
  const table = graph.initializer.find((t) => t.name === 'model.embed_tokens.weight')!;
  assert.equal(table.dataType, TensorDataType.BFLOAT16);
  // over a WebGPU buffer limit, the bfloat16 table is gathered from on the CPU (only its rows go to the device)
  assert.deepEqual(embeddingsOnCpu(graph, 200_000, shardedSource.file).nodes, ['/model/embed_tokens/Gather']);
  // and bfloat16 weights are not the original ones: the comparison can fail
  const original = await hookDifference(shardedSource, path.join(FIXTURES, 'base', 'model.onnx'), [4], 'resid_post');
  assert.ok(original.worst > 1e-4, `bf16 rounding shows: ${original.worst}`);

  const fromShards = readUnembedding(shardedSource) as Unembedding;
  const fromOnnx = readUnembedding(path.join(FIXTURES, 'base', 'model.onnx')) as Unembedding;
  assert.deepEqual([fromShards.hidden, fromShards.vocab, fromShards.name], [128, 1024, 'lm_head.weight']);
  assert.deepEqual(
    fromShards.data,
    Float32Array.from(fromOnnx.data, (v) => fromBf16(toBf16(Float32Array.of(v)))[0]),
  );
});

test("Gemma 3 4B's config.json as published (a sparse text_config) reads with Gemma3TextConfig's defaults; its vision tower is skipped, W_U read", async () => {
  // google/gemma-3-4b-it's config.json, as on the Hub (transformers 4.50): text_config names only a few keys
  const spec = decoderSpec(
    {
      architectures: ['Gemma3ForConditionalGeneration'],
      boi_token_index: 255999,
      eoi_token_index: 256000,
      eos_token_id: [1, 106],
      image_token_index: 262144,
      initializer_range: 0.02,
      mm_tokens_per_image: 256,
      model_type: 'gemma3',
      text_config: {
        hidden_size: 2560,
        intermediate_size: 10240,
        model_type: 'gemma3_text',
        num_hidden_layers: 34,
        rope_scaling: { factor: 8.0, rope_type: 'linear' },
        sliding_window: 1024,
      },
      torch_dtype: 'bfloat16',
      transformers_version: '4.50.0.dev0',
      vision_config: {
        hidden_size: 1152,
        image_size: 896,
        intermediate_size: 4304,
        model_type: 'siglip_vision_model',
        num_attention_heads: 16,
        num_hidden_layers: 27,
        patch_size: 14,
        vision_use_head: false,
      },
    },
    'config.json',
  );
  assert.deepEqual(
    [
      spec.family,
      spec.hidden,
      spec.layers,
      spec.heads,
      spec.kvHeads,
      spec.headDim,
      spec.intermediate,
      spec.slidingWindow,
      spec.visionTower,
      spec.tiedEmbeddings,
    ],
    ['gemma3_text', 2560, 34, 8, 4, 256, 10240, 1024, true, true],
  );
  assert.equal(spec.attentionScale, Math.fround(1 / 16), 'query_pre_attn_scalar 256');
  assert.equal(spec.slidingLayers!.filter((s) => !s).length, 5, 'every sixth of 34 layers is global');
  assert.equal(spec.invFreq[1], Math.fround(Math.fround(1 / Math.pow(1e6, 2 / 256)) / 8), 'rope_theta 1e6, linear factor 8');
  assert.equal(spec.slidingInvFreq![1], Math.fround(1 / Math.pow(1e4, 2 / 256)), 'rope_local_base_freq 1e4');
  // the fixture's checkpoint: its vision tensors are not refused, and W_U is the tied language_model embedding
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'gemma3-multimodal');
  const source = sourceOf(folder) as CheckpointSource;
  const wU = readUnembedding(source) as Unembedding;
  assert.deepEqual([wU.name, wU.hidden, wU.vocab], ['language_model.model.embed_tokens.weight', 64, 256]);
  assert.ok([...source.checkpoint.tensors.keys()].some((n) => n.startsWith('vision_tower.')));
  // a text checkpoint holding vision tensors is another architecture: refused
  const text = checkpointFolder(folder, path.join(out, 'vision-in-text'), ['model.safetensors']);
  fs.writeFileSync(
    path.join(text, 'config.json'),
    JSON.stringify(JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8')).text_config),
  );
  await assert.rejects(
    HookedModel.load(sourceOf(text), { targets: [0], hookPoint: 'resid_post', tensorNames: new Map() }, cpu),
    /holds 'multi_modal_projector\.|holds 'vision_tower\./,
  );
});

test("Phi-3's RoPE reads alike from transformers 4 and 5 configs; Phi-3.5-mini's attention factor; what is not built is refused", () => {
  const file = path.join(REPO_ROOT, 'test', 'fixtures', 'phi3', 'longrope-long', 'config.json');
  const v5 = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { rope_parameters: p, ...rest } = v5;
  // as Phi-3.5-mini's config.json on the Hub writes it (transformers 4.x)
  const v4 = {
    ...rest,
    rope_theta: p.rope_theta,
    rope_scaling: { type: 'longrope', short_factor: p.short_factor, long_factor: p.long_factor },
  };
  const [a, b] = [decoderSpec(v5, file), decoderSpec(v4, file)];
  for (const k of ['rotaryDim', 'invFreq', 'longInvFreq', 'longropeFrom', 'ropeAttentionFactor', 'fusedProjections'] as const)
    assert.deepEqual(b[k], a[k], k);
  assert.deepEqual([a.rotaryDim, a.longropeFrom, a.ropeAttentionFactor], [12, 8, Math.fround(Math.sqrt(2))]);
  // Phi-3.5-mini: max_position_embeddings 131072 over original 4096
  const mini35 = decoderSpec({ ...v4, max_position_embeddings: 131072, original_max_position_embeddings: 4096 }, file);
  assert.equal(mini35.ropeAttentionFactor, Math.fround(Math.sqrt(1 + Math.log(32) / Math.log(4096))));
  const refused = (change: Record<string, unknown>, key: string, message: RegExp) =>
    assert.throws(
      () => decoderSpec({ ...v4, ...change }, file),
      (e: SaeDiffError) => e.location?.key === key && message.test(e.message),
    );
  refused({ rope_scaling: { type: 'dynamic', factor: 2 } }, 'rope_scaling.rope_type', /RoPE type 'dynamic' is not built for phi3/);
  refused(
    { rope_scaling: { ...v4.rope_scaling, short_factor: [1, 2] } },
    'rope_scaling.short_factor',
    /short_factor must be 6 positive numbers/,
  );
  refused({ partial_rotary_factor: 0.1 }, 'partial_rotary_factor', /does not give an even rotary dimension of head_dim 16/);
});

test("Hunyuan's alpha RoPE: the frequencies equal transformers 5.18's buffer bit for bit, from transformers 4 and 5 configs alike", () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'hunyuan');
  const file = path.join(folder, 'config.json');
  const v5 = JSON.parse(fs.readFileSync(file, 'utf8'));
  const buffer = Float32Array.from(JSON.parse(fs.readFileSync(path.join(folder, 'expected.json'), 'utf8')).inv_freq as number[]);
  assert.deepEqual(decoderSpec(v5, file).invFreq, buffer);
  // the released configs' transformers 4 keys: rope_theta beside rope_scaling {type: "dynamic", alpha}
  const { rope_parameters: p, ...rest } = v5;
  const v4 = decoderSpec({ ...rest, rope_theta: p.rope_theta, rope_scaling: { type: 'dynamic', alpha: p.alpha, factor: 1 } }, file);
  assert.deepEqual(v4.invFreq, buffer);
  assert.throws(
    () => decoderSpec({ ...v5, rope_parameters: { ...p, alpha: undefined } }, file),
    (e: SaeDiffError) => e.location?.key === 'rope_parameters.rope_type' && /'dynamic' without an alpha is not built/.test(e.message),
  );
});

test("YaRN: the frequencies equal transformers 5.18's buffer bit for bit, from transformers 4 and 5 configs alike", () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3-yarn');
  const file = path.join(folder, 'config.json');
  const v5 = JSON.parse(fs.readFileSync(file, 'utf8'));
  const buffer = Float32Array.from(JSON.parse(fs.readFileSync(path.join(folder, 'expected.json'), 'utf8')).inv_freq as number[]);
  const spec = decoderSpec(v5, file);
  assert.deepEqual(spec.invFreq, buffer);
  assert.equal(spec.ropeAttentionFactor, Math.fround(0.1 * Math.log(4) + 1));
  const { rope_parameters: p, ...rest } = v5;
  const v4 = decoderSpec(
    { ...rest, rope_theta: p.rope_theta, rope_scaling: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 4096 } },
    file,
  );
  assert.deepEqual([v4.invFreq, v4.ropeAttentionFactor], [spec.invFreq, spec.ropeAttentionFactor]);
  // mscale / mscale_all_dim (DeepSeek-style) set the attention factor instead
  const deep = decoderSpec({ ...v5, rope_parameters: { ...p, mscale: 1, mscale_all_dim: 0.5 } }, file);
  assert.equal(deep.ropeAttentionFactor, Math.fround((0.1 * Math.log(4) + 1) / (0.05 * Math.log(4) + 1)));
  assert.throws(
    () => decoderSpec({ ...v5, original_max_position_embeddings: 2048 }, file),
    (e: SaeDiffError) =>
      e.location?.key === 'rope_parameters.original_max_position_embeddings' &&
      /transformers 4 and 5 would build different/.test(e.message),
  );
});

test("RoPE inverse frequencies equal transformers' float32 buffers bit for bit (default, linear, llama3)", () => {
  // From modeling_rope_utils.py's formulas run in PyTorch 1.13 (float32), as float32 bit patterns.
  const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer));
  assert.deepEqual(
    bits(ropeInverseFrequencies(32, 10000, { type: 'default' })),
    [
      1065353216, 1058010522, 1050798235, 1043732615, 1036831949, 1030116802, 1023510243, 1016180025, 1008981770, 1001931932, 995049016,
      988353832, 981668463, 974350870, 967166816, 960132947,
    ],
  );
  assert.deepEqual(
    bits(ropeInverseFrequencies(32, 10000, { type: 'linear', factor: 4 })),
    [
      1048576000, 1041233306, 1034021019, 1026955399, 1020054733, 1013339586, 1006733027, 999402809, 992204554, 985154716, 978271800,
      971576616, 964891247, 957573654, 950389600, 943355731,
    ],
  );
  // Llama 3.2 1B: theta 500000, head_dim 64, factor 32, low 1, high 4, original context 8192
  assert.deepEqual(
    bits(
      ropeInverseFrequencies(64, 500000, { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 }),
    ),
    [
      1065353216, 1059709382, 1054963644, 1049992931, 1044812720, 1040434848, 1034871981, 1030233703, 1025116360, 1020030793, 1015523779,
      1010044269, 1005516623, 1000248322, 995260192, 984164251, 971060768, 952867063, 933446029, 928558209, 923781368, 918476020, 914179523,
      908595819, 903811268, 898893515, 893679120, 889347892, 883754919, 879076685, 874013863, 868893104,
    ],
  );
});

/** decoderSpec's refusal of `config` (a change to the tiny-llama config.json), or undefined. */
function refusal(change: Record<string, unknown>): SaeDiffError | undefined {
  const config = { ...JSON.parse(fs.readFileSync(path.join(FIXTURES, 'base', 'config.json'), 'utf8')), ...change };
  try {
    decoderSpec(config, 'config.json');
    return undefined;
  } catch (e) {
    return e as SaeDiffError;
  }
}

test('what the checkpoint builder does not build is refused, naming the config key', () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [
      { model_type: 'gemma3n' },
      'model_type',
      /model_type "gemma3n" cannot run from safetensors: sae-diff builds llama, mistral, qwen2, qwen3, gemma, gemma2, gemma3_text, phi3, smollm3, olmo2, olmo3, granite, starcoder2, glm, glm4, stablelm, mixtral, qwen2_moe, qwen3_moe, olmoe, qwen3_5_text, qwen3_5_moe_text, ministral3, gemma4_text, lfm2, olmo_hybrid, granitemoehybrid, exaone4, cohere, cohere2, gpt_oss, qwen3_next, glm4_moe, seed_oss, ernie4_5, apertus, qwen3_vl_moe_text, hunyuan_v1_dense, ernie4_5_moe, glm4_moe_lite, deepseek_v2, deepseek_v3, bamba, falcon_h1, granitemoe, granitemoeshared, arcee, lfm2_moe, gemma3, qwen3_5, qwen3_5_moe, mistral3, gemma4, qwen3_vl, qwen3_vl_moe, qwen2_5_vl, qwen2_vl, llava, llava_next, llava_next_video, llava_onevision, internvl, aya_vision, lfm2_vl, smolvlm, idefics3, gpt2, gpt_neox, phi, nemotron_h checkpoints/,
    ],
    [{ model_type: 'gemma3' }, 'text_config', /A gemma3 config\.json needs its text_config/],
    [{ model_type: 'gemma3', text_config: { head_dim: 7 } }, 'text_config.head_dim', /The head dimension 7 is not an even integer/],
    [{ hidden_act: 'gelu' }, 'hidden_act', /hidden_act "gelu" is not built/],
    [{ model_type: 'gemma3_text', use_bidirectional_attention: true }, 'use_bidirectional_attention', /Bidirectional attention/],
    [
      { model_type: 'gemma2', hidden_activation: 'gelu' },
      'hidden_activation',
      /hidden_activation "gelu" is not built for gemma2 checkpoints \(gelu_pytorch_tanh is\)/,
    ],
    [{ rope_scaling: { rope_type: 'dynamic', factor: 4 } }, 'rope_scaling.rope_type', /RoPE type 'dynamic' is not built/],
    [{ rope_scaling: { rope_type: 'llama3', factor: 8 } }, 'rope_scaling.low_freq_factor', /low_freq_factor is undefined/],
    [
      { quantization_config: { quant_method: 'gptq' } },
      'quantization_config',
      /Quantised checkpoints \(quant_method "gptq"\) are not built$/,
    ],
    [{ num_key_value_heads: 3 }, 'num_key_value_heads', /not a multiple of num_key_value_heads/],
    [
      { model_type: 'qwen2', use_sliding_window: false, layer_types: ['sliding_attention', ...Array(5).fill('full_attention')] },
      'sliding_window',
      /Some layers are sliding_attention layers but sliding_window is undefined \(use_sliding_window is false\)/,
    ],
    [{ model_type: 'mistral', sliding_window: 0 }, 'sliding_window', /sliding_window is 0/],
    [{ model_type: 'stablelm', qk_layernorm: true }, 'qk_layernorm', /qk_layernorm true is not built for stablelm checkpoints/],
    [{ model_type: 'stablelm', use_parallel_residual: true }, 'use_parallel_residual', /use_parallel_residual true is not built/],
    [{ model_type: 'glm4', partial_rotary_factor: 0.3 }, 'partial_rotary_factor', /does not give an even rotary dimension/],
    [
      { model_type: 'qwen3', layer_types: ['full_attention', 'chunked_attention'] },
      'layer_types',
      /Layer type "chunked_attention" is not built/,
    ],
    [{ model_type: 'qwen2', layer_types: ['full_attention'] }, 'layer_types', /layer_types lists 1 layers but num_hidden_layers is 6/],
    [{ model_type: 'olmoe', clip_qkv: 8 }, 'clip_qkv', /clip_qkv 8 \(clamping q, k and v\) is not built/],
    [
      { model_type: 'mixtral', num_local_experts: 2, num_experts_per_tok: 3 },
      'num_experts_per_tok',
      /num_experts_per_tok \(3\) is more than the 2 experts/,
    ],
    [{ model_type: 'qwen3_moe', moe_intermediate_size: 0 }, 'moe_intermediate_size', /moe_intermediate_size is 0, not a positive integer/],
    [{ model_type: 'qwen2_moe', mlp_only_layers: 'all' }, 'mlp_only_layers', /mlp_only_layers must list layer indices/],
    [
      { model_type: 'qwen3_5_text', layer_types: ['linear_attention', 'sliding_attention'] },
      'layer_types',
      /layer_types must name "linear_attention" or "full_attention" for each of the 6 layers/,
    ],
    [
      {
        model_type: 'qwen3_5',
        text_config: {
          ...JSON.parse(fs.readFileSync(path.join(FIXTURES, 'base', 'config.json'), 'utf8')),
          linear_num_key_heads: 3,
          linear_num_value_heads: 4,
        },
      },
      'text_config.linear_num_value_heads',
      /linear_num_value_heads \(4\) is not a multiple of linear_num_key_heads \(3\)/,
    ],
    [
      { model_type: 'exaone4', sliding_window_pattern: 'LLLG' },
      'sliding_window_pattern',
      /sliding_window_pattern "LLLG" is not built \(a positive integer is\)/,
    ],
    [
      { model_type: 'gemma4_text', hidden_activation: 'gelu_pytorch_tanh', num_kv_shared_layers: 6 },
      'num_kv_shared_layers',
      /num_kv_shared_layers is 6: it must be below the 6 layers/,
    ],
    [
      // Gemma4TextConfig has no default for the experts' count
      {
        model_type: 'gemma4_text',
        hidden_activation: 'gelu_pytorch_tanh',
        hidden_size_per_layer_input: 0,
        enable_moe_block: true,
        top_k_experts: 2,
        moe_intermediate_size: 8,
      },
      'num_experts',
      /num_experts is undefined, not a positive integer/,
    ],
    [
      { model_type: 'gemma4_text', hidden_size_per_layer_input: 0, use_bidirectional_attention: 'all' },
      'use_bidirectional_attention',
      /Bidirectional attention over all tokens/,
    ],
    [
      {
        model_type: 'gemma4_text',
        hidden_size_per_layer_input: 0,
        hidden_activation: 'gelu_pytorch_tanh',
        rope_parameters: {
          sliding_attention: { rope_type: 'default', rope_theta: 1e4 },
          full_attention: { rope_type: 'yarn', rope_theta: 1e6 },
        },
      },
      'rope_parameters.full_attention.rope_type',
      /RoPE type 'yarn' is not built for gemma4 checkpoints \(default and proportional are\)/,
    ],
    [
      {
        model_type: 'ministral3',
        rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 16, original_max_position_embeddings: 16384 },
      },
      'rope_parameters.llama_4_scaling_beta',
      /llama_4_scaling_beta is undefined: a ministral3 model scales its queries by it/,
    ],
    [
      { model_type: 'qwen3_5_text', rope_parameters: { rope_type: 'yarn', rope_theta: 1e7, factor: 4 } },
      'rope_parameters.rope_type',
      /RoPE type 'yarn' is not built for qwen3_5_text checkpoints/,
    ],
  ];
  for (const [change, key, message] of cases) {
    const e = refusal(change);
    assert.ok(e instanceof SaeDiffError, `${JSON.stringify(change)} is refused`);
    assert.equal(e.location?.key, key, JSON.stringify(change));
    assert.match(e.message, message);
  }
  // which layers slide, and how far, as transformers' configs default them
  const sliding = (change: Record<string, unknown>) => {
    const spec = decoderSpec(
      { ...JSON.parse(fs.readFileSync(path.join(FIXTURES, 'base', 'config.json'), 'utf8')), ...change },
      'config.json',
    );
    return spec.slidingWindow === undefined
      ? undefined
      : `${spec.slidingWindow}:${spec.slidingLayers!.map((s) => (s ? 'S' : 'F')).join('')}`;
  };
  assert.equal(sliding({ sliding_window: 8 }), undefined, 'Llama has no sliding window');
  assert.equal(sliding({ model_type: 'mistral', sliding_window: 32 }), '32:SSSSSS');
  assert.equal(sliding({ model_type: 'mistral', sliding_window: null }), undefined);
  assert.equal(sliding({ model_type: 'mistral', sliding_window: undefined }), '4096:SSSSSS', "MistralConfig's default");
  assert.equal(sliding({ model_type: 'mistral', sliding_window: 32, layer_types: Array(6).fill('full_attention') }), '32:SSSSSS');
  assert.equal(sliding({ model_type: 'qwen2', use_sliding_window: true, sliding_window: 16, max_window_layers: 2 }), '16:FFSSSS');
  assert.equal(sliding({ model_type: 'qwen2', use_sliding_window: true, sliding_window: 16, max_window_layers: 6 }), undefined);
  assert.equal(sliding({ model_type: 'qwen3', use_sliding_window: false, sliding_window: 16, max_window_layers: 0 }), undefined);
  assert.equal(sliding({ model_type: 'gemma2', hidden_act: 'gelu_pytorch_tanh', sliding_window: 16 }), '16:SFSFSF');
  // SmolLM3Config: windows on the NoPE layers (every fourth by default) when use_sliding_window
  assert.equal(sliding({ model_type: 'smollm3', sliding_window: 16 }), undefined);
  assert.equal(sliding({ model_type: 'smollm3', use_sliding_window: true, sliding_window: 16, no_rope_layer_interval: 3 }), '16:FFSFFS');
  assert.equal(
    sliding({ model_type: 'gemma3_text', hidden_act: 'gelu_pytorch_tanh', sliding_window: 16, sliding_window_pattern: 3 }),
    '16:SSFSSF',
  );
  assert.equal(refusal({ rope_parameters: { rope_type: 'default', rope_theta: 10000 } }), undefined);
  // Gemma2Config's defaults where a config leaves them out: soft-capping 50 (null: none), query_pre_attn_scalar 256
  const gemma = (change: Record<string, unknown>) =>
    decoderSpec(
      { ...JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'gemma2-tiny', 'config.json'), 'utf8')), ...change },
      'config.json',
    );
  assert.equal(gemma({ attn_logit_softcapping: undefined }).softcap, 50);
  assert.equal(gemma({ attn_logit_softcapping: null }).softcap, undefined);
  assert.equal(gemma({ query_pre_attn_scalar: undefined }).attentionScale, Math.fround(1 / 16));
});

test('a checkpoint whose tensors do not match its config is refused, naming the tensor', async () => {
  const weights = readSafetensors(path.join(FIXTURES, 'base', 'model.safetensors'));
  const write = (name: string, edit: (t: RawTensors) => void) => {
    const tensors: RawTensors = {};
    for (const [n, t] of weights)
      tensors[n] = { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
    edit(tensors);
    const folder = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, name), []);
    writeRawSafetensors(path.join(folder, 'model.safetensors'), tensors);
    return folder;
  };
  const load = (folder: string) =>
    HookedModel.load(sourceOf(folder), { targets: [0], hookPoint: 'resid_post', tensorNames: new Map() }, cpu);
  await assert.rejects(
    load(write('extra', (t) => (t['model.layers.0.self_attn.q_norm.weight'] = t['model.norm.weight']))),
    (e: SaeDiffError) => {
      assert.match(
        e.message,
        /holds 'model\.layers\.0\.self_attn\.q_norm\.weight', which a llama model with this config\.json does not have/,
      );
      return true;
    },
  );
  await assert.rejects(
    load(write('missing', (t) => delete t['model.layers.2.mlp.up_proj.weight'])),
    /has no tensor 'model\.layers\.2\.mlp\.up_proj\.weight'/,
  );
  await assert.rejects(
    load(
      write(
        'shape',
        (t) => (t['model.layers.0.self_attn.q_proj.weight'] = { ...t['model.layers.0.self_attn.q_proj.weight'], shape: [64, 256] }),
      ),
    ),
    /'model\.layers\.0\.self_attn\.q_proj\.weight' has shape \[64,256\] but config\.json implies \[128,128\]/,
  );
  // a saved rotary buffer is derived from config.json, not a foreign tensor
  const withBuffer = write(
    'inv-freq',
    (t) => (t['model.layers.0.self_attn.rotary_emb.inv_freq'] = { dtype: 'F32', shape: [16], bytes: new Uint8Array(64) }),
  );
  await (await load(withBuffer)).release();
});

test('the editor accepts a checkpoint folder and flags one it cannot build', () => {
  const good = checkpointFolder(path.join(FIXTURES, 'base'), path.join(out, 'editor', 'good'));
  const bad = checkpointFolder(path.join(FIXTURES, 'sft-domain'), path.join(out, 'editor', 'bad'));
  fs.writeFileSync(
    path.join(bad, 'config.json'),
    JSON.stringify({ ...JSON.parse(fs.readFileSync(path.join(bad, 'config.json'), 'utf8')), model_type: 'jamba' }),
  );
  const configFile = path.join(out, 'editor', 'check.sae-diff.yaml');
  const text = `diagnostic_pipeline:
  models: { base: "${good}", sft: "${bad}" }
  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers: { target_indices: [0, 3] }
  dataset: { path: "${FIXTURES}/eval/general.jsonl" }
`;
  fs.writeFileSync(configFile, text);
  const diagnostics = validateConfigText(text, configFile, { env: { HF_HUB_CACHE: path.join(out, 'no-hub') } }).diagnostics;
  const hover = hoverAt(text, configFile, { line: 1, character: text.split('\n')[1].indexOf(good) + 2 });
  assert.match(
    hover?.markdown ?? '',
    /llama, 6 layers, hidden size 128, checkpoint `model\.safetensors` \(graph built from config\.json\)/,
  );
  assert.deepEqual(
    diagnostics.map((d) => [d.code, d.message.slice(0, 60)]),
    [['model-bad-checkpoint', 'model_type "jamba" cannot run from safetensors: sae-diff bui']],
  );
});

test('a float16 checkpoint computes in float16 on a GPU (float32 on the CPU): the graph declares it, and agrees with float32', async () => {
  const folder = float16Checkpoint(path.join(FIXTURES, 'base'), path.join(out, 'float16'));
  const half = sourceOf(folder) as CheckpointSource;
  assert.equal(checkpointCompute(half, false), 'float32', 'the CPU computes in float32');
  assert.equal(checkpointCompute(half, true), 'float16', 'a GPU computes in float16');
  assert.equal(
    checkpointCompute(sourceOf(path.join(FIXTURES, 'base')) as CheckpointSource, true),
    'float32',
    'a float32 checkpoint: float32',
  );
  const graph = graphOf(readModelGraph(half, true).model);
  const types = declaredElemTypes(graph);
  // the block outputs are float16; the norms' statistics and the softmax are float32
  assert.equal(types.get('/model/layers.2/Add_1_output_0'), TensorDataType.FLOAT16);
  assert.equal(types.get('/model/layers.2/input_layernorm/ReduceMean_output_0'), TensorDataType.FLOAT);
  assert.equal(types.get('/model/layers.2/self_attn/Softmax_output_0'), TensorDataType.FLOAT);
  assert.ok(
    graph.initializer.filter((t) => t.name!.startsWith('model.')).every((t) => t.dataType === TensorDataType.FLOAT16),
    'weights stay float16',
  );
  // ONNX Runtime's CPU provider runs float16 graphs partly in float32, so only closeness is checked here;
  // test/webgpu/devicePath.test.ts checks the float16 arithmetic on a device
  const { worst, largest } = await hookDifference(
    { ...half, compute: 'float16' },
    { ...half, compute: 'float32' },
    [0, 2, 5],
    'resid_post',
  );
  assert.ok(worst < 1e-2 * largest && largest > 1, `float16 vs float32 compute: ${worst} of ${largest}`);
});

/**
 * Fixtures of what no export here covers: random weights and PyTorch's activations, from transcriptions of transformers'
 * modeling code (qwen3-tiny/make_fixture.py, gemma_fixtures.py; transformers 5.18 itself gives the same within 5e-6) or
 * from transformers itself (sliding_window_fixtures.py: windows of 5 tokens on 12-token prompts).
 */
const FROM_PYTORCH: [string, string][] = [
  ['qwen3-tiny', "Qwen3 checkpoint (q_norm / k_norm, head_dim 32 != hidden / heads) gives what transformers' modeling_qwen3.py gives"],
  [
    'gemma3-tiny',
    'Gemma 3 text checkpoint (q_norm / k_norm with 1 + weight, local and global RoPE bases by layer, linear RoPE scaling, no soft-capping; a transformers 4 config) gives what modeling_gemma3.py gives',
  ],
  [
    'gemma',
    'Gemma 1 checkpoint (Llama\'s two norms with 1 + weight, scaled embedding, GELU tanh from the released configs\' hidden_act "gelu", one key/value head, head_dim 32 beside hidden 64) gives what transformers gives',
  ],
  [
    'gemma2-tiny',
    'Gemma 2 checkpoint (1 + weight norms, four per block, scaled embedding, query_pre_attn_scalar, soft-capping, GELU tanh) gives what modeling_gemma2.py gives',
  ],
  ['sliding-window/mistral', 'Mistral checkpoint whose sliding window binds (every layer) gives what transformers gives'],
  ['sliding-window/qwen2', 'Qwen2 checkpoint whose sliding window binds from max_window_layers on gives what transformers gives'],
  ['sliding-window/gemma2', 'Gemma 2 checkpoint whose sliding window binds on every other layer gives what transformers gives'],
  [
    'sliding-window/gemma3',
    'Gemma 3 checkpoint whose sliding window binds on its sliding layers (with their RoPE base) gives what transformers gives',
  ],
  ['phi3/mini', 'Phi-3 checkpoint (fused qkv_proj and gate_up_proj, a sliding window that binds) gives what transformers gives'],
  [
    'phi3/longrope-short',
    'Phi-3 checkpoint with partial rotary (0.75) and longrope within original_max_position_embeddings (short factors, attention factor) gives what transformers gives',
  ],
  [
    'phi3/longrope-long',
    'Phi-3 checkpoint with longrope past original_max_position_embeddings (long factors) gives what transformers gives',
  ],
  ['smollm3', 'SmolLM3 checkpoint (NoPE layers, one with a sliding window that binds) gives what transformers gives'],
  ['qwen3-yarn', 'Qwen3 checkpoint with YaRN RoPE (blended frequencies, attention factor) gives what transformers gives'],
  [
    'olmo2',
    'OLMo 2 checkpoint (norms after attention and the MLP only, q_norm / k_norm over the projections) gives what transformers gives',
  ],
  [
    'olmo3',
    'OLMo 3 checkpoint (sliding layers with default RoPE and a binding window, YaRN on the full layer) gives what transformers gives',
  ],
  [
    'starcoder2',
    'StarCoder2 checkpoint (LayerNorm with biases, biases on every projection, the ungated c_fc / c_proj MLP, a sliding window that binds) gives what transformers gives',
  ],
  [
    'glm',
    'GLM checkpoint (q, k, v biases, RoPE on the first half of each head over its even / odd pairs, a fused gate_up_proj) gives what transformers gives',
  ],
  ['glm4', 'GLM-4 checkpoint (GLM with a norm on each branch before its residual add) gives what transformers gives'],
  ['stablelm', 'StableLM 2 checkpoint (LayerNorm, RoPE on a quarter of each head, q, k, v biases) gives what transformers gives'],
  [
    'granite',
    'Granite checkpoint (embedding_multiplier, attention_multiplier as the attention scale, residual_multiplier on each branch) gives what transformers gives',
  ],
  [
    'qwen3_5/multimodal',
    'Qwen 3.5 checkpoint (Qwen3_5ForConditionalGeneration: Gated DeltaNet linear-attention layers around a gated full-attention layer, zero-centred norms, RoPE on a quarter of each head, an mtp.* head that never runs) gives what its text decoder gives in transformers',
  ],
  [
    'qwen3_5/text',
    'Qwen 3.5 text checkpoint (Qwen3_5ForCausalLM, layers from full_attention_interval, tied embeddings) gives what transformers gives',
  ],
  [
    'mistral3/ministral3',
    "Ministral 3 checkpoint (Mistral3ForConditionalGeneration with a ministral3 text_config: YaRN, and Llama 4's attention temperature on the queries past original_max_position_embeddings) gives what its text decoder gives in transformers",
  ],
  [
    'mistral3/mistral',
    'Mistral Small 3.1 / 3.2 layout checkpoint (Mistral3ForConditionalGeneration with a mistral text_config) gives what its text decoder gives in transformers',
  ],
  [
    'gemma4/dense',
    'Gemma 4 checkpoint (Gemma4ForConditionalGeneration as 31B is saved: full layers with their own head size and key/value heads, keys as values, proportional RoPE, a scale-free v norm, attention scale 1, layer_scalar, a binding sliding window) gives what its text decoder gives in transformers',
  ],
  [
    'gemma4/e2b',
    "Gemma 4 E2B-shaped checkpoint (per-layer inputs, the last layers reading earlier layers' keys and values, their MLPs twice as wide) gives what its text decoder gives in transformers",
  ],
  [
    'lfm2',
    'Liquid AI LFM2 checkpoint (short-convolution layers beside attention layers with q / k layernorms, operator_norm / ffn_norm, the adjusted w1 / w3 / w2 width, conv_bias) gives what transformers gives',
  ],
  [
    'qwen3_5/olmo-hybrid',
    "AllenAI OLMo Hybrid checkpoint (its Gated DeltaNet's own projections and doubled beta in pre-norm linear layers, OLMo 2-style attention layers without RoPE) gives what transformers gives",
  ],
  [
    'qwen3_5/granite4',
    "IBM Granite 4.0-H checkpoint (Mamba2 layers with 2 groups over 4 heads beside attention layers without RoPE, Granite's multipliers, the shared_mlp's fused input_linear) gives what transformers gives",
  ],
  [
    'qwen3_5/bamba',
    "IBM Bamba checkpoint (Granite 4.0-H's Mamba2 layers beside an attention layer with RoPE on half of each head and q / k / v / o biases, its feed_forward with biases after pre_ff_layernorm) gives what transformers gives",
  ],
  [
    'qwen3_5/falcon-h1',
    "TII Falcon-H1 checkpoint (as released: a Mamba2 mixer beside attention in every layer, muP multipliers on the mixer's input, projections and output, on the attention's input, keys and output, on the MLP's gate and output and on the embedding; no gated norm; head_dim and mamba_d_ssm of their own) gives what transformers gives",
  ],
  [
    'qwen3_5/falcon-h1-norm',
    "TII Falcon-H1 checkpoint with the mixer's gated RMSNorm per group, before the gate, and biases on every projection gives what transformers gives",
  ],
  [
    'exaone4',
    'EXAONE 4.0 checkpoint (LG; norms after each branch, per-head q / k norms, sliding layers with RoPE and a binding window, full layers without RoPE) gives what transformers gives',
  ],
  [
    'gemma3-multimodal',
    'Gemma 3 multimodal checkpoint (Gemma3ForConditionalGeneration, as Gemma 3 4B-27B are saved: text_config, language_model.model.* tensors beside a vision tower) gives what its text decoder gives in transformers',
  ],
  [
    'vision-language/qwen3-vl',
    'Qwen3-VL checkpoint (Qwen3VLForConditionalGeneration: text_config, model.language_model.* beside model.visual.* and its deepstack mergers, interleaved multimodal RoPE, tied at the top level) gives what its text decoder gives in transformers',
  ],
  [
    'vision-language/llava',
    'LLaVA checkpoint (LlavaForConditionalGeneration: a Llama decoder as language_model.model.* and language_model.lm_head beside a CLIP tower and its projector) gives what its text decoder gives in transformers',
  ],
  [
    'vision-language/llava-next',
    'LLaVA-NeXT checkpoint (LlavaNextForConditionalGeneration: a Mistral decoder beside the tower, the projector and image_newline) gives what its text decoder gives in transformers',
  ],
  [
    'vision-language/llava-onevision',
    "LLaVA-OneVision checkpoint (LlavaOnevisionForConditionalGeneration: Qwen2's decoder with its q / k / v biases beside a SigLIP tower) gives what its text decoder gives in transformers",
  ],
  [
    'vision-language/internvl',
    "InternVL checkpoint (InternVLForConditionalGeneration as InternVL3.5 is saved: Qwen3's decoder, tied at the top level, beside InternViT and its projector) gives what its text decoder gives in transformers",
  ],
  [
    'vision-language/lfm2-vl',
    "LFM2-VL checkpoint (Lfm2VlForConditionalGeneration: LFM2's decoder as model.language_model.* beside a SigLIP2 tower) gives what its text decoder gives in transformers",
  ],
  [
    'vision-language/smolvlm',
    'SmolVLM checkpoint (SmolVLMForConditionalGeneration: a Llama decoder as model.text_model.* beside model.vision_model.* and model.connector.*) gives what its text decoder gives in transformers',
  ],
  [
    'vision-language/qwen2_5-vl',
    "Qwen2.5-VL checkpoint (Qwen2_5_VLForConditionalGeneration: model.* beside visual.*, multimodal RoPE, Qwen2's biases) gives what its text decoder gives in transformers",
  ],
];

for (const [fixture, what] of [
  ['granite', "a Granite checkpoint's attn_out and mlp_out are what its attention and MLP modules return, before residual_multiplier"],
  ['glm', "a GLM checkpoint's attn_out and mlp_out are what its attention and MLP modules return"],
  ['glm4', "a GLM-4 checkpoint's attn_out and mlp_out are what its post_self_attn_layernorm and post_mlp_layernorm return"],
  ['qwen3_5/multimodal', "a Qwen 3.5 checkpoint's attn_out and mlp_out are what its linear_attn or self_attn and its MLP return"],
  ['qwen3_5/qwen3-next', "a Qwen3-Next checkpoint's attn_out and mlp_out are what its linear_attn or self_attn and its MLP return"],
  ['lfm2', "an LFM2 checkpoint's attn_out and mlp_out are what its conv or self_attn and its feed_forward return"],
  ['cohere', "a Cohere checkpoint's attn_out and mlp_out are what its attention and MLP return, side by side"],
  ['gpt-oss/dense', "a GPT-OSS checkpoint's attn_out and mlp_out are what its attention (sinks and biases) and its MLP of experts return"],
  ['qwen3_5/granite4', "a Granite 4.0-H checkpoint's attn_out and mlp_out are what its mamba or self_attn and its shared_mlp return"],
  ['qwen3_5/bamba', "a Bamba checkpoint's attn_out and mlp_out are what its mamba or self_attn and its feed_forward return"],
  ['qwen3_5/falcon-h1', "a Falcon-H1 checkpoint's attn_out and mlp_out are its mixers' scaled sum and what its feed_forward returns"],
  [
    'qwen3_5/granite4-moe',
    "a Granite 4.0-H checkpoint with experts' attn_out and mlp_out are what its mamba or self_attn return and what block_sparse_moe and shared_mlp return, summed",
  ],
  [
    'qwen3_5/olmo-hybrid',
    "an OLMo Hybrid checkpoint's attn_out and mlp_out are what its branches add: linear_attn and mlp, or the attention layer's post_attention_layernorm and post_feedforward_layernorm",
  ],
])
  test(`${what} (test/fixtures/${fixture})`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', fixture);
    for (const point of ['attn_out', 'mlp_out'] as const) {
      for (const d of await differenceFromExpected(sourceOf(folder), expectedIn(folder), point, cpu)) {
        assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
        assert.ok(d.largest > 0.05, `${point} layer ${d.layer}: activations of size ${d.largest}`);
      }
    }
  });

test("Qwen 3.5's attn_z: what o_proj reads at its full-attention layer (the heads' output times the output gate); refused at a linear-attention layer, naming it", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'multimodal');
  const { batch } = expectedIn(folder);
  const want = JSON.parse(fs.readFileSync(path.join(folder, 'expected.json'), 'utf8')).o_proj_input['1'] as number[];
  const model = await HookedModel.load(sourceOf(folder), { targets: [1], hookPoint: 'attn_z', tensorNames: new Map() }, cpu);
  try {
    const got = (await model.run(batch)).get(1)!;
    assert.equal(got.hidden, 4 * 16);
    let worst = 0;
    for (let t = 0; t < batch.batch * batch.seq; t++)
      if (batch.mask[t])
        for (let i = 0; i < got.hidden; i++) worst = Math.max(worst, Math.abs(got.data[t * got.hidden + i] - want[t * got.hidden + i]));
    assert.ok(worst < 1e-5, `attn_z layer 1: ${worst}`);
  } finally {
    await model.release();
  }
  await assert.rejects(
    HookedModel.load(sourceOf(folder), { targets: [0], hookPoint: 'attn_z', tensorNames: new Map() }, cpu),
    (e: SaeDiffError) =>
      e.location?.key === 'layers.target_indices' && /Layer 0 is a linear-attention, convolution or state-space layer/.test(e.message),
  );
});

test("Mistral3ForConditionalGeneration ties lm_head as its top-level tie_word_embeddings says (default true), not its text_config's", () => {
  const spec = (folder: string, change: Record<string, unknown> = {}) => {
    const file = path.join(REPO_ROOT, 'test', 'fixtures', 'mistral3', folder, 'config.json');
    return decoderSpec({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...change }, file);
  };
  assert.equal(spec('ministral3').tiedEmbeddings, true);
  assert.equal(spec('ministral3', { tie_word_embeddings: undefined }).tiedEmbeddings, true);
  assert.equal(spec('mistral').tiedEmbeddings, false);
  assert.deepEqual(spec('ministral3').queryPositionScale, { beta: 0.1, original: 4 });
  assert.throws(
    () => spec('mistral', { text_config: { ...spec('mistral'), model_type: 'pixtral' } }),
    (e: SaeDiffError) =>
      e.location?.key === 'text_config.model_type' &&
      /text_config of model_type "pixtral" is not built \(mistral, ministral3 are\)/.test(e.message),
  );
});

test("a Gemma 4 E2B-shaped checkpoint's mlp_out is what post_feedforward_layernorm returns, before the per-layer input (test/fixtures/gemma4/e2b)", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'gemma4', 'e2b');
  for (const d of await differenceFromExpected(sourceOf(folder), expectedIn(folder), 'mlp_out', cpu)) {
    assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `mlp_out layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
    assert.ok(d.largest > 0.05, `mlp_out layer ${d.layer}: activations of size ${d.largest}`);
  }
});

test("a Gemma 4 shared layer's own key and value weights, where a checkpoint holds them, are skipped as transformers skips them", async () => {
  const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'gemma4', 'e2b');
  const weights = readSafetensors(path.join(fixture, 'model.safetensors'));
  const tensors: RawTensors = {};
  for (const [n, t] of weights)
    tensors[n] = { dtype: 'F32', shape: t.shape, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) };
  // layer 4 reads layer 1's keys and values; give it projections of its own, as a checkpoint may
  for (const module of ['k_proj', 'v_proj', 'k_norm'])
    tensors[`model.language_model.layers.4.self_attn.${module}.weight`] =
      tensors[`model.language_model.layers.1.self_attn.${module}.weight`];
  const folder = path.join(out, 'gemma4-shared-weights');
  fs.mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'expected.json']) fs.copyFileSync(path.join(fixture, f), path.join(folder, f));
  writeRawSafetensors(path.join(folder, 'model.safetensors'), tensors);
  for (const d of await differenceFromExpected(sourceOf(folder), expectedIn(folder), 'resid_post', cpu))
    assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute}`);
});

test("LFM2's config as the hub ships it (block_ff_dim, tie_embedding, full_attn_idxs) reads as Lfm2Config reads it", () => {
  const file = path.join(REPO_ROOT, 'test', 'fixtures', 'lfm2', 'config.json');
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  const hub = {
    ...saved,
    layer_types: undefined,
    intermediate_size: undefined,
    tie_word_embeddings: undefined,
    block_ff_dim: 192,
    tie_embedding: false,
  };
  const spec = decoderSpec(hub, file);
  // int(2 * 192 / 3) = 128, rounded up to a multiple of 256
  assert.equal(spec.intermediate, 256);
  assert.equal(spec.tiedEmbeddings, false);
  assert.deepEqual(spec.shortConv?.layers, [true, false, true, false]);
  assert.equal(decoderSpec({ ...hub, block_auto_adjust_ff_dim: false }, file).intermediate, 192);
  assert.equal(decoderSpec({ ...hub, block_ffn_dim_multiplier: null }, file).intermediate, 128);
  assert.deepEqual(decoderSpec({ ...hub, full_attn_idxs: undefined }, file).shortConv?.layers, [false, false, false, false]);
});

test('Granite 4.0-H\'s config as released (layer_types "mamba" / "attention") reads as GraniteMoeHybridConfig reads it, its experts too (8 by default; 0: none)', () => {
  const file = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'granite4', 'config.json');
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  const released = { ...saved, layer_types: ['mamba', 'mamba', 'attention', 'mamba'], mamba_d_head: 'auto' };
  const spec = decoderSpec(released, file);
  assert.deepEqual(spec.mamba?.layers, [true, true, false, true]);
  assert.equal(spec.mamba?.headDim, 32);
  assert.deepEqual(spec.noRopeLayers, [true, true, true, true]);
  assert.equal(decoderSpec({ ...released, position_embedding_type: 'rope' }, file).noRopeLayers, undefined);
  assert.equal(spec.moe, undefined);
  // many experts, each token's top 6 (4.0-H Tiny's and Small's kind of routing)
  const tiny = decoderSpec({ ...released, num_local_experts: 64, num_experts_per_tok: 6, intermediate_size: 512 }, file).moe!;
  assert.deepEqual(
    [tiny.experts, tiny.topK, tiny.intermediate, tiny.fused, tiny.sparseLayers],
    [64, 6, 512, 'granite', [true, true, true, true]],
  );
  const byDefault = decoderSpec({ ...released, num_local_experts: undefined, num_experts_per_tok: undefined }, file).moe!;
  assert.deepEqual([byDefault.experts, byDefault.topK], [8, 2]);
});

test('an NVIDIA Nemotron-H checkpoint (blocks of one mixer: Mamba2 with its gated norm per group, MLP relu², attention without positions; backbone.* tensors) gives what transformers gives at resid_post (test/fixtures/qwen3_5/nemotron-h)', async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'nemotron-h');
  const configFile = path.join(folder, 'config.json');
  const spec = checkpointSpec(JSON.parse(fs.readFileSync(configFile, 'utf8')), configFile);
  assert.equal(spec.family, 'nemotron_h');
  const source = checkpointSource(path.join(folder, 'model.safetensors'), configFile, spec);
  for (const d of await differenceFromExpected(source, expectedIn(folder), 'resid_post', cpu)) {
    assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
    assert.ok(d.largest > 0.5, `layer ${d.layer}: activations of size ${d.largest}`);
  }
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  // the released configs' pattern string reads as the list, "E" as an MoE block
  const pattern = { ...config, layers_block_type: undefined, hybrid_override_pattern: 'M-*-M' };
  assert.deepEqual((checkpointSpec(pattern, configFile) as typeof spec).blocks, ['mamba', 'mlp', 'attention', 'mlp', 'mamba']);
  assert.deepEqual((checkpointSpec({ ...pattern, hybrid_override_pattern: 'M-*-E' }, configFile) as typeof spec).blocks.at(-1), 'moe');
});

for (const [fixture, what] of [
  [
    'nemotron-3',
    "Nemotron 3's mixture of experts (8 experts in 2 groups routed by sigmoid scores plus their correction bias, the best group's top 2 renormalised and scaled, relu² experts beside shared experts)",
  ],
  ['nemotron-3-latent', "Nemotron 3's mixture of experts on a latent projection (moe_latent_size)"],
])
  test(`${what} gives what transformers gives at resid_post, its experts gathered or dense (test/fixtures/qwen3_5/${fixture})`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', fixture);
    const configFile = path.join(folder, 'config.json');
    const spec = checkpointSpec(JSON.parse(fs.readFileSync(configFile, 'utf8')), configFile) as NemotronHSpec;
    assert.deepEqual(spec.blocks, ['mamba', 'moe', 'attention', 'moe']);
    assert.deepEqual([spec.moe?.groups, spec.moe?.topkGroups, spec.moe?.scale, spec.moe?.dispatch], [2, 1, 2.5, 'sparse']);
    for (const dispatch of ['sparse', 'dense'] as const) {
      const source = checkpointSource(path.join(folder, 'model.safetensors'), configFile, { ...spec, moe: { ...spec.moe!, dispatch } });
      for (const d of await differenceFromExpected(source, expectedIn(folder), 'resid_post', cpu)) {
        assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${dispatch} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
        assert.ok(d.largest > 0.5, `layer ${d.layer}: activations of size ${d.largest}`);
      }
    }
  });

test("Nemotron 3's routing settings that its router cannot run are refused, naming the key", () => {
  const configFile = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'nemotron-3', 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  for (const [change, key, message] of [
    [{ n_group: 3 }, 'n_group', /n_group \(3\) must divide n_routed_experts \(8\) into groups of 2 or more/],
    [{ n_group: 8 }, 'n_group', /groups of 2 or more/],
    [{ topk_group: 3 }, 'topk_group', /topk_group \(3\) is more than n_group \(2\)/],
    [{ num_experts_per_tok: 5 }, 'num_experts_per_tok', /num_experts_per_tok \(5\) is more than the 4 experts of topk_group groups/],
  ] as const)
    assert.throws(
      () => checkpointSpec({ ...config, ...change }, configFile),
      (e: SaeDiffError) => e.location?.key === key && message.test(e.message),
    );
});

/** Checkpoints whose blocks run attention and the MLP in parallel (no resid_mid), against transformers. */
for (const [fixture, what] of [
  [
    'cohere',
    'Cohere (Command R, Aya Expanse: one bias-free LayerNorm, attention and MLP in parallel, RoPE over even / odd pairs, per-head q / k LayerNorms)',
  ],
  ['cohere2', 'Cohere2 (sliding layers with RoPE and a binding window, full layers without)'],
  [
    'vision-language/aya-vision',
    "Aya Vision (AyaVisionForConditionalGeneration: Cohere2's decoder as language_model.model.* beside a SigLIP tower and its projector, tied at the top level)",
  ],
])
  test(`a ${what} checkpoint gives what transformers gives at resid_post (test/fixtures/${fixture})`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', fixture);
    for (const d of await differenceFromExpected(sourceOf(folder), expectedIn(folder), 'resid_post', cpu)) {
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
      assert.ok(d.largest > 0.5, `layer ${d.layer}: activations of size ${d.largest}`);
    }
  });

/** Llama-shaped checkpoints with their families' own keys, against transformers. */
for (const [fixture, what] of [
  ['seed-oss', 'ByteDance Seed-OSS (q / k / v biases from attention_bias, none on o_proj as attention_out_bias says)'],
  ['ernie4_5', "Baidu ERNIE 4.5 (RoPE over each head's even / odd pairs, biases on every projection from use_bias)"],
  ['hunyuan', "Tencent Hunyuan dense (per-head q / k norms after RoPE, biases on q / k / v / o, RoPE 'dynamic' with an alpha)"],
  ['arcee', "Arcee AFM (Llama's blocks with an ungated MLP: down_proj(relu(up_proj(x))²))"],
  [
    'apertus',
    'Swiss AI Apertus (attention_layernorm / feedforward_layernorm, per-head q / k norms, an ungated MLP with xIELU and its learnt parameters, llama3 RoPE)',
  ],
])
  test(`a ${what} checkpoint gives what transformers gives at resid_mid and resid_post (test/fixtures/${fixture})`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', fixture);
    for (const point of ['resid_mid', 'resid_post'] as const)
      for (const d of await differenceFromExpected(sourceOf(folder), expectedIn(folder), point, cpu)) {
        assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
        assert.ok(d.largest > 0.5, `${point} layer ${d.layer}: activations of size ${d.largest}`);
      }
  });

/** Mixture-of-experts checkpoints (test/fixtures/moe_fixtures.py): every hook point, the MoE block's output as mlp_out. */
const MOE: [string, string][] = [
  ['moe/mixtral', 'Mixtral (4 experts, top 2 renormalised; block_sparse_moe w1 / w3 / w2)'],
  [
    'moe/qwen2-moe',
    'Qwen2-MoE (top 2 not renormalised, a sigmoid-gated shared expert, a dense layer from mlp_only_layers, q / k / v biases)',
  ],
  ['moe/qwen3-moe', 'Qwen3-MoE (top 2 renormalised, per-head q / k norms, a dense layer from decoder_sparse_step)'],
  ['moe/olmoe', 'OLMoE (top 2 not renormalised, q / k norms over the projections)'],
  [
    'moe/ernie4_5-moe',
    "ERNIE 4.5 MoE (4 experts chosen by probability plus a correction bias, weighted by probabilities renormalised, 2 biased shared experts, a dense first layer; RoPE over even / odd pairs, biases on every projection but the experts')",
  ],
  [
    'moe/glm4-moe-lite',
    "GLM-4.7-Flash (multi-head latent attention: queries through a low-rank norm, keys and values from one normalised latent, RoPE over even / odd pairs on a part shared by all heads' keys, values of their own width; GLM-4.5's experts)",
  ],
  [
    'moe/lfm2-moe',
    "Liquid AI LFM2-MoE (LFM2's short-convolution and attention layers, a dense first layer, then 8 experts chosen by sigmoid score plus the block's expert_bias, the top 2 renormalised and times 1.5, named w1 / w3 / w2 under feed_forward)",
  ],
  [
    'moe/granitemoe',
    "IBM Granite 3 MoE (granitemoe: 4 experts fused as input_linear / output_linear, the top 2 router logits softmaxed, Granite's embedding, attention and residual multipliers)",
  ],
  [
    'moe/granitemoeshared',
    'IBM Granite 3 MoE with a shared MLP (granitemoeshared: the shared_mlp beside the experts, their outputs summed)',
  ],
  [
    'moe/deepseek-v3',
    "DeepSeek-V3 (multi-head latent attention with a query latent under YaRN, its scale times mscale²; 8 experts in 4 groups, the 2 groups' best by their two best sigmoid scores plus correction bias, the top 2 renormalised and times 2.5, a shared expert, a dense first layer; its multi-token prediction layer skipped)",
  ],
  [
    'moe/deepseek-v2-lite',
    "DeepSeek-V2-Lite (multi-head latent attention through q_proj, RoPE over even / odd pairs under YaRN with V2-Lite's mscales; greedy routing: the top 2 softmax probabilities, not renormalised; 2 shared experts, a dense first layer)",
  ],
  [
    'moe/deepseek-v2',
    'DeepSeek-V2 (group-limited greedy routing: the top 2 softmax probabilities of the 2 of 4 groups with the best expert, times 2; biases on the latent attention, the dense MLP and the shared experts)',
  ],
  [
    'moe/glm4-moe',
    "GLM-4.5 (8 experts in 2 groups routed by sigmoid scores plus their correction bias, the best group's top 2 renormalised and scaled, an ungated shared expert, a dense first layer; q / k / v biases, per-head q / k norms, RoPE on half of each head; its multi-token prediction layer skipped)",
  ],
  [
    'qwen3_5/moe',
    'Qwen 3.5-MoE (Qwen3_5MoeForConditionalGeneration: top 2 always renormalised, a sigmoid-gated shared expert in every layer, Gated DeltaNet layers)',
  ],
  [
    'qwen3_5/qwen3-next',
    "Qwen3-Next (Qwen 3.5-MoE's layers with the Gated DeltaNet's projections fused per key head, top 2 of 4 experts not renormalised, a shared expert, a dense last layer)",
  ],
  [
    'vision-language/qwen3-vl-moe',
    "Qwen3-VL-MoE (Qwen3VLMoeForConditionalGeneration as Qwen3-VL-30B-A3B is released: 4 experts fused and stored transposed, top 2 renormalised, a dense last layer; Qwen3's attention)",
  ],
  [
    'qwen3_5/granite4-moe',
    "IBM Granite 4.0-H with experts (4.0-H Tiny and Small: 4 experts fused as input_linear / output_linear, top 2 softmaxed over the router's logits, beside the shared_mlp; Mamba2 layers)",
  ],
  [
    'gemma4/moe',
    "Gemma 4 26B-A4B-shaped (enable_moe_block: 4 experts fused beside each MLP, routed from the mid-stream by a scaled norm, top 2 renormalised times per_expert_scale, GELU tanh; the MLP's and experts' outputs normalised apart, summed and normalised)",
  ],
  [
    'gpt-oss/dense',
    "GPT-OSS (8 experts fused with biases, their gate and up interleaved, the SwiGLU's clamps binding; top 2 softmaxed over the router's logits and bias; attention sinks, q / k / v / o biases, YaRN without truncation, a binding sliding window)",
  ],
];
for (const [fixture, what] of MOE) {
  test(`a ${what} checkpoint gives what transformers gives at resid_mid, resid_post and mlp_out, its experts gathered or dense (test/fixtures/${fixture})`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', fixture);
    const expected = expectedIn(folder);
    const configFile = path.join(folder, 'config.json');
    const spec = decoderSpec(JSON.parse(fs.readFileSync(configFile, 'utf8')), configFile);
    assert.equal(spec.moe?.dispatch, 'sparse', 'few experts are gathered');
    for (const dispatch of ['sparse', 'dense'] as const) {
      const source = checkpointSource(path.join(folder, 'model.safetensors'), configFile, { ...spec, moe: { ...spec.moe!, dispatch } });
      for (const point of ['resid_mid', 'resid_post', 'mlp_out'] as const) {
        for (const d of await differenceFromExpected(source, expected, point, cpu)) {
          assert.ok(
            d.absolute < 1e-5 * Math.max(1, d.largest),
            `${dispatch} ${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`,
          );
          assert.ok(d.largest > 0.1, `${point} layer ${d.layer}: activations of size ${d.largest}`);
        }
      }
    }
  });
}

test("Qwen3-VL-MoE's experts as transformers 5.18 saves them (not transposed) read as the release's do", async () => {
  const fixture = path.join(REPO_ROOT, 'test', 'fixtures', 'vision-language', 'qwen3-vl-moe');
  const tensors: RawTensors = {};
  for (const [name, t] of readSafetensors(path.join(fixture, 'model.safetensors'))) {
    let { shape, data } = t;
    if (/mlp\.experts\.(gate_up|down)_proj$/.test(name)) {
      // [experts, a, b] -> [experts, b, a]
      const [e, a, b] = shape;
      const moved = new Float32Array(data.length);
      for (let x = 0; x < e; x++)
        for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) moved[(x * b + j) * a + i] = data[(x * a + i) * b + j];
      [shape, data] = [[e, b, a], moved];
    }
    tensors[name] = { dtype: 'F32', shape, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  const folder = path.join(out, 'qwen3-vl-moe-linear');
  fs.mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'expected.json']) fs.copyFileSync(path.join(fixture, f), path.join(folder, f));
  writeRawSafetensors(path.join(folder, 'model.safetensors'), tensors);
  assert.deepEqual(tensors['model.language_model.layers.0.mlp.experts.gate_up_proj'].shape, [4, 96, 64]);
  for (const d of await differenceFromExpected(sourceOf(folder), expectedIn(folder), 'resid_post', cpu))
    assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
});

test("a PEFT LoRA fine-tune of Qwen2.5-VL (all-linear: its text decoder's projections under transformers 5's model.language_model.*, and the vision tower's, never reached) gives what PEFT computes (test/fixtures/vision-language/qwen2_5-vl/lora)", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'vision-language', 'qwen2_5-vl');
  const adapter = readLoraAdapter(path.join(folder, 'lora'));
  assert.ok([...adapter.modules.keys()].some((m) => m.startsWith('model.visual.')));
  await assertAsPeftComputes(folder, adapter);
});

test("Falcon-H1's attn_z is read at every layer (its Mamba2 mixer runs beside the attention), Bamba's at its attention layer only", async () => {
  for (const [fixture, layer, refused] of [
    ['falcon-h1', 0, false],
    ['bamba', 0, true],
    ['bamba', 2, false],
  ] as const) {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', fixture);
    const config = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
    // the editor's facts, which its attn_z check reads, say the same
    assert.equal(modelFacts(folder).linearAttentionLayers?.includes(layer) ?? false, refused, `${fixture} layer ${layer}`);
    const load = HookedModel.load(sourceOf(folder), { targets: [layer], hookPoint: 'attn_z', tensorNames: new Map() }, cpu);
    if (refused) {
      await assert.rejects(load, /linear-attention, convolution or state-space layer/);
      continue;
    }
    const model = await load;
    try {
      assert.equal((await model.run(expectedIn(folder).batch)).get(layer)!.hidden, attentionWidth(config));
    } finally {
      await model.release();
    }
  }
});

test("GLM-4.7-Flash's attn_z is what o_proj reads, each head's v_head_dim values, as the editor sizes it", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', 'glm4-moe-lite');
  const config = JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
  assert.equal(attentionWidth(config), 4 * 24);
  const { batch } = expectedIn(folder);
  const model = await HookedModel.load(sourceOf(folder), { targets: [1], hookPoint: 'attn_z', tensorNames: new Map() }, cpu);
  try {
    assert.equal((await model.run(batch)).get(1)!.hidden, 4 * 24);
  } finally {
    await model.release();
  }
});

test('a LoRA adapter on the attention of a Qwen3-MoE checkpoint gives what PEFT computes with it (test/fixtures/moe/qwen3-moe/lora)', async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', 'qwen3-moe');
  const adapter = readLoraAdapter(path.join(folder, 'lora'));
  assert.equal(adapter.modules.size, 3 * 4);
  await assertAsPeftComputes(folder, adapter);
});

test("a PEFT LoRA on DeepSeek-V2-Lite's Linear layers as PEFT 0.21 writes it over transformers 5 (gate_proj, up_proj and down_proj become the fused experts' target_parameters, with alpha_pattern and rank_pattern for gate_up_proj; nested) gives what PEFT computes (test/fixtures/moe/deepseek-v2-lite/lora)", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', 'deepseek-v2-lite');
  const adapter = readLoraAdapter(path.join(folder, 'lora'));
  assert.deepEqual(adapter.targetParameters, ['down_proj', 'gate_up_proj']);
  // rank 8 and alpha 16 on gate_up_proj (gate and up fused), the config's 4 and 8 elsewhere: both scale by 2
  assert.equal(alphaFor(adapter, 'model.layers.1.mlp.experts.gate_up_proj'), 16);
  assert.equal(alphaFor(adapter, 'model.layers.1.mlp.experts.down_proj'), 8);
  assert.equal(describeAdapter(adapter), 'LoRA on 12 modules, rank 4; LoRA on 4 parameters (target_parameters)');
  await assertAsPeftComputes(folder, adapter);
});

for (const [fixture, what] of [
  ['qwen3-moe', 'Qwen3-MoE'],
  ['mixtral', "Mixtral (named as transformers 5 holds it in memory: mlp, not the checkpoint's block_sparse_moe)"],
  ['deepseek-v3', "DeepSeek-V3 (its grouped sigmoid router's weight, the latent attention's projections)"],
] as const)
  test(`a PEFT all-linear LoRA on ${what} over transformers 5 (the attention, the router's weight and the fused experts as target_parameters) gives what PEFT computes (test/fixtures/moe/${fixture}/lora-all-linear)`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', fixture);
    const adapter = readLoraAdapter(path.join(folder, 'lora-all-linear'));
    assert.deepEqual([...adapter.targetParameters].sort(), ['down_proj', 'gate.weight', 'gate_up_proj']);
    const expected = expectedIn(path.join(folder, 'lora-all-linear'));
    for (const d of await differenceFromExpected(adapterSource(sourceOf(folder), adapter), expected, 'resid_post', cpu))
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
  });

/** The adapter in folder/lora over the checkpoint in `folder` gives the resid_post PEFT computes (its expected.json). */
async function assertAsPeftComputes(folder: string, adapter: LoraAdapter): Promise<void> {
  const expected = expectedIn(path.join(folder, 'lora'));
  for (const d of await differenceFromExpected(adapterSource(sourceOf(folder), adapter), expected, 'resid_post', cpu))
    assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
}

test('the LLaVA kin tie the head as their classes do: the LLaVAs where either tie_word_embeddings says so, InternVL, Aya Vision and LFM2-VL as the top-level one says (default true), SmolVLM and Idefics3 too (default false)', () => {
  const file = 'config.json';
  const text = { model_type: 'llama', hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 96 };
  const tied = (config: Record<string, unknown>) => decoderSpec(config, file).tiedEmbeddings;
  assert.deepEqual(
    [
      tied({ model_type: 'llava', text_config: text }),
      tied({ model_type: 'llava', text_config: { ...text, tie_word_embeddings: true }, tie_word_embeddings: false }),
      tied({ model_type: 'llava', text_config: text, tie_word_embeddings: true }),
      tied({ model_type: 'internvl', text_config: text }),
      tied({ model_type: 'internvl', text_config: { ...text, tie_word_embeddings: true }, tie_word_embeddings: false }),
      tied({ model_type: 'aya_vision', text_config: { ...text, model_type: 'cohere2' }, tie_word_embeddings: false }),
      tied({ model_type: 'idefics3', text_config: { ...text, tie_word_embeddings: true } }),
    ],
    [false, true, true, true, false, false, false],
  );
  // the text model is the config class's default where text_config names none (InternVLConfig's: Qwen2)
  assert.equal(decoderSpec({ model_type: 'internvl', text_config: { ...text, model_type: undefined } }, file).family, 'qwen2');
});

test("a PEFT LoRA fine-tune of SmolVLM (all-linear: its text model's projections under model.text_model.*, and the vision tower's and connector's, never reached) gives what PEFT computes (test/fixtures/vision-language/smolvlm/lora)", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'vision-language', 'smolvlm');
  const adapter = readLoraAdapter(path.join(folder, 'lora'));
  assert.ok([...adapter.modules.keys()].some((m) => m.startsWith('model.vision_model.')));
  assert.ok([...adapter.modules.keys()].some((m) => m.startsWith('model.connector.')));
  await assertAsPeftComputes(folder, adapter);
});

test("a PEFT LoRA fine-tune of Falcon-H1 (its mixer's in_proj, the attention's and the MLP's projections, under their muP multipliers) gives what PEFT computes (test/fixtures/qwen3_5/falcon-h1/lora)", async () => {
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'falcon-h1');
  const adapter = readLoraAdapter(path.join(folder, 'lora'));
  assert.equal(adapter.modules.size, 3 * 8);
  await assertAsPeftComputes(folder, adapter);
});

test("Qwen2.5-VL's config.json as the hub ships it (the text model's keys at the top level, rope_scaling type mrope) reads as the saved text_config", () => {
  const file = path.join(REPO_ROOT, 'test', 'fixtures', 'vision-language', 'qwen2_5-vl', 'config.json');
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  const { rope_parameters: rope, ...text } = saved.text_config;
  const { rope_type: _type, rope_theta: theta, ...mrope } = rope;
  const hub = {
    ...saved,
    ...text,
    model_type: 'qwen2_5_vl',
    text_config: undefined,
    rope_theta: theta,
    rope_scaling: { type: 'mrope', ...mrope },
  };
  const spec = decoderSpec(hub, file);
  assert.deepEqual(spec, decoderSpec(saved, file));
  assert.deepEqual([spec.family, spec.qkvBias, spec.visionTower, spec.tiedEmbeddings], ['qwen2', true, true, false]);
});

test("Apertus's config without rope_parameters rotates as ApertusConfig's default (llama3, theta 12,000,000)", () => {
  const file = path.join(REPO_ROOT, 'test', 'fixtures', 'apertus', 'config.json');
  const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
  const bare = decoderSpec({ ...saved, rope_parameters: undefined }, file);
  assert.deepEqual(bare.invFreq, decoderSpec(saved, file).invFreq);
  const llama3 = { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 } as const;
  assert.deepEqual(bare.invFreq, ropeInverseFrequencies(16, 12_000_000, llama3));
  // a top-level rope_theta (transformers 4's key) takes the theta's place
  assert.deepEqual(
    decoderSpec({ ...saved, rope_parameters: undefined, rope_theta: 10_000 }, file).invFreq,
    ropeInverseFrequencies(16, 10_000, llama3),
  );
  assert.equal(bare.mlpActivation, 'xielu');
});

test("GLM-4.5's config keys (transformers 4's rope_theta, top-level partial_rotary_factor) read as Glm4MoeConfig reads them", () => {
  const file = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', 'glm4-moe', 'config.json');
  // GLM-4.5-Air's shape: 46 layers, 128 experts (top 8, one group), a shared expert, one multi-token prediction layer
  const air = {
    model_type: 'glm4_moe',
    attention_bias: true,
    first_k_dense_replace: 1,
    head_dim: 128,
    hidden_size: 4096,
    intermediate_size: 10944,
    moe_intermediate_size: 1408,
    n_group: 1,
    n_routed_experts: 128,
    n_shared_experts: 1,
    norm_topk_prob: true,
    num_attention_heads: 96,
    num_experts_per_tok: 8,
    num_hidden_layers: 46,
    num_key_value_heads: 8,
    num_nextn_predict_layers: 1,
    partial_rotary_factor: 0.5,
    rope_theta: 1000000,
    routed_scaling_factor: 1.0,
    topk_group: 1,
    use_qk_norm: false,
    vocab_size: 151552,
  };
  const spec = decoderSpec(air, file);
  assert.deepEqual([spec.rotaryDim, spec.qkvBias, spec.oBias, spec.qkNorm, spec.mtpLayers], [64, true, false, undefined, 1]);
  const moe = spec.moe!;
  assert.deepEqual(
    [moe.experts, moe.topK, moe.grouped, moe.normalise, moe.sharedExperts],
    [128, 8, { scoring: 'sigmoid', groups: 1, topkGroups: 1, scale: 1 }, true, 1408],
  );
  assert.deepEqual([moe.sparseLayers[0], moe.sparseLayers[1], moe.dispatch], [false, true, 'dense']);
  // Glm4MoeConfig's defaults: RoPE on half of each head; one group, chosen, and a scale of 1
  assert.equal(decoderSpec({ ...air, partial_rotary_factor: undefined }, file).rotaryDim, 64);
  const { n_group: _g, topk_group: _t, routed_scaling_factor: _s, ...ungrouped } = air;
  assert.deepEqual(decoderSpec(ungrouped, file).moe!.grouped, { scoring: 'sigmoid', groups: 1, topkGroups: 1, scale: 1 });
});

test("DeepSeek-V2-Lite's and Moonlight's config.json as the hub ships them read as transformers reads them; the routing keys it does not read are refused where they would route otherwise", () => {
  const file = 'config.json';
  // deepseek-ai/DeepSeek-V2-Lite (written for DeepSeek's own code, transformers 4.33)
  const v2Lite = {
    architectures: ['DeepseekV2ForCausalLM'],
    attention_bias: false,
    aux_loss_alpha: 0.001,
    first_k_dense_replace: 1,
    hidden_act: 'silu',
    hidden_size: 2048,
    intermediate_size: 10944,
    kv_lora_rank: 512,
    max_position_embeddings: 163840,
    model_type: 'deepseek_v2',
    moe_intermediate_size: 1408,
    moe_layer_freq: 1,
    n_group: 1,
    n_routed_experts: 64,
    n_shared_experts: 2,
    norm_topk_prob: false,
    num_attention_heads: 16,
    num_experts_per_tok: 6,
    num_hidden_layers: 27,
    num_key_value_heads: 16,
    q_lora_rank: null,
    qk_nope_head_dim: 128,
    qk_rope_head_dim: 64,
    rms_norm_eps: 1e-6,
    rope_scaling: {
      beta_fast: 32,
      beta_slow: 1,
      factor: 40,
      mscale: 0.707,
      mscale_all_dim: 0.707,
      original_max_position_embeddings: 4096,
      type: 'yarn',
    },
    rope_theta: 10000,
    routed_scaling_factor: 1.0,
    scoring_func: 'softmax',
    seq_aux: true,
    tie_word_embeddings: false,
    topk_group: 1,
    topk_method: 'greedy',
    v_head_dim: 128,
    vocab_size: 102400,
  };
  const lite = decoderSpec(v2Lite, file);
  assert.deepEqual(lite.mla, { qLoraRank: undefined, kvLoraRank: 512, nope: 128, rope: 64, value: 128 });
  const mscale = 0.1 * 0.707 * Math.log(40) + 1;
  assert.equal(lite.attentionScale, Math.fround(Math.pow(192, -0.5) * mscale * mscale));
  assert.deepEqual(
    [lite.headDim, lite.rotaryInterleaved, lite.ropeAttentionFactor, lite.mtpLayers, lite.rmsNormEps],
    [64, true, 1, undefined, 1e-6],
  );
  assert.deepEqual(
    [
      lite.moe!.experts,
      lite.moe!.topK,
      lite.moe!.grouped,
      lite.moe!.normalise,
      lite.moe!.sharedExperts,
      lite.moe!.sparseLayers.indexOf(true),
    ],
    [64, 6, { scoring: 'softmax', groups: 1, topkGroups: 1, scale: 1 }, false, 2816, 1],
  );
  // moonshotai/Moonlight-16B-A3B: DeepSeek-V3's layout with one group, no query latent, no YaRN
  const moonlight = decoderSpec(
    {
      ...v2Lite,
      model_type: 'deepseek_v3',
      architectures: ['DeepseekV3ForCausalLM'],
      intermediate_size: 11264,
      max_position_embeddings: 8192,
      norm_topk_prob: true,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 50000,
      routed_scaling_factor: 2.446,
      scoring_func: 'sigmoid',
      topk_method: 'noaux_tc',
      vocab_size: 163840,
    },
    file,
  );
  assert.deepEqual(
    [moonlight.moe!.grouped, moonlight.moe!.normalise, moonlight.attentionScale, moonlight.rmsNormEps],
    [{ scoring: 'sigmoid', groups: 1, topkGroups: 1, scale: Math.fround(2.446) }, true, Math.fround(Math.pow(192, -0.5)), 1e-5],
  );
  // DeepseekV3Config's defaults where config.json leaves them out: 8 groups, 4 chosen, 2.5, three dense layers
  const bare = decoderSpec(
    { model_type: 'deepseek_v3', hidden_size: 64, num_hidden_layers: 5, num_attention_heads: 4, intermediate_size: 96 },
    file,
  );
  assert.deepEqual(
    [bare.moe!.grouped, bare.moe!.experts, bare.moe!.sparseLayers, bare.mla],
    [
      { scoring: 'sigmoid', groups: 8, topkGroups: 4, scale: 2.5 },
      256,
      [false, false, false, true, true],
      { qLoraRank: 1536, kvLoraRank: 512, nope: 128, rope: 64, value: 128 },
    ],
  );
  for (const [config, key] of [
    [{ ...v2Lite, scoring_func: 'sigmoid' }, 'scoring_func'],
    [{ ...v2Lite, topk_method: 'noaux_tc' }, 'topk_method'],
    [{ ...v2Lite, norm_topk_prob: true }, 'norm_topk_prob'],
    [{ ...v2Lite, moe_layer_freq: 2 }, 'moe_layer_freq'],
    [{ ...v2Lite, topk_method: 'group_limited_greedy', n_group: null }, 'n_group'],
    [{ ...v2Lite, model_type: 'deepseek_v3', scoring_func: 'softmax' }, 'scoring_func'],
    [{ ...v2Lite, model_type: 'deepseek_v3', topk_method: 'greedy', scoring_func: 'sigmoid' }, 'topk_method'],
  ] as const)
    assert.throws(
      () => decoderSpec(config, file),
      (e: Error) => e.message.includes(key),
      `${key} of ${JSON.stringify(config[key])}`,
    );
});

test("Falcon-H1's config keys read as FalconH1Config defaults them, and its multipliers' shapes are checked", () => {
  const file = 'config.json';
  const bare = { model_type: 'falcon_h1', hidden_size: 64, num_attention_heads: 16, num_hidden_layers: 2, intermediate_size: 96 };
  const spec = decoderSpec(bare, file);
  // mamba_d_ssm 1024 in 128 heads of 8; one group of 256 states; y · SiLU(gate) without a norm; 8 key / value heads;
  // every multiplier 1
  assert.deepEqual(
    [
      spec.mamba!.heads,
      spec.mamba!.headDim,
      spec.mamba!.groups,
      spec.mamba!.stateSize,
      spec.mamba!.gatedNorm,
      spec.kvHeads,
      spec.rmsNormEps,
    ],
    [128, 8, 1, 256, 'none', 8, 1e-5],
  );
  assert.deepEqual(spec.falconH1, { attentionIn: 1, attentionOut: 1, ssmOut: 1, key: 1, mlpGate: 1, mlpDown: 1 });
  assert.deepEqual(spec.mamba!.layers, [false, false], "no mixer stands in for a layer's attention (attn_z is read at every layer)");
  // mamba_d_ssm null: mamba_expand · hidden_size; the gated norm before the gate by default, after it where set
  const wide = decoderSpec({ ...bare, mamba_d_ssm: null, mamba_n_heads: 8, mamba_rms_norm: true }, file);
  assert.deepEqual([wide.mamba!.headDim, wide.mamba!.gatedNorm], [16, 'norm_first']);
  assert.equal(decoderSpec({ ...bare, mamba_rms_norm: true, mamba_norm_before_gate: false }, file).mamba!.gatedNorm, 'gate_first');
  for (const [key, value] of [
    ['ssm_multipliers', [1, 1, 1, 1]],
    ['mlp_multipliers', [1]],
    ['mamba_d_head', 7],
    ['key_multiplier', 'large'],
  ] as const)
    assert.throws(
      () => decoderSpec({ ...bare, [key]: value }, file),
      (e: SaeDiffError) => e.location?.key === key,
    );
});

test('mixture-of-experts checkpoints with many experts run them densely (ONNX Runtime creates sessions of gathered experts slowly)', () => {
  const configFile = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', 'qwen3-moe', 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  // Qwen3-30B-A3B's shape of routing: 128 experts on 48 layers
  const big = decoderSpec(
    { ...config, num_local_experts: 128, num_hidden_layers: 48, decoder_sparse_step: 1, mlp_only_layers: [] },
    configFile,
  );
  assert.deepEqual([big.moe?.dispatch, big.moe?.sparseLayers.filter(Boolean).length], ['dense', 48]);
  // Mixtral's: 8 experts on 32 layers
  const mixtral = decoderSpec(
    { ...config, model_type: 'mixtral', num_local_experts: 8, num_hidden_layers: 32, intermediate_size: 32 },
    configFile,
  );
  assert.deepEqual([mixtral.moe?.dispatch, mixtral.moe?.sparseLayers.length, mixtral.moe?.normalise], ['sparse', 32, true]);
});

for (const [fixture, what] of FROM_PYTORCH) {
  test(`a ${what} (test/fixtures/${fixture})`, async () => {
    const folder = path.join(REPO_ROOT, 'test', 'fixtures', fixture);
    const expected = expectedIn(folder);
    for (const point of ['resid_mid', 'resid_post'] as const) {
      for (const d of await differenceFromExpected(sourceOf(folder), expected, point, cpu)) {
        assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
        assert.ok(d.largest > 0.5, `${point} layer ${d.layer}: activations of size ${d.largest}`);
      }
    }
  });
}
