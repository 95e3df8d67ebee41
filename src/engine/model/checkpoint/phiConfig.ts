/**
 * A Phi-1 / Phi-1.5 / Phi-2 checkpoint's decoder (model_type phi) as its config.json describes it, read as transformers
 * 5.18's configuration_phi.py reads it: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
 * hidden_act (default gelu_new), layer_norm_eps, qk_layernorm, and the partial RoPE (rope_theta and
 * partial_rotary_factor, default 0.5, top level in transformers 4's configs or in rope_parameters). Grouped KV heads
 * (num_key_value_heads other than num_attention_heads) are refused, naming the key.
 */
import { EXPORT_HINT, mlpActivation, partialRope, positiveNumber, refuse, SAVED_HINT } from './configKeys';

type HfConfig = Record<string, unknown>;

export interface PhiSpec {
  family: 'phi';
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  intermediate: number;
  layerNormEps: number;
  /** The dims of each head RoPE rotates, from the first: int(head_dim · partial_rotary_factor). */
  rotaryDim: number;
  invFreq: Float32Array;
  /** LayerNorms over each head's q and k before RoPE (q_layernorm, k_layernorm). */
  qkLayerNorm: boolean;
  activation: 'gelu' | 'gelu_tanh' | 'relu';
  tiedEmbeddings: boolean;
  visionTower?: undefined;
}

export function phiSpec(c: HfConfig, file: string): PhiSpec {
  const int = (key: string) => {
    const v = c[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw refuse(file, key, `${key} is ${JSON.stringify(v)}, not a positive integer`, SAVED_HINT);
    return v;
  };
  if (c.quantization_config !== undefined && c.quantization_config !== null)
    throw refuse(file, 'quantization_config', 'Quantised checkpoints are not built', 'Give the unquantised checkpoint, or an ONNX export.');
  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  const headDim = typeof c.head_dim === 'number' ? int('head_dim') : hidden / heads;
  if (!Number.isSafeInteger(headDim))
    throw refuse(file, 'num_attention_heads', `hidden_size (${hidden}) is not a multiple of num_attention_heads (${heads})`, SAVED_HINT);
  if (c.num_key_value_heads !== undefined && c.num_key_value_heads !== null && c.num_key_value_heads !== heads)
    throw refuse(file, 'num_key_value_heads', 'Grouped KV heads are not built for phi checkpoints', EXPORT_HINT);
  const { rotaryDim, invFreq } = partialRope(c, file, headDim, {
    theta: 'rope_theta',
    fraction: 'partial_rotary_factor',
    fractionDefault: 0.5,
    family: 'phi',
  });
  return {
    family: 'phi',
    hidden,
    layers: int('num_hidden_layers'),
    heads,
    headDim,
    intermediate: int('intermediate_size'),
    layerNormEps: positiveNumber(c, 'layer_norm_eps', 1e-5, file),
    rotaryDim,
    invFreq,
    qkLayerNorm: c.qk_layernorm === true,
    activation: mlpActivation(c, 'hidden_act', 'gelu_new', 'phi', file),
    tiedEmbeddings: c.tie_word_embeddings === true,
  };
}
