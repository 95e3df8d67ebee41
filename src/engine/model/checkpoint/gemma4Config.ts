/**
 * What a Gemma 4 text config (Gemma4TextConfig, configuration_gemma4.py, transformers 5.18) says beyond Gemma 3's, as
 * modeling_gemma4.py runs it: each layer type's own attention shape and RoPE, and the parts sae-diff does not build.
 * - Full-attention layers take `global_head_dim` (default 512) and, where `attention_k_eq_v`, `num_global_key_value_heads`
 *   key/value heads; a saved config lists the same as `per_layer_config` (layer index -> head_dim, num_key_value_heads).
 * - E2B and E4B's per-layer inputs, shared keys and values, and double-wide MLPs (Gemma4Layers).
 * - RoPE per layer type from `rope_parameters` (the class default: sliding layers default RoPE at 10,000, full layers
 *   "proportional" at 1,000,000 with partial_rotary_factor 0.25): proportional RoPE rotates every pair of a head with
 *   rotate_half, its first int(factor · head_dim // 2) angles at 1 / theta^(2i / head_dim) and the rest at 0
 *   (modeling_rope_utils.py `_compute_proportional_rope_parameters`).
 */
import { EXPORT_HINT, positiveInteger, refuse, SAVED_HINT } from './configKeys';
import { ropeInverseFrequencies } from './ropeFrequencies';

type HfConfig = Record<string, unknown>;

/** One layer type's attention: its head size, key/value heads and RoPE inverse frequencies [head_dim / 2]. */
export interface LayerTypeAttention {
  headDim: number;
  kvHeads: number;
  invFreq: Float32Array;
}

export interface Gemma4Attention {
  sliding: LayerTypeAttention;
  full: LayerTypeAttention;
  /** attention_k_eq_v: the full layers have no v_proj; their values are the key projection (before k_norm and RoPE). */
  keysAsValues: boolean;
}

/** Refuses the Gemma 4 parts sae-diff does not build: bidirectional attention. */
export function refuseUnbuiltGemma4(c: HfConfig, file: string): void {
  // "vision" makes image tokens attend both ways; text prompts stay causal
  if (c.use_bidirectional_attention === 'all')
    throw refuse(
      file,
      'use_bidirectional_attention',
      'Bidirectional attention over all tokens (an embedding model) is not built',
      EXPORT_HINT,
    );
}

/**
 * Gemma 4 E2B and E4B's layers beyond 31B's (Gemma4TextModel, Gemma4TextDecoderLayer, Gemma4TextMLP):
 * - per-layer inputs (hidden_size_per_layer_input, default 256; 0: none): a second embedding of the tokens, [layers x
 *   width] per token, times sqrt(width), plus the embedding's projection (times hidden_size^-0.5, RMS-normalised per
 *   layer), the sum times 2^-0.5; each layer adds post_per_layer_input_norm(per_layer_projection(gelu(
 *   per_layer_input_gate(h)) · its input)) after its MLP;
 * - the last num_kv_shared_layers layers read the keys and values of the last earlier layer of their type (its keys
 *   normalised and rotated, its values normalised) and have no key or value weights of their own;
 * - use_double_wide_mlp: those shared layers' MLPs are twice intermediate_size wide.
 */
export interface Gemma4Layers {
  perLayerInput?: { width: number; vocab: number };
  /** Per layer: the earlier layer whose keys and values it reads, else undefined. */
  kvSource: (number | undefined)[];
  /** Per layer: its MLP is twice as wide. */
  wideMlp: boolean[];
}

export function gemma4Layers(c: HfConfig, file: string, sliding: boolean[]): Gemma4Layers {
  const layers = sliding.length;
  const width = c.hidden_size_per_layer_input ?? 256;
  if (width !== null && width !== 0 && !(typeof width === 'number' && Number.isSafeInteger(width) && width > 0))
    throw refuse(
      file,
      'hidden_size_per_layer_input',
      `hidden_size_per_layer_input is ${JSON.stringify(width)}, not a positive integer or 0`,
      SAVED_HINT,
    );
  const shared = c.num_kv_shared_layers ?? 0;
  if (typeof shared !== 'number' || !Number.isSafeInteger(shared) || shared < 0 || shared >= layers)
    throw refuse(
      file,
      'num_kv_shared_layers',
      `num_kv_shared_layers is ${JSON.stringify(shared)}: it must be below the ${layers} layers`,
      SAVED_HINT,
    );
  const first = layers - shared;
  const kvSource = sliding.map((type, l) => {
    if (l < first) return undefined;
    const source = sliding.slice(0, first).lastIndexOf(type);
    if (source < 0)
      throw refuse(
        file,
        'num_kv_shared_layers',
        `Layer ${l} shares keys and values, but no earlier layer of its type has its own`,
        SAVED_HINT,
      );
    return source;
  });
  return {
    perLayerInput: width ? { width: width as number, vocab: positiveInteger(c, 'vocab_size_per_layer_input', file, 262_144) } : undefined,
    kvSource,
    // Gemma4TextMLP: use_double_wide_mlp and layer_idx >= first_kv_shared_layer_idx > 0
    wideMlp: sliding.map((_, l) => c.use_double_wide_mlp === true && l >= first && first > 0 && shared > 0),
  };
}

/** Each layer type's attention shape and RoPE; `sliding[l]`: layer l is a sliding-window layer. */
export function gemma4Attention(
  c: HfConfig,
  file: string,
  sliding: boolean[],
  heads: number,
  headDim: number,
  kvHeads: number,
): Gemma4Attention {
  const keysAsValues = c.attention_k_eq_v === true;
  const shapes = sliding.map((s) => ({ headDim, kvHeads, sliding: s }));
  const perLayer = c.per_layer_config;
  if (perLayer !== undefined && perLayer !== null) {
    if (typeof perLayer !== 'object' || Array.isArray(perLayer))
      throw refuse(file, 'per_layer_config', 'per_layer_config must map layer indices to settings', SAVED_HINT);
    for (const [index, settings] of Object.entries(perLayer as Record<string, Record<string, unknown>>)) {
      const l = Number(index);
      const key = `per_layer_config.${index}`;
      if (!Number.isInteger(l) || l < 0 || l >= sliding.length)
        throw refuse(file, key, `per_layer_config names layer ${index}, which the model does not have`, SAVED_HINT);
      const other = Object.keys(settings ?? {}).find((k) => k !== 'head_dim' && k !== 'num_key_value_heads');
      if (other !== undefined) throw refuse(file, `${key}.${other}`, `A per-layer ${other} is not built`, EXPORT_HINT);
      shapes[l] = {
        ...shapes[l],
        headDim: positiveInteger(settings, 'head_dim', file, headDim),
        kvHeads: positiveInteger(settings, 'num_key_value_heads', file, kvHeads),
      };
    }
  } else {
    // Gemma4TextConfig.__post_init__: the full layers' overrides from global_head_dim and num_global_key_value_heads
    const globalHeadDim = positiveInteger(c, 'global_head_dim', file, 512);
    const globalKv =
      keysAsValues && c.num_global_key_value_heads !== undefined && c.num_global_key_value_heads !== null
        ? positiveInteger(c, 'num_global_key_value_heads', file)
        : kvHeads;
    for (const s of shapes) if (!s.sliding) Object.assign(s, { headDim: globalHeadDim, kvHeads: globalKv });
  }
  const of = (type: 'sliding' | 'full'): { headDim: number; kvHeads: number } => {
    const own = shapes.filter((s) => s.sliding === (type === 'sliding'));
    const first = own[0] ?? { headDim, kvHeads };
    if (own.some((s) => s.headDim !== first.headDim || s.kvHeads !== first.kvHeads))
      throw refuse(
        file,
        'per_layer_config',
        `The ${type} layers differ in head_dim or num_key_value_heads, which is not built`,
        EXPORT_HINT,
      );
    if (first.headDim % 2 !== 0 || heads % first.kvHeads !== 0)
      throw refuse(
        file,
        'per_layer_config',
        `The ${type} layers' head_dim ${first.headDim} or num_key_value_heads ${first.kvHeads} do not fit ${heads} heads`,
        SAVED_HINT,
      );
    return first;
  };
  const rope = (c.rope_parameters ?? {
    sliding_attention: { rope_type: 'default', rope_theta: 10_000 },
    full_attention: { rope_type: 'proportional', partial_rotary_factor: 0.25, rope_theta: 1_000_000 },
  }) as Record<string, Record<string, unknown>>;
  const slidingShape = of('sliding');
  const fullShape = of('full');
  return {
    sliding: { ...slidingShape, invFreq: typeRope(rope, 'sliding_attention', slidingShape.headDim, file) },
    full: { ...fullShape, invFreq: typeRope(rope, 'full_attention', fullShape.headDim, file) },
    keysAsValues,
  };
}

/** One layer type's inverse frequencies [head_dim / 2]: default or proportional RoPE. */
function typeRope(rope: Record<string, Record<string, unknown>>, type: string, headDim: number, file: string): Float32Array {
  const key = `rope_parameters.${type}`;
  const params = rope[type] ?? {};
  const number = (k: string, fallback?: number) => {
    const v = params[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw refuse(file, `${key}.${k}`, `${k} is ${JSON.stringify(params[k])}, not a positive number`, SAVED_HINT);
    return v;
  };
  const theta = number('rope_theta');
  const kind = String(params.rope_type ?? params.type ?? 'default');
  if (kind === 'default') {
    if (params.partial_rotary_factor !== undefined && params.partial_rotary_factor !== 1)
      throw refuse(file, `${key}.partial_rotary_factor`, 'A partial rotary factor is built for proportional RoPE only', EXPORT_HINT);
    return ropeInverseFrequencies(headDim, theta, { type: 'default' });
  }
  if (kind !== 'proportional')
    throw refuse(
      file,
      `${key}.rope_type`,
      `RoPE type '${kind}' is not built for gemma4 checkpoints (default and proportional are)`,
      EXPORT_HINT,
    );
  const fraction = number('partial_rotary_factor', 1);
  const factor = number('factor', 1);
  if (fraction > 1) throw refuse(file, `${key}.partial_rotary_factor`, `partial_rotary_factor ${fraction} is above 1`, SAVED_HINT);
  // int(rope_proportion * head_dim // 2) angles rotate, at the default frequencies of head_dim; the others are 0
  const angles = Math.floor((fraction * headDim) / 2);
  const table = new Float32Array(headDim / 2);
  table.set(ropeInverseFrequencies(headDim, theta, { type: 'default' }).subarray(0, angles));
  // inv_freq /= factor, in float32
  if (factor !== 1) for (let i = 0; i < table.length; i++) table[i] = Math.fround(table[i] / Math.fround(factor));
  return table;
}
