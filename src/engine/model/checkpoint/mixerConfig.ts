/**
 * The token mixers besides attention that checkpoints of hybrid models hold, as their config classes read them
 * (transformers 5.18): Qwen 3.5's and OLMo Hybrid's Gated DeltaNet (linearAttention.ts), LFM2's short convolution
 * (shortConv.ts) and Granite 4.0-H's Mamba2 (mamba2.ts; Nemotron-H's in nemotronHConfig.ts): which layers have them,
 * and their sizes.
 */
import { positiveInteger, positiveNumber, refuse, SAVED_HINT } from './configKeys';

type HfConfig = Record<string, unknown>;

/**
 * Qwen 3.5's Gated DeltaNet layers (modeling_qwen3_5.py Qwen3_5GatedDeltaNet, transformers 5.18): linear attention
 * whose state [key_head_dim, value_head_dim] per value head decays and is corrected token by token
 * (linearAttention.ts).
 */
export interface LinearAttentionSpec {
  /** Per layer: a linear_attention layer (else full_attention). */
  layers: boolean[];
  keyHeads: number;
  valueHeads: number;
  keyHeadDim: number;
  valueHeadDim: number;
  /** The causal depthwise convolution's kernel over q, k and v (linear_conv_kernel_dim). */
  convKernel: number;
  /**
   * Qwen 3.5's module names (in_proj_qkv fused, in_proj_z / _a / _b, out_proj, norm) or OLMo Hybrid's (q_proj, k_proj,
   * v_proj, g_proj, a_proj, b_proj, o_proj, o_norm).
   */
  /** Qwen 3.5's projections, OLMo Hybrid's, or Qwen3-Next's (q, k, v, z and b, a fused per key head). */
  layout: 'qwen3_5' | 'olmo_hybrid' | 'qwen3_next';
  /** β's factor: 2 where OLMo Hybrid's linear_allow_neg_eigval lets it reach [0, 2], else 1. */
  betaScale: number;
  /** The gated output norm's epsilon: rms_norm_eps (Qwen 3.5), 1e-5 (OLMo Hybrid's, as FLA's FusedRMSNormGated). */
  gateNormEps: number;
}

/** The Mamba2 mixer's settings (mamba2.ts), as Granite 4.0-H's and Nemotron-H's configs give them. */
export interface MambaSpec {
  /** Per layer: a Mamba2 layer (layer_types "mamba" / "linear_attention"), else attention (Falcon-H1: none, its mixer beside it). */
  layers: boolean[];
  heads: number;
  headDim: number;
  groups: number;
  stateSize: number;
  convKernel: number;
  convBias: boolean;
  /** mamba_proj_bias: biases on in_proj and out_proj. */
  projBias: boolean;
  /** time_step_limit: dt is clamped to it. */
  dtLimit: [number, number];
  /** The gated norm's groups: 1 (Granite 4's over the whole inner width) or n_groups (Nemotron-H's, per group). */
  normGroups: number;
  /**
   * How the output meets its gate: RMS-normalised after y · SiLU(gate) (Granite 4's, Nemotron-H's, Falcon-H1's with
   * mamba_norm_before_gate false), normalised before it (Falcon-H1's default), or y · SiLU(gate) alone (Falcon-H1
   * without mamba_rms_norm, as released). Granite 4's weight multiplies in the activations' type, Falcon-H1's in
   * float32 (FalconH1RMSNormGated).
   */
  gatedNorm?: 'gate_first' | 'norm_first' | 'none';
  /** Falcon-H1's muP: the input times ssm_in_multiplier, in_proj's z, x, B, C and dt parts times ssm_multipliers. */
  falcon?: { inputScale: number; projectionScales: number[] };
  /** Falcon-H1: out_proj's bias is projectors_bias (in_proj's mamba_proj_bias). */
  outBias?: boolean;
}

/**
 * GraniteMoeHybridConfig's Mamba2 layers (configuration_granitemoehybrid.py): layer_types in the current names
 * ("linear_attention", "full_attention") or the released configs' legacy ones ("mamba", "attention"; default all
 * Mamba), or BambaConfig's attn_layer_indices; the mixer mamba_expand (2) · hidden_size wide (mambaMixer).
 */
export function mambaOf(c: HfConfig, layers: number, hidden: number, file: string, bamba = false): MambaSpec {
  const types = bamba ? bambaLayerTypes(c, layers, file) : (c.layer_types ?? Array.from({ length: layers }, () => 'mamba'));
  const remap: Record<string, string> = { mamba: 'linear_attention', attention: 'full_attention' };
  if (
    !Array.isArray(types) ||
    types.length !== layers ||
    types.some((t) => !['linear_attention', 'full_attention', 'mamba', 'attention'].includes(t))
  )
    throw refuse(file, 'layer_types', `layer_types must name "mamba" or "attention" for each of the ${layers} layers`, SAVED_HINT);
  const expand = positiveInteger(c, 'mamba_expand', file, 2);
  return {
    layers: (types as string[]).map((t) => (remap[t] ?? t) === 'linear_attention'),
    ...mambaMixer(c, file, expand * hidden),
    normGroups: 1,
  };
}

/**
 * The Mamba2 mixer's keys GraniteMoeHybridConfig, BambaConfig and FalconH1Config share: its `inner` width in
 * mamba_n_heads (128) heads of mamba_d_head ("auto": inner / heads), mamba_n_groups (1), mamba_d_state (256),
 * mamba_d_conv (4), mamba_conv_bias (true), mamba_proj_bias (false), time_step_limit (0, inf).
 */
function mambaMixer(c: HfConfig, file: string, inner: number): Omit<MambaSpec, 'layers' | 'normGroups'> {
  const heads = positiveInteger(c, 'mamba_n_heads', file, 128);
  const headDim = c.mamba_d_head === undefined || c.mamba_d_head === 'auto' ? inner / heads : positiveInteger(c, 'mamba_d_head', file);
  if (!Number.isSafeInteger(headDim) || headDim * heads !== inner)
    throw refuse(file, 'mamba_d_head', `mamba_d_head × mamba_n_heads must be the mixer's width (${inner})`, SAVED_HINT);
  const groups = positiveInteger(c, 'mamba_n_groups', file, 1);
  if (heads % groups !== 0)
    throw refuse(file, 'mamba_n_groups', `mamba_n_groups (${groups}) does not divide mamba_n_heads (${heads})`, SAVED_HINT);
  const limit = c.time_step_limit ?? [0, Infinity];
  if (!Array.isArray(limit) || limit.length !== 2 || limit.some((v) => typeof v !== 'number' || Number.isNaN(v)))
    throw refuse(file, 'time_step_limit', 'time_step_limit must be two numbers', SAVED_HINT);
  return {
    heads,
    headDim,
    groups,
    stateSize: positiveInteger(c, 'mamba_d_state', file, 256),
    convKernel: positiveInteger(c, 'mamba_d_conv', file, 4),
    convBias: c.mamba_conv_bias !== false,
    projBias: c.mamba_proj_bias === true,
    dtLimit: [limit[0] as number, limit[1] as number],
  };
}

/**
 * FalconH1Config's Mamba2 mixer, one in every layer beside its attention (configuration_falcon_h1.py,
 * modeling_falcon_h1.py FalconH1Mixer): its inner width mamba_d_ssm (else mamba_expand · hidden_size), the gated
 * RMSNorm per group where mamba_rms_norm, projectors_bias on out_proj, and the muP multipliers.
 */
export function falconH1MambaOf(c: HfConfig, layers: number, hidden: number, file: string): MambaSpec {
  const inner =
    c.mamba_d_ssm === null ? positiveInteger(c, 'mamba_expand', file, 2) * hidden : positiveInteger(c, 'mamba_d_ssm', file, 1024);
  const mixer = mambaMixer(c, file, inner);
  const scales = c.ssm_multipliers ?? [1, 1, 1, 1, 1];
  if (!Array.isArray(scales) || scales.length !== 5 || scales.some((v) => typeof v !== 'number' || !Number.isFinite(v)))
    throw refuse(file, 'ssm_multipliers', 'ssm_multipliers must be five numbers (z, x, B, C, dt)', SAVED_HINT);
  const inputScale = c.ssm_in_multiplier ?? 1;
  if (typeof inputScale !== 'number' || !Number.isFinite(inputScale))
    throw refuse(file, 'ssm_in_multiplier', `ssm_in_multiplier is ${JSON.stringify(inputScale)}, not a number`, SAVED_HINT);
  return {
    // no layer's mixer stands in for its attention: it runs beside it (decoderGraph.ts falconMixers)
    layers: Array.from({ length: layers }, () => false),
    ...mixer,
    outBias: c.projectors_bias === true,
    normGroups: mixer.groups,
    gatedNorm: c.mamba_rms_norm !== true ? 'none' : c.mamba_norm_before_gate === false ? 'gate_first' : 'norm_first',
    falcon: { inputScale: Math.fround(inputScale), projectionScales: (scales as number[]).map((v) => Math.fround(v)) },
  };
}

/** BambaConfig's layers_block_type: attention at attn_layer_indices, Mamba2 elsewhere (all of them without it). */
function bambaLayerTypes(c: HfConfig, layers: number, file: string): string[] {
  const indices = c.attn_layer_indices ?? [];
  if (!Array.isArray(indices) || indices.some((i) => !Number.isSafeInteger(i) || i < 0 || i >= layers))
    throw refuse(file, 'attn_layer_indices', `attn_layer_indices must list layer indices below ${layers}`, SAVED_HINT);
  return Array.from({ length: layers }, (_, l) => (indices.includes(l) ? 'attention' : 'mamba'));
}

/** LFM2's short-convolution layers (shortConv.ts). */
export interface ShortConvSpec {
  /** Per layer: a conv layer (else full_attention). */
  layers: boolean[];
  kernel: number;
  /** conv_bias: biases on in_proj, the convolution and out_proj. */
  bias: boolean;
}

/**
 * Lfm2Config's layers and MLP width (configuration_lfm2.py, modeling_lfm2.py Lfm2MLP): layer_types ("conv" /
 * "full_attention"), else full_attn_idxs (default: every layer attends); intermediate_size (or block_ff_dim), when
 * block_auto_adjust_ff_dim (default true) int(2 · it / 3), then, where block_ffn_dim_multiplier is set (default 1),
 * int(multiplier · it) rounded up to block_multiple_of (default 256).
 */
export function lfm2Layers(c: HfConfig, layers: number, file: string, moe = false): { shortConv: ShortConvSpec; intermediate: number } {
  let conv: boolean[];
  if (c.layer_types !== undefined && c.layer_types !== null) {
    const types = c.layer_types;
    if (!Array.isArray(types) || types.length !== layers || types.some((t) => t !== 'conv' && t !== 'full_attention'))
      throw refuse(file, 'layer_types', `layer_types must name "conv" or "full_attention" for each of the ${layers} layers`, SAVED_HINT);
    conv = types.map((t) => t === 'conv');
  } else {
    const full = c.full_attn_idxs ?? Array.from({ length: layers }, (_, i) => i);
    if (!Array.isArray(full) || full.some((i) => !Number.isInteger(i)))
      throw refuse(file, 'full_attn_idxs', 'full_attn_idxs must list layer indices', SAVED_HINT);
    conv = Array.from({ length: layers }, (_, i) => !(full as number[]).includes(i));
  }
  const key = c.block_ff_dim !== undefined ? 'block_ff_dim' : 'intermediate_size';
  let intermediate = positiveInteger(c, key, file, moe ? 7168 : 12_288);
  // Lfm2MoeMLP (its dense layers) takes intermediate_size as it is
  if (!moe && c.block_auto_adjust_ff_dim !== false) {
    intermediate = Math.trunc((2 * intermediate) / 3);
    const multiplier = c.block_ffn_dim_multiplier === undefined ? 1 : c.block_ffn_dim_multiplier;
    if (multiplier !== null) {
      const of = positiveInteger(c, 'block_multiple_of', file, 256);
      intermediate = Math.trunc(positiveNumber(c, 'block_ffn_dim_multiplier', 1, file) * intermediate);
      intermediate = of * Math.ceil(intermediate / of);
    }
  }
  return {
    shortConv: { layers: conv, kernel: positiveInteger(c, 'conv_L_cache', file, 3), bias: c.conv_bias === true },
    intermediate,
  };
}

/**
 * Qwen3_5TextConfig's linear-attention layers: `layer_types` ("linear_attention" / "full_attention"), else all but every
 * `full_attention_interval`-th (default 4); the sizes default as the config class defaults them (16 key heads and 32
 * value heads of 128 dims, kernel 4). OlmoHybridConfig's instead (configuration_olmo_hybrid.py): layer_types, else every fourth layer full (at least
 * one); the linear heads default to num_attention_heads, the key size to int(0.75 · hidden_size / key heads) and the
 * value size to twice that; linear_allow_neg_eigval defaults to true.
 */
export function linearAttentionOf(
  c: HfConfig,
  layers: number,
  file: string,
  layout: LinearAttentionSpec['layout'] = 'qwen3_5',
  eps = 1e-6,
): LinearAttentionSpec {
  const olmo = layout === 'olmo_hybrid';
  let linear: boolean[];
  if (c.layer_types !== undefined && c.layer_types !== null) {
    const types = c.layer_types;
    if (!Array.isArray(types) || types.length !== layers || types.some((t) => t !== 'linear_attention' && t !== 'full_attention'))
      throw refuse(
        file,
        'layer_types',
        `layer_types must name "linear_attention" or "full_attention" for each of the ${layers} layers`,
        SAVED_HINT,
      );
    linear = types.map((t) => t === 'linear_attention');
  } else if (olmo) {
    linear = Array.from({ length: layers }, (_, i) => i % 4 !== 3);
    if (!linear.includes(false)) linear[layers - 1] = false;
  } else {
    const interval = positiveInteger(c, 'full_attention_interval', file, 4);
    linear = Array.from({ length: layers }, (_, i) => (i + 1) % interval !== 0);
  }
  const heads = olmo ? positiveInteger(c, 'num_attention_heads', file) : undefined;
  const keyHeads = positiveInteger(c, 'linear_num_key_heads', file, heads ?? 16);
  const valueHeads = positiveInteger(c, 'linear_num_value_heads', file, heads ?? 32);
  const keyHeadDim = positiveInteger(
    c,
    'linear_key_head_dim',
    file,
    olmo ? Math.trunc((0.75 * positiveInteger(c, 'hidden_size', file)) / keyHeads) : 128,
  );
  // Qwen3_5GatedDeltaNet repeats each key head for num_v_heads // num_k_heads value heads
  if (valueHeads % keyHeads !== 0)
    throw refuse(
      file,
      'linear_num_value_heads',
      `linear_num_value_heads (${valueHeads}) is not a multiple of linear_num_key_heads (${keyHeads})`,
      SAVED_HINT,
    );
  return {
    layers: linear,
    keyHeads,
    valueHeads,
    keyHeadDim,
    valueHeadDim: positiveInteger(c, 'linear_value_head_dim', file, olmo ? 2 * keyHeadDim : 128),
    convKernel: positiveInteger(c, 'linear_conv_kernel_dim', file, 4),
    layout,
    betaScale: olmo && c.linear_allow_neg_eigval !== false ? 2 : 1,
    gateNormEps: olmo ? 1e-5 : eps,
  };
}
