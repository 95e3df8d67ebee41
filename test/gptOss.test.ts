/**
 * GPT-OSS checkpoints (test/fixtures/gpt_oss_fixtures.py): the release's layout, its experts in MXFP4, read as
 * transformers reads them; its config.json as released; a PEFT LoRA fine-tune of its attention; and what is refused.
 * The dense fixture's hook points against transformers are in checkpoint.test.ts's MoE list.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { SaeDiffError } from '../src/engine/core/errors';
import { decoderSpec } from '../src/engine/model/checkpoint/decoderConfig';
import { describeAdapter, type LoraAdapter, readLoraAdapter } from '../src/engine/model/checkpoint/loraAdapter';
import { ropeInverseFrequencies } from '../src/engine/model/checkpoint/ropeFrequencies';
import { adapterSource, checkpointSource, type CheckpointSource } from '../src/engine/model/modelSource';
import { HookedModel } from '../src/engine/model/runner';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { REPO_ROOT, scratchDir } from './helpers/paths';

const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'gpt-oss');
const DENSE = path.join(FIXTURE, 'dense');
const MXFP4 = path.join(FIXTURE, 'mxfp4');
const cpu = { provider: 'cpu' as const, threads: 1 };
const out = scratchDir('gpt-oss');

function configOf(folder: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(folder, 'config.json'), 'utf8'));
}

function sourceOf(folder: string): CheckpointSource {
  const configFile = path.join(folder, 'config.json');
  return checkpointSource(path.join(folder, 'model.safetensors'), configFile, decoderSpec(configOf(folder), configFile));
}

/** Every layer's activations at `point` on the fixture's batch. */
async function activations(source: CheckpointSource, point: 'resid_post' | 'mlp_out'): Promise<Float32Array[]> {
  const { batch } = expectedIn(DENSE);
  const model = await HookedModel.load(source, { targets: [0, 1, 2, 3], hookPoint: point, tensorNames: new Map() }, cpu);
  try {
    const got = await model.run(batch);
    return [0, 1, 2, 3].map((l) => got.get(l)!.data);
  } finally {
    await model.release();
  }
}

/** The adapter in mxfp4/`folder` over the MXFP4 release gives the resid_post PEFT computes (its expected.json). */
async function assertAsPeftComputes(adapter: LoraAdapter, folder: string): Promise<void> {
  const expected = expectedIn(path.join(MXFP4, folder));
  for (const d of await differenceFromExpected(adapterSource(sourceOf(MXFP4), adapter), expected, 'resid_post', cpu))
    assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
}

test('GPT-OSS as released (experts in MXFP4 blocks and scales, the rest bfloat16) gives exactly what its dequantised weights give, and what transformers gives (test/fixtures/gpt-oss/mxfp4)', async () => {
  const expected = expectedIn(DENSE);
  for (const point of ['resid_post', 'mlp_out'] as const) {
    for (const d of await differenceFromExpected(sourceOf(MXFP4), expected, point, cpu)) {
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
      assert.ok(d.largest > 0.5, `${point} layer ${d.layer}: activations of size ${d.largest}`);
    }
    // every dequantised value is exact, so the two graphs compute the same numbers
    const [packed, dense] = [await activations(sourceOf(MXFP4), point), await activations(sourceOf(DENSE), point)];
    for (let l = 0; l < 4; l++) assert.deepEqual(packed[l], dense[l], `${point} layer ${l}`);
  }
});

test('MXFP4 blocks that do not fit config.json are refused, naming the tensor', async () => {
  const folder = path.join(out, 'wider-experts');
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify({ ...configOf(MXFP4), intermediate_size: 64 }));
  fs.copyFileSync(path.join(MXFP4, 'model.safetensors'), path.join(folder, 'model.safetensors'));
  await assert.rejects(
    HookedModel.load(sourceOf(folder), { targets: [0], hookPoint: 'resid_post', tensorNames: new Map() }, cpu),
    (e: SaeDiffError) =>
      /'model\.layers\.0\.mlp\.experts\.gate_up_proj_blocks' has shape \[8,64,2,16\] but config\.json implies \[8,128,2,16\]/.test(
        e.message,
      ),
  );
});

test("a PEFT LoRA fine-tune of GPT-OSS's attention (all-linear, as OpenAI's recipe sets it) over the MXFP4 release gives what PEFT computes (test/fixtures/gpt-oss/mxfp4/lora)", async () => {
  const adapter = readLoraAdapter(path.join(MXFP4, 'lora'));
  assert.equal(adapter.modules.size, 4 * 4);
  await assertAsPeftComputes(adapter, 'lora');
});

test("a PEFT LoRA on GPT-OSS's fused experts too (target_parameters, as OpenAI's recipe sets them: nested where one module has two) gives what PEFT computes (test/fixtures/gpt-oss/mxfp4/lora-experts)", async () => {
  const adapter = readLoraAdapter(path.join(MXFP4, 'lora-experts'));
  assert.deepEqual(adapter.targetParameters, ['1.mlp.experts.gate_up_proj', '1.mlp.experts.down_proj', '3.mlp.experts.down_proj']);
  assert.equal(describeAdapter(adapter), 'LoRA on 16 modules, rank 4; LoRA on 3 parameters (target_parameters)');
  await assertAsPeftComputes(adapter, 'lora-experts');
});

test('a LoRA on parameters (target_parameters) that fits no parameter of the graph is refused, naming the module', async () => {
  // the GPT-OSS adapter over a Qwen3-MoE base of the same width: 4 experts where its matrices hold rank 4 for 8
  const adapter = readLoraAdapter(path.join(MXFP4, 'lora-experts'));
  const qwen = path.join(REPO_ROOT, 'test', 'fixtures', 'moe', 'qwen3-moe');
  const attentionOnly = { ...adapter, modules: new Map([...adapter.modules].filter(([m]) => /^model\.layers\.[0-2]\.mlp/.test(m))) };
  await assert.rejects(
    HookedModel.load(adapterSource(sourceOf(qwen), attentionOnly), { targets: [2], hookPoint: 'resid_post', tensorNames: new Map() }, cpu),
    (e: SaeDiffError) =>
      /The adapter's LoRA on a parameter of 'model\.layers\.1\.mlp\.experts' \(target_parameters\) matches no parameter of this qwen3_moe graph/.test(
        e.message,
      ),
  );
});

/** openai/gpt-oss-20b's config.json (transformers 4.55's keys), at the fixture's sizes. */
function released(): Record<string, unknown> {
  return {
    architectures: ['GptOssForCausalLM'],
    attention_bias: true,
    attention_dropout: 0.0,
    eos_token_id: 200002,
    experts_per_token: 4,
    head_dim: 64,
    hidden_act: 'silu',
    hidden_size: 2880,
    initial_context_length: 4096,
    initializer_range: 0.02,
    intermediate_size: 2880,
    layer_types: Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? 'sliding_attention' : 'full_attention')),
    max_position_embeddings: 131072,
    model_type: 'gpt_oss',
    num_attention_heads: 64,
    num_experts_per_tok: 4,
    num_hidden_layers: 24,
    num_key_value_heads: 8,
    num_local_experts: 32,
    output_router_logits: false,
    pad_token_id: 199999,
    quantization_config: {
      modules_to_not_convert: ['model.layers.*.self_attn', 'model.layers.*.mlp.router', 'model.embed_tokens', 'lm_head'],
      quant_method: 'mxfp4',
    },
    rms_norm_eps: 1e-5,
    rope_scaling: {
      beta_fast: 32.0,
      beta_slow: 1.0,
      factor: 32.0,
      original_max_position_embeddings: 4096,
      rope_type: 'yarn',
      truncate: false,
    },
    rope_theta: 150000,
    router_aux_loss_coef: 0.9,
    sliding_window: 128,
    swiglu_limit: 7.0,
    tie_word_embeddings: false,
    transformers_version: '4.55.0.dev0',
    use_cache: true,
    vocab_size: 201088,
  };
}

test("GPT-OSS's config.json as released reads as GptOssConfig reads it; swiglu_limit other than 7 and other quantisations are refused", () => {
  const file = path.join(out, 'config.json');
  const spec = decoderSpec(released(), file);
  const yarn = { type: 'yarn', factor: 32, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, truncate: false } as const;
  assert.deepEqual(spec.invFreq, ropeInverseFrequencies(64, 150000, { ...yarn, attentionFactor: 0.1 * Math.log(32) + 1 }));
  assert.equal(spec.ropeAttentionFactor, Math.fround(0.1 * Math.log(32) + 1));
  assert.deepEqual([spec.slidingWindow, spec.slidingLayers?.slice(0, 4)], [128, [true, false, true, false]]);
  assert.deepEqual([spec.qkvBias, spec.oBias, spec.attentionSinks, spec.rmsNormEps, spec.tiedEmbeddings], [true, true, true, 1e-5, false]);
  const moe = spec.moe!;
  assert.deepEqual([moe.experts, moe.topK, moe.intermediate, moe.fused, moe.sparseLayers.every(Boolean)], [32, 4, 2880, 'gpt_oss', true]);
  // 32 experts on 24 layers run densely (MAX_GATHERED_EXPERTS)
  assert.equal(moe.dispatch, 'dense');
  // GptOssConfig's defaults: the released RoPE when none is given; every other layer sliding from layer 0, window 128
  const bare = decoderSpec(
    { ...released(), rope_scaling: undefined, rope_theta: undefined, layer_types: undefined, sliding_window: undefined },
    file,
  );
  assert.deepEqual(bare.invFreq, spec.invFreq);
  assert.deepEqual([bare.slidingWindow, bare.slidingLayers?.slice(0, 3)], [128, [true, false, true]]);
  // truncate matters: YaRN's ramp ends floored and ceiled change the frequencies
  assert.notDeepEqual(
    decoderSpec({ ...released(), rope_scaling: { ...(released().rope_scaling as object), truncate: true } }, file).invFreq,
    spec.invFreq,
  );
  assert.throws(
    () => decoderSpec({ ...released(), swiglu_limit: 10 }, file),
    (e: SaeDiffError) => e.location?.key === 'swiglu_limit' && /clamps at 7 whatever it says/.test(e.message),
  );
  assert.throws(
    () => decoderSpec({ ...released(), quantization_config: { quant_method: 'bitsandbytes', load_in_4bit: true } }, file),
    (e: SaeDiffError) =>
      e.location?.key === 'quantization_config' && /quant_method "bitsandbytes"\) are not built \(mxfp4 is\)/.test(e.message),
  );
  // MXFP4 is GPT-OSS's: another family's MXFP4 config is refused
  const llama = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3-tiny', 'config.json');
  assert.throws(
    () => decoderSpec({ ...JSON.parse(fs.readFileSync(llama, 'utf8')), quantization_config: { quant_method: 'mxfp4' } }, llama),
    (e: SaeDiffError) => e.location?.key === 'quantization_config' && /quant_method "mxfp4"\) are not built$/.test(e.message),
  );
});
