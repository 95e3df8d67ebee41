/**
 * The decoder a Hugging Face checkpoint's config.json describes, for the families whose forward pass
 * decoderGraph.ts builds exactly as transformers runs it: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM and
 * Qwen3ForCausalLM (pre-norm RMSNorm blocks, rotary attention with grouped KV heads, SwiGLU MLP; Qwen3 adds an
 * RMSNorm over each head's queries and keys before RoPE, modeling_qwen3.py's q_norm / k_norm), GemmaForCausalLM
 * (modeling_gemma.py: Llama's blocks with Gemma's norms, scaled embedding and GELU (tanh)), and
 * Gemma2ForCausalLM (modeling_gemma2.py: norms scaling by 1 + weight, a norm after attention and around the MLP
 * too, the embedding times sqrt(hidden_size), query_pre_attn_scalar, attention logit soft-capping, GELU (tanh)), Gemma 3's
 * text models (q/k norms, local and global RoPE) and the text decoder of Gemma3ForConditionalGeneration; Phi-3,
 * SmolLM3, OLMo 2 and 3, GlmForCausalLM and Glm4ForCausalLM (modeling_glm.py, modeling_glm4.py: Llama's blocks with
 * q, k, v biases, RoPE on each head's first half and over its even / odd pairs, a fused gate_up_proj; GLM-4 adds a
 * norm on each branch before its residual add), StableLmForCausalLM (modeling_stablelm.py: LayerNorm, RoPE on each
 * head's first partial_rotary_factor of dims, q, k, v biases with use_qkv_bias), Starcoder2ForCausalLM (modeling_starcoder2.py: Llama's attention with biases, nn.LayerNorm for
 * RMSNorm, an ungated c_fc / c_proj MLP), GraniteForCausalLM (modeling_granite.py: Llama's blocks with embedding_multiplier,
 * attention_multiplier as q kᵀ's scale, and residual_multiplier on each branch before its residual add), and the
 * mixtures of experts MixtralForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM and OlmoeForCausalLM (their
 * attention as Mistral's, Qwen2's, Qwen3's and OLMo 2's but pre-norm; the MLP a routed set of experts, moeBlock.ts)
 * and GptOssForCausalLM (attention sinks, fused experts, MXFP4 as released); and the later families each `case` names
 * (Qwen 3.5, Gemma 4, the hybrids, Cohere, EXAONE 4, Mistral 3). Config keys
 * of transformers 4.x (`rope_theta`, `rope_scaling`) and 5.x (`rope_parameters`, `layer_types`) are read; a
 * setting that would change the forward pass and is not built (another RoPE type, quantisation but GPT-OSS's MXFP4,
 * another activation)
 * is refused, naming the key.
 */
import { SaeDiffError } from '../../core/errors';
import { EXPORT_HINT, partialRope, positiveInteger, refuse, refuseQuantised, SAVED_HINT } from './configKeys';
import { CHECKPOINT_FAMILIES, type DecoderFamily } from './decoderFamilies';
import { moeSpecOf, refuseOtherSwigluLimit, type MoeSpec } from './moeConfig';
import { MULTIMODAL_TEXT, multimodalText, qwenVlText } from './multimodalConfig';
import {
  falconH1MambaOf,
  lfm2Layers,
  linearAttentionOf,
  mambaOf,
  type LinearAttentionSpec,
  type MambaSpec,
  type ShortConvSpec,
} from './mixerConfig';
import { APERTUS_NAMES, BAMBA_NAMES, GRANITE4_NAMES, HUNYUAN_NAMES, LFM2_NAMES, OLMO_HYBRID_NAMES, type ModuleNames } from './moduleNames';
import { gemma4Attention, gemma4Layers, refuseUnbuiltGemma4, type Gemma4Attention, type Gemma4Layers } from './gemma4Config';
import { gpt2Spec, type Gpt2Spec } from './gpt2Config';
import { nemotronHSpec, type NemotronHSpec } from './nemotronHConfig';
import { gptNeoxSpec, type GptNeoxSpec } from './gptNeoxConfig';
import { phiSpec, type PhiSpec } from './phiConfig';
import { ropeInverseFrequencies, type RopeScaling } from './ropeFrequencies';

/** config.json as read (model/modelFolder.ts's HfConfig). */
type HfConfig = Record<string, unknown>;

/** What a checkpoint's config.json describes: a decoder of Llama's kin (decoderGraph.ts), GPT-2, GPT-NeoX or Phi (gpt2Graph.ts, gptNeoxGraph.ts, phiGraph.ts). */
export type CheckpointSpec = DecoderSpec | Gpt2Spec | GptNeoxSpec | PhiSpec | NemotronHSpec;

export interface DecoderSpec {
  family: DecoderFamily;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  rmsNormEps: number;
  /** RoPE inverse frequencies [rotaryDim / 2], float32 as transformers computes them. */
  invFreq: Float32Array;
  /** The dimensions of each head RoPE rotates, from the first: head_dim, or Phi-3's head_dim · partial_rotary_factor. */
  rotaryDim: number;
  /** Phi-3's longrope: the long factors' table, used when the batch's positions pass `longropeFrom` tokens. */
  longInvFreq?: Float32Array;
  longropeFrom?: number;
  /** Phi-3's longrope and YaRN: cos and sin are scaled by this (not Gemma 3's local RoPE, which has neither). */
  ropeAttentionFactor?: number;
  /** Phi-3: q, k, v as one qkv_proj and gate, up as one gate_up_proj. */
  fusedProjections: boolean;
  /** GLM: gate, up as one gate_up_proj (q, k and v apart). */
  fusedGateUp?: boolean;
  /** GLM: RoPE rotates each even / odd pair of dims (rotate_half over x[0::2], x[1::2]), cos and sin repeated per pair. */
  rotaryInterleaved?: boolean;
  /** GLM-4: post_self_attn_layernorm and post_mlp_layernorm on each branch before its residual add. */
  branchNorms?: boolean;
  /** SmolLM3: the layers that apply no RoPE (NoPE; its no_rope_layers are 0 there). */
  noRopeLayers?: boolean[];
  /** The attention window of sliding-window layers (keys fewer than this many positions back), and which layers those are. */
  slidingWindow?: number;
  slidingLayers?: boolean[];
  /** Gemma 3: the sliding-window layers' own RoPE (rope_local_base_freq). */
  slidingInvFreq?: Float32Array;
  /** Biases the checkpoint must hold: q, k, v (Qwen2, attention_bias), o (Llama and Qwen3 attention_bias), MLP (mlp_bias). */
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  /**
   * RMSNorm on queries and keys before RoPE: over each head (Qwen3, Gemma 3; weight [head_dim]) or over the whole
   * projection (OLMo 2; weight [heads · head_dim]); Cohere's use_qk_norm: a LayerNorm without bias over each head,
   * its weight per head ([heads, head_dim]).
   */
  qkNorm?: 'head' | 'projection' | 'head_layernorm';
  tiedEmbeddings: boolean;
  /** Gemma 1, 2 and 3: their norms scale by (1 + weight), in float32. */
  gemmaNorms: boolean;
  /** Gemma 2 and 3: a norm after attention, and one before and one after the MLP (Gemma 1 has Llama's two). */
  sandwichNorms?: boolean;
  /** StarCoder2, StableLM: nn.LayerNorm (weight and bias; its eps in rmsNormEps) where the others have RMSNorm. */
  layerNorms?: boolean;
  /** StarCoder2: c_fc, the activation, c_proj (with mlpBias), where the others gate: down(act(gate) · up). */
  ungatedMlp?: boolean;
  /** OLMo 2: no norm in front of attention or the MLP, one after each (on the branch, before the residual add). */
  postNorms?: boolean;
  /** Cohere: attention and the MLP read one norm of the block's input, in parallel (no resid_mid). */
  parallelBlock?: boolean;
  /** Cohere: its LayerNorms have no bias. */
  layerNormBias?: false;
  /** OLMo Hybrid: postNorms on these layers only (its attention layers; its linear layers are pre-norm). */
  postNormLayers?: boolean[];
  /** OLMo 2's RMSNorm multiplies by its weight in float32, then casts (Llama's casts first). */
  normWeightInFloat32?: boolean;
  /** The embedding's scale (Gemma: sqrt(hidden_size) in float32; Granite: embedding_multiplier), when it has one. */
  embedScale?: number;
  /** q kᵀ's scale: head_dim^-0.5, Gemma's query_pre_attn_scalar^-0.5, or Granite's attention_multiplier. */
  attentionScale: number;
  /** Granite: each branch's output times residual_multiplier before its residual add. */
  residualScale?: number;
  /** Gemma's attn_logit_softcapping: scores -> tanh(scores / cap) · cap (Gemma 2 by default, Gemma 3 when set). */
  softcap?: number;
  /**
   * The MLP gate's activation: SiLU, or GELU's tanh approximation (gelu_pytorch_tanh); Apertus: xIELU with its
   * learnt parameters, in an ungated MLP (down_proj(xielu(up_proj(x)))); Arcee: relu², ungated too (NemotronMLP).
   */
  mlpActivation: 'silu' | 'gelu_tanh' | 'xielu' | 'relu2';
  /** The checkpoint is a multimodal model's (Gemma 3 4B+): its vision tower and projector are there, and never run. */
  visionTower?: boolean;
  /** Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, Qwen 3.5-MoE, GPT-OSS, Granite 4.0-H Tiny / Small, Gemma 4 26B-A4B: the experts. */
  moe?: MoeSpec;
  /**
   * GLM-4.7-Flash's multi-head latent attention (Glm4MoeLiteAttention): q_lora_rank (undefined: q_proj), kv_lora_rank,
   * each head's key and query dims without RoPE (nope) and with it (rope: headDim, what RoPE rotates), and its value
   * dims. attentionScale is (nope + rope)^-0.5, times YaRN's mscale(factor, mscale_all_dim)² where set.
   */
  mla?: { qLoraRank?: number; kvLoraRank: number; nope: number; rope: number; value: number };
  /** Hunyuan: the per-head q / k norms apply after RoPE (query_layernorm, key_layernorm). */
  qkNormAfterRope?: boolean;
  /** GLM-4.5: its multi-token prediction layers saved after the decoder's (num_nextn_predict_layers), never run. */
  mtpLayers?: number;
  /** GPT-OSS: each head's learnt sink logit (self_attn.sinks) joins its softmax, its share dropped. */
  attentionSinks?: boolean;
  /** Qwen 3.5: q_proj gives each head's query and an output gate; the attention's output is times sigmoid(gate). */
  attentionOutputGate?: boolean;
  /** Qwen 3.5: its linear-attention layers. */
  linearAttention?: LinearAttentionSpec;
  /**
   * Ministral 3 (Llama 4's attention temperature): the rotated queries times 1 + beta · ln(1 + floor(position /
   * original)), from rope_parameters' llama_4_scaling_beta and original_max_position_embeddings.
   */
  queryPositionScale?: { beta: number; original: number };
  /** Gemma 4: each layer type's head size, key/value heads and RoPE (gemma4Config.ts); the full layers' keys as values. */
  layerAttention?: Gemma4Attention;
  /** Gemma 4: the values RMS-normalised per head, without a weight (v_norm). */
  valueNorm?: boolean;
  /** Gemma 4: each block's output times its layer_scalar. */
  layerScalar?: boolean;
  /** Gemma 4 E2B / E4B: per-layer inputs, shared keys and values, double-wide MLPs. */
  gemma4Layers?: Gemma4Layers;
  /** LFM2: its short-convolution layers. */
  shortConv?: ShortConvSpec;
  /** Granite 4.0-H, Bamba: their Mamba2 layers; Falcon-H1: the Mamba2 mixer beside every layer's attention. */
  mamba?: MambaSpec;
  /**
   * Falcon-H1 (FalconH1DecoderLayer): the attention's input and output multipliers, the mixer's output multiplier
   * (their scaled outputs summed are the branch), key_multiplier on the keys, and the MLP's gate and down multipliers;
   * float32 as they multiply float32 tensors.
   */
  falconH1?: { attentionIn: number; attentionOut: number; ssmOut: number; key: number; mlpGate: number; mlpDown: number };
  /** The block's module names where they are not Llama's (LFM2's). */
  names?: ModuleNames;
}

/** FalconH1Config's multipliers (default 1; mlp_multipliers [gate, down]). */
function falconH1Multipliers(c: HfConfig, file: string): NonNullable<DecoderSpec['falconH1']> {
  const number = (key: string, v: unknown = c[key] ?? 1) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw refuse(file, key, `${key} is ${JSON.stringify(v)}, not a number`, SAVED_HINT);
    return Math.fround(v);
  };
  const mlp = c.mlp_multipliers ?? [1, 1];
  if (!Array.isArray(mlp) || mlp.length !== 2)
    throw refuse(file, 'mlp_multipliers', 'mlp_multipliers must be two numbers (gate, down)', SAVED_HINT);
  return {
    attentionIn: number('attention_in_multiplier'),
    attentionOut: number('attention_out_multiplier'),
    ssmOut: number('ssm_out_multiplier'),
    key: number('key_multiplier'),
    mlpGate: number('mlp_multipliers', mlp[0]),
    mlpDown: number('mlp_multipliers', mlp[1]),
  };
}

/** Ministral3Attention's get_llama_4_attn_scale settings, which it reads from rope_parameters (transformers 5.18). */
function queryPositionScale(c: HfConfig, file: string): { beta: number; original: number } {
  const key = c.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  const params = (c.rope_parameters ?? c.rope_scaling ?? {}) as Record<string, unknown>;
  const beta = params.llama_4_scaling_beta;
  if (typeof beta !== 'number' || !Number.isFinite(beta) || beta < 0)
    throw refuse(
      file,
      `${key}.llama_4_scaling_beta`,
      `llama_4_scaling_beta is ${JSON.stringify(beta)}: a ministral3 model scales its queries by it`,
      SAVED_HINT,
    );
  return { beta, original: finite(params.original_max_position_embeddings, `${key}.original_max_position_embeddings`, file) };
}

function finite(v: unknown, key: string, file: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw refuse(file, key, `${key} is ${JSON.stringify(v)}, not a positive number`, SAVED_HINT);
  return v;
}

/** One RoPE setting: `params` holds rope_type (or type) and its scaling's keys, named under `key` in messages. */
function ropeFrom(params: Record<string, unknown>, theta: number, key: string, file: string, yarn?: YarnContext): Rope {
  const type = String(params.rope_type ?? params.type ?? 'default');
  if (params.partial_rotary_factor !== undefined && params.partial_rotary_factor !== 1)
    throw refuse(file, `${key}.partial_rotary_factor`, 'A partial rotary embedding is not built for checkpoints', EXPORT_HINT);
  const num = (k: string) => finite(params[k], `${key}.${k}`, file);
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: num('factor') } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: num('factor'),
          lowFreqFactor: num('low_freq_factor'),
          highFreqFactor: num('high_freq_factor'),
          originalMaxPositions: num('original_max_position_embeddings'),
        },
      };
    case 'yarn':
      if (yarn) return { theta, scaling: yarnScaling(params, key, file, yarn) };
    // falls through: a sliding layer type's own RoPE (Gemma 3, OLMo 3) takes no YaRN here
    default:
      throw refuse(
        file,
        `${key}.rope_type`,
        `RoPE type '${type}' is not built for checkpoints (default, linear, llama3 and yarn are)`,
        EXPORT_HINT,
      );
  }
}

interface Rope {
  theta: number;
  scaling: RopeScaling;
}

/** What YaRN reads beyond its own keys: the config's max_position_embeddings and original_max_position_embeddings. */
interface YarnContext {
  maxPositions?: number;
  topLevelOriginal?: unknown;
}

/**
 * YaRN's settings (modeling_rope_utils.py `_compute_yarn_parameters`, transformers 4.57 and 5.18 alike): factor
 * (else max_position_embeddings / original), original_max_position_embeddings (transformers 5 prefers config.json's
 * top-level one; a config whose two differ is refused, as 4.x would use the other), beta_fast 32 and beta_slow 1
 * by default, truncate (default true), and the attention factor on cos and sin: attention_factor, else
 * mscale(factor, mscale) / mscale(factor, mscale_all_dim) when both are set, else 0.1 ln(factor) + 1.
 */
function yarnScaling(params: Record<string, unknown>, key: string, file: string, ctx: YarnContext): RopeScaling {
  const num = (k: string) => finite(params[k], `${key}.${k}`, file);
  const set = (k: string) => params[k] !== undefined && params[k] !== null && params[k] !== 0;
  const inParams = params.original_max_position_embeddings;
  if (ctx.topLevelOriginal !== undefined && inParams !== undefined && inParams !== ctx.topLevelOriginal)
    throw refuse(
      file,
      `${key}.original_max_position_embeddings`,
      `original_max_position_embeddings is ${JSON.stringify(ctx.topLevelOriginal)} at the top of config.json but ${JSON.stringify(inParams)} in ${key}: transformers 4 and 5 would build different frequencies`,
      'Make the two equal.',
    );
  const original = finite(ctx.topLevelOriginal ?? inParams ?? ctx.maxPositions, `${key}.original_max_position_embeddings`, file);
  const factor = set('factor') ? num('factor') : finite(ctx.maxPositions, 'max_position_embeddings', file) / original;
  const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  const attentionFactor = set('attention_factor')
    ? num('attention_factor')
    : set('mscale') && set('mscale_all_dim')
      ? mscale(factor, num('mscale')) / mscale(factor, num('mscale_all_dim'))
      : mscale(factor);
  return {
    type: 'yarn',
    factor,
    originalMaxPositions: original,
    betaFast: set('beta_fast') ? num('beta_fast') : 32,
    betaSlow: set('beta_slow') ? num('beta_slow') : 1,
    truncate: params.truncate !== false,
    attentionFactor,
  };
}

/**
 * The RoPE of full-attention layers, and (Gemma 3, OLMo 3) of sliding-window layers: transformers 5's
 * `rope_parameters` (per layer type for those two), else 4.x's `rope_theta` + `rope_scaling`; 4.x's sliding layers
 * rotate by default RoPE with `rope_local_base_freq` (Gemma 3) or `rope_theta` (OLMo 3: its scaling, YaRN in the
 * released models, is the full layers' only). `defaultTheta`: the config class's rope_theta default.
 */
function ropeOf(
  c: HfConfig,
  file: string,
  perLayerType: 'gemma3' | 'olmo3' | undefined,
  defaultTheta: number,
): { full: Rope; sliding?: Rope } {
  const yarn: YarnContext = {
    maxPositions: typeof c.max_position_embeddings === 'number' ? c.max_position_embeddings : undefined,
    topLevelOriginal: c.original_max_position_embeddings,
  };
  const v5 = c.rope_parameters as Record<string, Record<string, unknown>> | undefined | null;
  const theta = () => finite(c.rope_theta ?? defaultTheta, 'rope_theta', file);
  // transformers 4.x: rope_theta with rope_scaling
  const v4Global = () => ropeFrom((c.rope_scaling ?? {}) as Record<string, unknown>, theta(), 'rope_scaling', file, yarn);
  if (!perLayerType)
    return {
      full: v5 ? ropeFrom(v5, finite(v5.rope_theta, 'rope_parameters.rope_theta', file), 'rope_parameters', file, yarn) : v4Global(),
    };
  if (!v5) {
    const local = perLayerType === 'gemma3' ? finite(c.rope_local_base_freq ?? 10_000, 'rope_local_base_freq', file) : theta();
    return { full: v4Global(), sliding: { theta: local, scaling: { type: 'default' } } };
  }
  // YaRN's attention factor is built for the full layers' RoPE only
  const of = (type: string, withYarn?: YarnContext) => {
    const p = v5[type] ?? {};
    return ropeFrom(p, finite(p.rope_theta, `rope_parameters.${type}.rope_theta`, file), `rope_parameters.${type}`, file, withYarn);
  };
  return { full: of('full_attention', yarn), sliding: of('sliding_attention') };
}

/**
 * Phi-3's RoPE (configuration_phi3.py, modeling_phi3.py, modeling_rope_utils.py `_compute_longrope_parameters` and
 * `longrope_frequency_update`, transformers 5.18): it rotates the first int(head_dim · partial_rotary_factor)
 * dimensions of each head; "longrope" ("su" and "yarn" too, which Phi3Config reads as longrope) divides
 * base^(2i/dim) by the short factors while the batch's positions stay within original_max_position_embeddings and by
 * the long ones past it, and scales cos and sin by attention_factor, else sqrt(1 + ln(factor) / ln(original)) where
 * factor is rope's factor, else max_position_embeddings / original. Keys of transformers 4.x (rope_scaling,
 * top-level partial_rotary_factor and original_max_position_embeddings) and 5.x (rope_parameters) are read.
 */
function phi3Rope(c: HfConfig, file: string, headDim: number): { rope: Rope; rotaryDim: number } {
  const v5 = c.rope_parameters as Record<string, unknown> | undefined | null;
  const key = v5 ? 'rope_parameters' : 'rope_scaling';
  const params = (v5 ?? c.rope_scaling ?? {}) as Record<string, unknown>;
  const theta = finite(v5 ? v5.rope_theta : (c.rope_theta ?? 10_000), v5 ? 'rope_parameters.rope_theta' : 'rope_theta', file);
  const prfKey = v5?.partial_rotary_factor !== undefined ? 'rope_parameters.partial_rotary_factor' : 'partial_rotary_factor';
  const prf = v5?.partial_rotary_factor ?? c.partial_rotary_factor ?? 1;
  const rotaryDim = typeof prf === 'number' && prf > 0 && prf <= 1 ? Math.trunc(headDim * prf) : NaN;
  if (!(rotaryDim >= 2 && rotaryDim % 2 === 0))
    throw refuse(
      file,
      prfKey,
      `partial_rotary_factor ${JSON.stringify(prf)} does not give an even rotary dimension of head_dim ${headDim}`,
      SAVED_HINT,
    );
  const type = String(params.rope_type ?? params.type ?? 'default');
  if (type === 'default') return { rope: { theta, scaling: { type: 'default' } }, rotaryDim };
  if (type !== 'longrope' && type !== 'su' && type !== 'yarn')
    throw refuse(file, `${key}.rope_type`, `RoPE type '${type}' is not built for phi3 checkpoints (default and longrope are)`, EXPORT_HINT);
  const factors = (name: string) => {
    const v = params[name];
    if (!Array.isArray(v) || v.length !== rotaryDim / 2 || v.some((x) => typeof x !== 'number' || !(x > 0)))
      throw refuse(
        file,
        `${key}.${name}`,
        `${name} must be ${rotaryDim / 2} positive numbers (the rotary dimension ${rotaryDim} / 2)`,
        SAVED_HINT,
      );
    return v as number[];
  };
  const original = finite(
    params.original_max_position_embeddings ?? c.original_max_position_embeddings ?? 4096,
    'original_max_position_embeddings',
    file,
  );
  const factor =
    params.factor !== undefined && params.factor !== null
      ? finite(params.factor, `${key}.factor`, file)
      : finite(c.max_position_embeddings ?? 4096, 'max_position_embeddings', file) / original;
  const attentionFactor =
    params.attention_factor !== undefined && params.attention_factor !== null
      ? finite(params.attention_factor, `${key}.attention_factor`, file)
      : factor <= 1
        ? 1
        : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  return {
    rope: {
      theta,
      scaling: {
        type: 'longrope',
        shortFactor: factors('short_factor'),
        longFactor: factors('long_factor'),
        originalMaxPositions: original,
        attentionFactor,
      },
    },
    rotaryDim,
  };
}

/** SmolLM3's NoPE layers: no_rope_layers (1: RoPE, 0: none), else every no_rope_layer_interval-th (default 4) (SmolLM3Config). */
function smolNoRope(c: HfConfig, layers: number, file: string): boolean[] {
  if (c.no_rope_layers !== undefined && c.no_rope_layers !== null) {
    const list = c.no_rope_layers;
    if (!Array.isArray(list) || list.length !== layers || list.some((v) => v !== 0 && v !== 1))
      throw refuse(file, 'no_rope_layers', `no_rope_layers must list 0 or 1 for each of the ${layers} layers`, SAVED_HINT);
    return list.map((v) => v === 0);
  }
  const interval = positiveInteger(c, 'no_rope_layer_interval', file, 4);
  return Array.from({ length: layers }, (_, i) => (i + 1) % interval === 0);
}

/** The layer types a config gives in `layer_types` (transformers 4.5x / 5), checked; undefined when it gives none. */
function layerTypes(c: HfConfig, layers: number, file: string): boolean[] | undefined {
  if (!Array.isArray(c.layer_types)) return undefined;
  const types = c.layer_types as unknown[];
  const other = types.find((t) => t !== 'full_attention' && t !== 'sliding_attention');
  if (other !== undefined)
    throw refuse(file, 'layer_types', `Layer type ${JSON.stringify(other)} is not built for checkpoints`, EXPORT_HINT);
  if (types.length !== layers)
    throw refuse(file, 'layer_types', `layer_types lists ${types.length} layers but num_hidden_layers is ${layers}`, SAVED_HINT);
  return types.map((t) => t === 'sliding_attention');
}

/**
 * Which layers attend within a sliding window, and the window, as transformers' configs default them and its masks
 * apply them (masking_utils.sliding_window_overlay: key k is visible to query q when q - k < sliding_window, on top of
 * the causal and padding mask; the positions are the batch's columns, so padding never counts):
 * - Mistral: every layer when `sliding_window` is set (MistralConfig's default 4096; null: none); MistralModel
 *   ignores `layer_types`; Phi-3 likewise, without a default window;
 * - Qwen2, Qwen3: `layer_types`, else the layers from `max_window_layers` (default 28) on, when
 *   `use_sliding_window` (the config's sliding_window is None without it);
 * - Gemma 2: `layer_types`, else every other layer from layer 0; Gemma 3: `layer_types`, else all but every
 *   `sliding_window_pattern`-th (default 6); both default the window to 4096;
 * - OLMo 3: `layer_types`, else all but every fourth; Llama, OLMo 2: none.
 */
function slidingAttention(
  c: HfConfig,
  family: DecoderSpec['family'],
  layers: number,
  file: string,
): { window: number; layers: boolean[] } | undefined {
  const all = (v: boolean) => Array.from({ length: layers }, () => v);
  let sliding: boolean[];
  let window: unknown = c.sliding_window === undefined ? 4096 : c.sliding_window;
  switch (family) {
    case 'llama':
    case 'gemma':
    case 'glm':
    case 'glm4':
    case 'stablelm':
    case 'olmo2':
    case 'granite':
    case 'olmoe':
    case 'qwen3_5_text':
    case 'qwen3_5_moe_text':
    case 'qwen3_next':
    case 'glm4_moe':
    case 'seed_oss':
    case 'ernie4_5':
    case 'apertus':
    case 'qwen3_vl_moe_text':
    case 'hunyuan_v1_dense':
    case 'ernie4_5_moe':
    case 'glm4_moe_lite':
    case 'deepseek_v2':
    case 'deepseek_v3':
    case 'bamba':
    case 'falcon_h1':
    case 'granitemoe':
    case 'granitemoeshared':
    case 'arcee':
    case 'lfm2_moe':
    case 'lfm2':
    case 'olmo_hybrid':
    case 'granitemoehybrid':
      return undefined;
    // MixtralConfig's, Starcoder2Config's and Ministral3Config's sliding_window default to none (MistralConfig's to 4096)
    case 'mixtral':
    case 'starcoder2':
    case 'ministral3':
      if (c.sliding_window === undefined || c.sliding_window === null) return undefined;
      sliding = all(true);
      break;
    case 'mistral':
      if (window === null) return undefined;
      sliding = all(true);
      break;
    // SmolLM3Config: layer_types, else the NoPE layers when use_sliding_window and sliding_window are set
    case 'smollm3': {
      window = c.sliding_window ?? null;
      const binds = c.use_sliding_window === true && window !== null;
      sliding = layerTypes(c, layers, file) ?? smolNoRope(c, layers, file).map((noRope) => noRope && binds);
      break;
    }
    // Phi3Model: every layer when sliding_window is set (Phi3Config's default: none)
    case 'phi3':
      if (c.sliding_window === undefined || c.sliding_window === null) return undefined;
      sliding = all(true);
      break;
    case 'qwen2':
    case 'qwen3':
    case 'qwen2_moe':
    case 'qwen3_moe': {
      if (c.use_sliding_window !== true) window = null;
      const from = typeof c.max_window_layers === 'number' ? c.max_window_layers : 28;
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => window !== null && i >= from);
      break;
    }
    case 'gemma2':
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => i % 2 === 0);
      break;
    // Olmo3Config: layer_types, else every fourth layer full; the window 4096 by default
    case 'olmo3':
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => (i + 1) % 4 !== 0);
      break;
    case 'gemma3_text': {
      const pattern = typeof c.sliding_window_pattern === 'number' ? c.sliding_window_pattern : 6;
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => (i + 1) % pattern !== 0);
      break;
    }
    case 'cohere':
      return undefined;
    // GptOssConfig: layer_types, else every other layer from layer 0; the window 128 by default
    case 'gpt_oss':
      window = c.sliding_window === undefined ? 128 : c.sliding_window;
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => i % 2 === 0);
      break;
    // Cohere2Config and Exaone4Config: layer_types, else all but every sliding_window_pattern-th (default 4); the window
    // 4096 by default (null: no sliding layers)
    case 'cohere2':
    case 'exaone4': {
      const pattern = c.sliding_window_pattern ?? 4;
      if (window === null) return undefined;
      if (
        (c.layer_types === undefined || c.layer_types === null) &&
        !(typeof pattern === 'number' && Number.isSafeInteger(pattern) && pattern > 0)
      )
        throw refuse(
          file,
          'sliding_window_pattern',
          `sliding_window_pattern ${JSON.stringify(pattern)} is not built (a positive integer is)`,
          SAVED_HINT,
        );
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => (i + 1) % (pattern as number) !== 0);
      break;
    }
    // Gemma4TextConfig: layer_types, else all but every sixth; the last layer always full (its __post_init__ forces
    // it); the window 512 by default
    case 'gemma4_text':
      window = c.sliding_window === undefined ? 512 : c.sliding_window;
      sliding = layerTypes(c, layers, file) ?? all(false).map((_, i) => (i + 1) % 6 !== 0);
      sliding[layers - 1] = false;
      break;
  }
  if (!sliding.includes(true)) return undefined;
  if (typeof window !== 'number' || !Number.isSafeInteger(window) || window <= 0) {
    const why = c.use_sliding_window === false && window === null ? ' (use_sliding_window is false)' : '';
    throw refuse(
      file,
      'sliding_window',
      `Some layers are sliding_attention layers but sliding_window is ${JSON.stringify(c.sliding_window)}${why}`,
      SAVED_HINT,
    );
  }
  return { window, layers: sliding };
}

/**
 * Gemma3TextConfig's defaults (transformers 4.5x and 5), for the keys a saved text_config leaves out: the
 * released Gemma 3 4B-27B config.json name only a few (hidden_size, intermediate_size, num_hidden_layers,
 * rope_scaling, sliding_window, and head_dim / heads / query_pre_attn_scalar where they differ).
 */
const GEMMA3_TEXT_DEFAULTS: HfConfig = {
  vocab_size: 262_208,
  hidden_size: 2304,
  intermediate_size: 9216,
  num_hidden_layers: 26,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  head_dim: 256,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  sliding_window: 4096,
  rope_theta: 1_000_000,
  rope_local_base_freq: 10_000,
  hidden_activation: 'gelu_pytorch_tanh',
  tie_word_embeddings: true,
};

/** Reads and checks a checkpoint's config.json, whichever graph builder it needs. */
export function checkpointSpec(config: HfConfig, configFile: string): CheckpointSpec {
  if (config.model_type === 'gpt2') return gpt2Spec(config, configFile);
  if (config.model_type === 'gpt_neox') return gptNeoxSpec(config, configFile);
  if (config.model_type === 'phi') return phiSpec(config, configFile);
  if (config.model_type === 'nemotron_h') return nemotronHSpec(config, configFile);
  return decoderSpec(config, configFile);
}

/**
 * Reads and checks the config.json of a decoder of Llama's kin. A multimodal model (Gemma 3 4B and up) is read as its text decoder:
 * text_config, whose keys errors name as `text_config.<key>`; its vision tower never runs (text prompts).
 */
export function decoderSpec(config: HfConfig, configFile: string): DecoderSpec {
  const multimodal = typeof config.model_type === 'string' ? MULTIMODAL_TEXT[config.model_type] : undefined;
  if (!multimodal) return textDecoderSpec(config, configFile);
  const text = multimodal.qwenVl ? qwenVlText(config) : config.text_config;
  if (!text || typeof text !== 'object' || Array.isArray(text))
    throw refuse(configFile, 'text_config', `A ${config.model_type} config.json needs its text_config`, SAVED_HINT);
  const family = multimodalText(config, text as HfConfig, configFile);
  try {
    const spec = textDecoderSpec({ ...(text as HfConfig), model_type: family }, configFile);
    // Qwen3_5ForConditionalGeneration and Mistral3ForConditionalGeneration tie lm_head as the top-level key says
    const tiesAtTop = multimodal.tiesAtTop;
    return {
      ...spec,
      visionTower: true,
      ...(tiesAtTop === undefined ? {} : { tiedEmbeddings: (config.tie_word_embeddings ?? tiesAtTop) === true }),
      ...(multimodal.tiesEither ? { tiedEmbeddings: config.tie_word_embeddings === true || spec.tiedEmbeddings } : {}),
    };
  } catch (e) {
    if (!(e instanceof SaeDiffError) || !e.location?.key) throw e;
    throw new SaeDiffError(e.message, { location: { ...e.location, key: `text_config.${e.location.key}` }, hint: e.hint });
  }
}

/**
 * The multi-head latent attention sizes of Glm4MoeLiteConfig, DeepseekV2Config and DeepseekV3Config (their defaults
 * where config.json leaves them out).
 */
function latentAttentionOf(c: HfConfig, family: DecoderFamily, file: string): NonNullable<DecoderSpec['mla']> {
  const glm = family === 'glm4_moe_lite';
  const rope = positiveInteger(c, 'qk_rope_head_dim', file, 64);
  if (rope % 2 !== 0) throw refuse(file, 'qk_rope_head_dim', `qk_rope_head_dim ${rope} is not even`, SAVED_HINT);
  return {
    qLoraRank: c.q_lora_rank === null ? undefined : positiveInteger(c, 'q_lora_rank', file, glm ? 768 : 1536),
    kvLoraRank: positiveInteger(c, 'kv_lora_rank', file, 512),
    nope: positiveInteger(c, 'qk_nope_head_dim', file, glm ? 192 : 128),
    rope,
    value: positiveInteger(c, 'v_head_dim', file, glm ? 256 : 128),
  };
}

/**
 * Glm4MoeLiteAttention's scaling (yarn_apply_mscale): (nope + rope)^-0.5, times mscale(factor, mscale_all_dim)² when
 * the RoPE is not the default one and sets mscale_all_dim (mscale = 0.1 · m · ln(factor) + 1 for factor > 1).
 */
function latentAttentionScale(c: HfConfig, mla: NonNullable<DecoderSpec['mla']>, file: string): number {
  let scale = Math.pow(mla.nope + mla.rope, -0.5);
  const params = (c.rope_parameters ?? c.rope_scaling ?? {}) as Record<string, unknown>;
  const type = params.rope_type ?? params.type ?? 'default';
  const all = params.mscale_all_dim;
  if (type !== 'default' && typeof all === 'number' && all !== 0) {
    const factor = finite(params.factor, 'rope_parameters.factor', file);
    const mscale = factor <= 1 ? 1 : 0.1 * all * Math.log(factor) + 1;
    scale *= mscale * mscale;
  }
  return Math.fround(scale);
}

/**
 * HunYuanDenseV1RotaryEmbedding's "dynamic" RoPE with an alpha (DynamicNTKAlphaRotary, as the released configs set
 * it): default RoPE at base rope_theta · alpha^(head_dim / (head_dim - 2)), computed in float64 as Python does. The
 * dynamic update for prompts beyond max_position_embeddings (which switches to dynamic NTK) is not built, nor is
 * "dynamic" without an alpha.
 */
function hunyuanAlphaRope(c: HfConfig, headDim: number, file: string): HfConfig {
  const key = c.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  const params = (c[key] ?? {}) as Record<string, unknown>;
  if ((params.rope_type ?? params.type) !== 'dynamic') return c;
  const alpha = params.alpha;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
    throw refuse(file, `${key}.rope_type`, `RoPE type 'dynamic' without an alpha is not built for hunyuan checkpoints`, EXPORT_HINT);
  const theta = finite(
    params.rope_theta ?? c.rope_theta ?? 10_000,
    key === 'rope_parameters' ? 'rope_parameters.rope_theta' : 'rope_theta',
    file,
  );
  return {
    ...c,
    rope_scaling: undefined,
    rope_parameters: { rope_type: 'default', rope_theta: theta * Math.pow(alpha, headDim / (headDim - 2)) },
  };
}

/**
 * The RoPE a config class sets when config.json gives neither rope_parameters nor rope_scaling (its __post_init__):
 * GptOssConfig's as released (YaRN, factor 32 over 4096 positions, beta_fast 32, beta_slow 1, truncate false; theta
 * 150,000) and ApertusConfig's (llama3, factor 8 over 8192 positions, low 1, high 4; theta 12,000,000); a top-level
 * rope_theta overrides the theta.
 */
const CLASS_ROPE: Partial<Record<DecoderFamily, Record<string, unknown>>> = {
  gpt_oss: {
    rope_type: 'yarn',
    factor: 32,
    beta_fast: 32,
    beta_slow: 1,
    truncate: false,
    original_max_position_embeddings: 4096,
    rope_theta: 150_000,
  },
  apertus: {
    rope_type: 'llama3',
    factor: 8,
    original_max_position_embeddings: 8192,
    low_freq_factor: 1,
    high_freq_factor: 4,
    rope_theta: 12_000_000,
  },
};

function withClassRope(c: HfConfig, family: DecoderFamily): HfConfig {
  const rope = CLASS_ROPE[family];
  if (!rope || c.rope_parameters != null || c.rope_scaling != null) return c;
  return { ...c, rope_parameters: { ...rope, rope_theta: c.rope_theta ?? rope.rope_theta } };
}

function textDecoderSpec(c: HfConfig, configFile: string): DecoderSpec {
  if (c.model_type === 'gemma3_text') c = { ...GEMMA3_TEXT_DEFAULTS, ...c };
  const family = CHECKPOINT_FAMILIES.find((f) => f === c.model_type);
  if (!family) {
    throw refuse(
      configFile,
      'model_type',
      `model_type ${JSON.stringify(c.model_type)} cannot run from safetensors: sae-diff builds ${[...CHECKPOINT_FAMILIES, ...Object.keys(MULTIMODAL_TEXT), 'gpt2', 'gpt_neox', 'phi', 'nemotron_h'].join(', ')} checkpoints`,
      EXPORT_HINT,
    );
  }
  const gptOss = family === 'gpt_oss';
  const glm4Moe = family === 'glm4_moe';
  const glmLite = family === 'glm4_moe_lite';
  const deepseekV2 = family === 'deepseek_v2';
  // multi-head latent attention: GLM-4.7-Flash's, DeepSeek-V2's and V3's (Moonlight, Kimi)
  const mla = glmLite || deepseekV2 || family === 'deepseek_v3' ? latentAttentionOf(c, family, configFile) : undefined;
  const ernie = family === 'ernie4_5' || family === 'ernie4_5_moe';
  // SeedOssConfig: attention_bias (default true) on q, k, v, attention_out_bias (default false) on o_proj, mlp_bias;
  // Ernie4_5Config: use_bias on every projection
  const familyBiases =
    family === 'seed_oss'
      ? { qkv: c.attention_bias !== false, o: c.attention_out_bias === true, mlp: c.mlp_bias === true }
      : ernie
        ? { qkv: c.use_bias === true, o: c.use_bias === true, mlp: c.use_bias === true }
        : mla
          ? // the latent attention's attention_bias: on q_a_proj, kv_a_proj_with_mqa and o_proj; DeepseekV2MLP's mlp_bias
            { qkv: c.attention_bias === true, o: c.attention_bias === true, mlp: deepseekV2 && c.mlp_bias === true }
          : undefined;
  // GPT-OSS is released with its experts in MXFP4 (mxfp4.ts reads them)
  refuseQuantised(c, configFile, gptOss ? 'mxfp4' : undefined);
  if (gptOss) refuseOtherSwigluLimit(c, configFile);
  c = withClassRope(c, family);
  const apertus = family === 'apertus';
  // ArceeConfig: Llama's, its MLP ungated with relu² (hidden_act "relu2")
  const arcee = family === 'arcee';
  const hunyuan = family === 'hunyuan_v1_dense';
  const gemma = family === 'gemma' || family === 'gemma2' || family === 'gemma3_text';
  const gemma1 = family === 'gemma';
  const gemma3 = family === 'gemma3_text';
  const starcoder2 = family === 'starcoder2';
  const glm = family === 'glm' || family === 'glm4';
  const stablelm = family === 'stablelm';
  // Qwen 3.5 and Qwen3-Next (Qwen 3.5's lineage: the same layers, the Gated DeltaNet's projections fused)
  const qwen35 = family === 'qwen3_5_text' || family === 'qwen3_5_moe_text' || family === 'qwen3_next';
  const gemma4 = family === 'gemma4_text';
  if (gemma4) refuseUnbuiltGemma4(c, configFile);
  // LFM2-MoE: LFM2's layers with experts after its first num_dense_layers
  const lfm2 = family === 'lfm2' || family === 'lfm2_moe';
  const exaone4 = family === 'exaone4';
  const cohere = family === 'cohere' || family === 'cohere2';
  const olmoHybrid = family === 'olmo_hybrid';
  const granite4 = family === 'granitemoehybrid';
  // Bamba: Granite 4.0-H's Mamba2 layers beside attention with partial RoPE, without Granite's multipliers
  const bamba = family === 'bamba';
  // Falcon-H1: a Mamba2 mixer and attention side by side in every layer, with muP multipliers
  const falconH1 = family === 'falcon_h1';
  // OlmoHybridModel runs no RoPE when its rope_parameters has no rope_theta (the released checkpoints): NoPE
  const nope =
    (granite4 && c.position_embedding_type !== 'rope') ||
    (olmoHybrid && (c.rope_parameters as Record<string, unknown> | null | undefined)?.rope_theta == null && c.rope_theta == null);
  const lfmLayers = lfm2
    ? lfm2Layers(c, positiveInteger(c, 'num_hidden_layers', configFile), configFile, family === 'lfm2_moe')
    : undefined;
  // StableLM 2 12B's per-head q / k LayerNorms and parallel blocks are not built
  for (const key of ['qk_layernorm', 'use_parallel_residual'])
    if (stablelm && c[key] === true) throw refuse(configFile, key, `${key} true is not built for stablelm checkpoints`, EXPORT_HINT);
  if (c.use_bidirectional_attention === true)
    throw refuse(configFile, 'use_bidirectional_attention', 'Bidirectional attention (an embedding model) is not built', EXPORT_HINT);
  // Gemma2MLP reads hidden_activation; the others hidden_act
  const actKey = (gemma || gemma4) && c.hidden_activation !== undefined ? 'hidden_activation' : 'hidden_act';
  // GemmaConfig reads the released configs' hidden_act "gelu" as the tanh approximation (transformers 5's
  // __post_init__; transformers 4's GemmaMLP used hidden_activation, else the tanh approximation)
  const geluTanh = gemma || gemma4 || starcoder2;
  const written = c[actKey] ?? (geluTanh ? 'gelu_pytorch_tanh' : 'silu');
  const act = gemma1 && actKey === 'hidden_act' && written === 'gelu' ? 'gelu_pytorch_tanh' : written;
  const built = apertus ? 'xielu' : arcee ? 'relu2' : geluTanh ? 'gelu_pytorch_tanh' : 'silu';
  if (act !== built)
    throw refuse(configFile, actKey, `${actKey} ${JSON.stringify(act)} is not built for ${family} checkpoints (${built} is)`, EXPORT_HINT);
  const hidden = positiveInteger(c, 'hidden_size', configFile);
  const layers = positiveInteger(c, 'num_hidden_layers', configFile);
  const heads = positiveInteger(c, 'num_attention_heads', configFile);
  // BambaConfig and FalconH1Config default num_key_value_heads to 8, the others to the query heads
  const kvHeads = positiveInteger(c, 'num_key_value_heads', configFile, bamba || falconH1 ? 8 : heads);
  if (heads % kvHeads !== 0)
    throw refuse(
      configFile,
      'num_key_value_heads',
      `num_attention_heads (${heads}) is not a multiple of num_key_value_heads (${kvHeads})`,
      SAVED_HINT,
    );
  // Gemma2Config's defaults: head_dim 256, query_pre_attn_scalar 256, attn_logit_softcapping 50 (null: none)
  const headDim = mla
    ? // multi-head latent attention: RoPE rotates each head's qk_rope_head_dim dims
      mla.rope
    : // Gemma2Config's head_dim defaults to 256, GlmConfig's, Glm4Config's, SeedOssConfig's and Ernie4_5Config's to 128
      c.head_dim === undefined || c.head_dim === null
      ? gemma || gemma4 || qwen35
        ? 256
        : glm || ernie || family === 'seed_oss'
          ? 128
          : hidden / heads
      : positiveInteger(c, 'head_dim', configFile);
  if (!Number.isSafeInteger(headDim) || headDim % 2 !== 0)
    throw refuse(configFile, 'head_dim', `The head dimension ${headDim} is not an even integer`, SAVED_HINT);
  const phi3 = family === 'phi3';
  const phi3Rotary = phi3 ? phi3Rope(c, configFile, headDim) : undefined;
  // GlmConfig's partial_rotary_factor defaults to 0.5, StableLmConfig's and Qwen3_5TextConfig's to 0.25 (top level in
  // transformers 4, in rope_parameters in 5). Qwen 3.5's multimodal RoPE (mrope_section) gives a text prompt's
  // positions to all three of its axes, so it rotates as plain RoPE does
  const partialRotary =
    glm || stablelm || qwen35 || glm4Moe || bamba
      ? partialRope(c, configFile, headDim, {
          theta: 'rope_theta',
          fraction: 'partial_rotary_factor',
          fractionDefault: glm || glm4Moe || bamba ? 0.5 : 0.25,
          family,
        })
      : undefined;
  // BambaConfig sets partial_rotary_factor 0.5 whatever config.json says
  if (bamba && partialRotary!.rotaryDim !== Math.trunc(headDim / 2))
    throw refuse(
      configFile,
      'partial_rotary_factor',
      'A bamba model rotates half of each head (BambaConfig fixes partial_rotary_factor at 0.5)',
      EXPORT_HINT,
    );
  const olmo = family === 'olmo2' || family === 'olmo3';
  // GraniteConfig's multipliers (default 1): Python floats that multiply float32 tensors, so float32 in effect
  // Granite 4 (granitemoehybrid) has Granite 3's multipliers
  // Granite 3's MoEs (granitemoe; granitemoeshared with a shared_mlp) have its multipliers too
  const graniteMoe = family === 'granitemoe' || family === 'granitemoeshared';
  const granite = family === 'granite' || granite4 || graniteMoe;
  const multiplier = (key: string) => Math.fround(finite(c[key] ?? 1, key, configFile));
  // the config classes' rope_theta defaults: Gemma3TextConfig and MixtralConfig 1e6, Olmo3Config 5e5, the others 1e4
  const defaultTheta =
    gemma3 || lfm2 || family === 'mixtral'
      ? 1_000_000
      : family === 'olmo3' || family === 'cohere' || ernie
        ? 500_000
        : gptOss
          ? 150_000
          : 10_000;
  const perLayerType = gemma3 ? 'gemma3' : family === 'olmo3' ? 'olmo3' : undefined;
  const sliding = slidingAttention(c, family, layers, configFile);
  // Gemma 4: each layer type's own shape and RoPE; the spec's own table is the sliding layers'
  const layerAttention = gemma4
    ? gemma4Attention(c, configFile, sliding?.layers ?? Array.from({ length: layers }, () => false), heads, headDim, kvHeads)
    : undefined;
  // GLM's and StableLM's partial RoPE is read as GPT-NeoX's and Phi's are (configKeys.ts partialRope)
  const rope: { full: Rope; sliding?: Rope } = phi3Rotary
    ? { full: phi3Rotary.rope, sliding: undefined }
    : partialRotary
      ? { full: { theta: partialRotary.theta, scaling: partialRotary.scaling } }
      : layerAttention
        ? // Gemma 4 rotates by its layer types' own tables (layerAttention); this one is never computed
          { full: { theta: NaN, scaling: { type: 'default' } } }
        : ropeOf(hunyuan ? hunyuanAlphaRope(c, headDim, configFile) : c, configFile, perLayerType, defaultTheta);
  const rotaryDim = phi3Rotary?.rotaryDim ?? partialRotary?.rotaryDim ?? headDim;
  const longrope = rope.full.scaling.type === 'longrope' ? rope.full.scaling : undefined;
  const yarnScale = rope.full.scaling.type === 'yarn' ? rope.full.scaling.attentionFactor : undefined;
  // Phi3Config's and the OLMo configs' default rms_norm_eps is 1e-5; Starcoder2Config's LayerNorm eps, norm_epsilon, too
  const eps = starcoder2
    ? finite(c.norm_epsilon ?? 1e-5, 'norm_epsilon', configFile)
    : stablelm || cohere
      ? finite(c.layer_norm_eps ?? 1e-5, 'layer_norm_eps', configFile)
      : lfm2
        ? finite(c.norm_eps ?? 1e-5, 'norm_eps', configFile)
        : finite(
            c.rms_norm_eps ??
              (phi3 ||
              olmo ||
              family === 'olmoe' ||
              family === 'mixtral' ||
              gptOss ||
              glm4Moe ||
              glmLite ||
              apertus ||
              hunyuan ||
              bamba ||
              falconH1 ||
              arcee
                ? 1e-5
                : glm
                  ? 1.5625e-7
                  : 1e-6),
            'rms_norm_eps',
            configFile,
          );
  // Starcoder2Config's use_bias (default true) puts biases on every projection
  const starcoderBias = starcoder2 && c.use_bias !== false;
  if (family === 'olmoe' && c.clip_qkv !== undefined && c.clip_qkv !== null)
    throw refuse(configFile, 'clip_qkv', `clip_qkv ${JSON.stringify(c.clip_qkv)} (clamping q, k and v) is not built`, EXPORT_HINT);
  return {
    family,
    hidden,
    layers,
    heads,
    kvHeads,
    headDim,
    // Qwen3_5MoeTextConfig has no intermediate_size: every layer is sparse, so no dense MLP reads it
    // Granite 4's MLP is its shared_mlp, of shared_intermediate_size (default 1024; GraniteMoeSharedConfig's 0: none);
    // GraniteMoeConfig has none (its intermediate_size is the experts')
    intermediate:
      lfmLayers?.intermediate ??
      (granite4
        ? positiveInteger(c, 'shared_intermediate_size', configFile, 1024)
        : family === 'granitemoeshared'
          ? c.shared_intermediate_size === 0 || c.shared_intermediate_size === undefined
            ? 0
            : positiveInteger(c, 'shared_intermediate_size', configFile)
          : family === 'qwen3_5_moe_text' || family === 'granitemoe'
            ? 0
            : positiveInteger(c, 'intermediate_size', configFile)),
    rmsNormEps: eps,
    invFreq: layerAttention?.sliding.invFreq ?? ropeInverseFrequencies(rotaryDim, rope.full.theta, rope.full.scaling),
    rotaryDim,
    longInvFreq: longrope && ropeInverseFrequencies(rotaryDim, rope.full.theta, longrope, true),
    longropeFrom: longrope?.originalMaxPositions,
    ropeAttentionFactor: longrope ? Math.fround(longrope.attentionFactor) : yarnScale !== undefined ? Math.fround(yarnScale) : undefined,
    fusedProjections: phi3,
    // GLM's and Cohere's rotate_half pairs each even dim with the odd one after it
    // ERNIE 4.5's too, on the whole head (its rotary embedding is GLM's); GLM-4.7-Flash's and DeepSeek-V3's where
    // rope_interleave (default true: apply_rotary_pos_emb_interleave's output, its pairs' halves apart, gives q and k
    // alike the same order, so their products are these); DeepSeek-V2's always (apply_rotary_emb: complex products
    // of each even / odd pair)
    rotaryInterleaved: glm || cohere || ernie || deepseekV2 || (mla !== undefined && c.rope_interleave !== false) || undefined,
    branchNorms: family === 'glm4' || undefined,
    // EXAONE 4's full layers rotate nothing when the model has sliding ones (its global NoPE)
    noRopeLayers:
      family === 'smollm3'
        ? smolNoRope(c, layers, configFile)
        : nope
          ? Array.from({ length: layers }, () => true)
          : (exaone4 || family === 'cohere2') && sliding
            ? sliding.layers.map((s) => !s)
            : undefined,
    slidingInvFreq: rope.sliding && ropeInverseFrequencies(headDim, rope.sliding.theta, rope.sliding.scaling),
    slidingWindow: sliding?.window,
    slidingLayers: sliding?.layers,
    // Phi3Attention and Phi3MLP have no biases, whatever attention_bias says
    // Qwen2MoeAttention: q, k, v biases as qkv_bias says (default true)
    qkvBias:
      familyBiases?.qkv ??
      (starcoderBias ||
        // GlmConfig's and Glm4Config's attention_bias default to true (q, k, v only: their o_proj has none)
        (glm && c.attention_bias !== false) ||
        (stablelm && c.use_qkv_bias === true) ||
        // GptOssConfig's attention_bias defaults to true (q, k, v and o)
        (gptOss && c.attention_bias !== false) ||
        family === 'qwen2' ||
        (family === 'qwen2_moe' && c.qkv_bias !== false) ||
        (family !== 'qwen2_moe' && !phi3 && !starcoder2 && !glm && !stablelm && c.attention_bias === true)),
    // Glm4MoeAttention: q, k, v biases as attention_bias says; its o_proj has none
    oBias:
      familyBiases?.o ??
      (!glm4Moe &&
        (starcoderBias ||
          (gptOss && c.attention_bias !== false) ||
          (family !== 'qwen2' && family !== 'qwen2_moe' && !phi3 && !starcoder2 && !glm && !stablelm && c.attention_bias === true))),
    mlpBias: familyBiases?.mlp ?? (starcoderBias || (!phi3 && !starcoder2 && !stablelm && c.mlp_bias === true)),
    layerNorms: starcoder2 || stablelm || cohere || undefined,
    layerNormBias: cohere ? false : undefined,
    parallelBlock: cohere || undefined,
    ungatedMlp: starcoder2 || undefined,
    qkNorm:
      family === 'qwen3' ||
      family === 'qwen3_moe' ||
      family === 'qwen3_vl_moe_text' ||
      gemma3 ||
      gemma4 ||
      qwen35 ||
      lfm2 ||
      exaone4 ||
      apertus ||
      hunyuan
        ? 'head'
        : olmo || olmoHybrid || family === 'olmoe'
          ? 'projection'
          : cohere && c.use_qk_norm === true
            ? 'head_layernorm'
            : glm4Moe && c.use_qk_norm === true
              ? 'head'
              : undefined,
    // EXAONE 4 normalises after each branch as OLMo 2 does (with Llama's RMSNorm)
    postNorms: olmo || exaone4 || undefined,
    // Gemma4RMSNorm and GptOssRMSNorm multiply by their weight in float32, as OLMo 2's does
    normWeightInFloat32: olmo || olmoHybrid || gemma4 || gptOss || undefined,
    // Gemma and StarCoder2 tie their embeddings unless the config says otherwise (their config classes' default)
    // Lfm2Config reads tie_embedding over tie_word_embeddings (default true)
    tiedEmbeddings: lfm2
      ? (c.tie_embedding ?? c.tie_word_embeddings ?? true) === true
      : c.tie_word_embeddings === true || ((gemma || gemma4 || starcoder2 || cohere) && c.tie_word_embeddings === undefined),
    // Qwen3_5RMSNorm is zero-centred as Gemma's: (1 + weight), in float32
    gemmaNorms: gemma || qwen35,
    sandwichNorms: (gemma && !gemma1) || gemma4 || undefined,
    embedScale: gemma || gemma4 ? Math.fround(Math.sqrt(hidden)) : granite || falconH1 ? multiplier('embedding_multiplier') : undefined,
    // Gemma4TextAttention's scaling is 1 (its q_norm and k_norm set the scale)
    attentionScale: gemma4
      ? 1
      : mla
        ? latentAttentionScale(c, mla, configFile)
        : granite
          ? multiplier('attention_multiplier')
          : Math.fround(
              Math.pow(gemma && !gemma1 ? finite(c.query_pre_attn_scalar ?? 256, 'query_pre_attn_scalar', configFile) : headDim, -0.5),
            ),
    residualScale: granite ? multiplier('residual_multiplier') : undefined,
    // Gemma2Config defaults the soft-cap to 50, Gemma3TextConfig to none
    softcap:
      !gemma || gemma1 || c.attn_logit_softcapping === null || (gemma3 && c.attn_logit_softcapping === undefined)
        ? undefined
        : finite(c.attn_logit_softcapping ?? 50, 'attn_logit_softcapping', configFile),
    mlpActivation: apertus ? 'xielu' : arcee ? 'relu2' : geluTanh ? 'gelu_tanh' : 'silu',
    moe: moeSpecOf(c, family, layers, configFile),
    attentionOutputGate: qwen35 || undefined,
    attentionSinks: gptOss || undefined,
    mla,
    // DeepseekV3Config's num_mtp_layers is saved as num_nextn_predict_layers (attribute_map); DeepSeek-V2 has none
    mtpLayers:
      (glm4Moe || mla) && !deepseekV2
        ? c.num_nextn_predict_layers === 0
          ? undefined
          : positiveInteger(c, 'num_nextn_predict_layers', configFile, 1)
        : undefined,
    linearAttention:
      qwen35 || olmoHybrid
        ? linearAttentionOf(c, layers, configFile, olmoHybrid ? 'olmo_hybrid' : family === 'qwen3_next' ? 'qwen3_next' : 'qwen3_5', eps)
        : undefined,
    postNormLayers: olmoHybrid ? linearAttentionOf(c, layers, configFile, 'olmo_hybrid').layers.map((linear) => !linear) : undefined,
    queryPositionScale: family === 'ministral3' ? queryPositionScale(c, configFile) : undefined,
    layerAttention,
    valueNorm: gemma4 || undefined,
    layerScalar: gemma4 || undefined,
    shortConv: lfmLayers?.shortConv,
    names: lfm2
      ? LFM2_NAMES
      : olmoHybrid
        ? OLMO_HYBRID_NAMES
        : granite4 || graniteMoe
          ? GRANITE4_NAMES
          : apertus
            ? APERTUS_NAMES
            : hunyuan
              ? HUNYUAN_NAMES
              : bamba || falconH1
                ? BAMBA_NAMES
                : undefined,
    qkNormAfterRope: hunyuan || undefined,
    mamba:
      granite4 || bamba
        ? mambaOf(c, layers, hidden, configFile, bamba)
        : falconH1
          ? falconH1MambaOf(c, layers, hidden, configFile)
          : undefined,
    falconH1: falconH1 ? falconH1Multipliers(c, configFile) : undefined,
    fusedGateUp: glm || granite4 || graniteMoe || undefined,
    gemma4Layers: layerAttention && gemma4Layers(c, configFile, sliding?.layers ?? Array.from({ length: layers }, () => false)),
  };
}
