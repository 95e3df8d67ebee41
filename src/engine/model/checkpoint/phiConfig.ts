/**
 * A Phi-1 / Phi-1.5 / Phi-2 checkpoint's decoder (model_type phi) as its config.json describes it, read as transformers
 * 5.18's configuration_phi.py reads it: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size,
 * hidden_act (default gelu_new), layer_norm_eps, qk_layernorm, and the partial RoPE (rope_theta and
 * partial_rotary_factor, default 0.5, top level in transformers 4's configs or in rope_parameters). Grouped KV heads
 * (num_key_value_heads other than num_attention_heads) are refused, naming the key.
 */
import {
  attentionShape,
  EXPORT_HINT,
  mlpActivation,
  partialRope,
  positiveInteger,
  positiveNumber,
  refuse,
  type LayerNormDecoder,
} from './configKeys';

type HfConfig = Record<string, unknown>;

export interface PhiSpec extends LayerNormDecoder {
  family: 'phi';
  /** The dims of each head RoPE rotates, from the first: int(head_dim · partial_rotary_factor). */
  rotaryDim: number;
  invFreq: Float32Array;
  /** LayerNorms over each head's q and k before RoPE (q_layernorm, k_layernorm). */
  qkLayerNorm: boolean;
}

export function phiSpec(c: HfConfig, file: string): PhiSpec {
  const shape = attentionShape(c, file, { hidden: ['hidden_size'], heads: ['num_attention_heads'] });
  const { hidden, heads } = shape;
  // PhiAttention: getattr(config, "head_dim", hidden_size // num_attention_heads)
  const headDim = typeof c.head_dim === 'number' ? positiveInteger(c, 'head_dim', file) : shape.headDim;
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
    layers: positiveInteger(c, 'num_hidden_layers', file),
    heads,
    headDim,
    intermediate: positiveInteger(c, 'intermediate_size', file),
    layerNormEps: positiveNumber(c, 'layer_norm_eps', 1e-5, file),
    rotaryDim,
    invFreq,
    qkLayerNorm: c.qk_layernorm === true,
    activation: mlpActivation(c, 'hidden_act', 'gelu_new', 'phi', file),
    tiedEmbeddings: c.tie_word_embeddings === true,
  };
}
