/**
 * A GPT-2 checkpoint's decoder as its config.json describes it (transformers' configuration_gpt2.py GPT2Config,
 * read by modeling_gpt2.py): n_embd, n_layer, n_head, n_inner (default 4 · n_embd), layer_norm_epsilon, n_positions,
 * activation_function. What would change the forward pass and is not built (cross-attention, another activation, an
 * attention scale other than head_dim^-0.5) is refused, naming the key.
 */
import { attentionShape, EXPORT_HINT, mlpActivation, positiveInteger, positiveNumber, refuse, type LayerNormDecoder } from './configKeys';

type HfConfig = Record<string, unknown>;

export interface Gpt2Spec extends LayerNormDecoder {
  family: 'gpt2';
  /** wpe's rows: positions past it have no embedding. */
  maxPositions: number;
  /** q kᵀ's scale: head_dim^-0.5 (GPT2Attention's scaling with scale_attn_weights). */
  attentionScale: number;
}

/** GPT2Config's keys (its attribute_map also lets hidden_size, num_hidden_layers and num_attention_heads stand in). */
export function gpt2Spec(c: HfConfig, file: string): Gpt2Spec {
  if (c.add_cross_attention === true)
    throw refuse(file, 'add_cross_attention', 'GPT-2 with cross-attention (an encoder-decoder half) is not built', EXPORT_HINT);
  const { hidden, heads, headDim } = attentionShape(c, file, {
    hidden: ['n_embd', 'hidden_size'],
    heads: ['n_head', 'num_attention_heads'],
  });
  const layers = positiveInteger(c, ['n_layer', 'num_hidden_layers'], file);
  const intermediate = c.n_inner === undefined || c.n_inner === null ? 4 * hidden : positiveInteger(c, 'n_inner', file);
  const activation = mlpActivation(c, 'activation_function', 'gelu_new', 'gpt2', file);
  const eps = positiveNumber(c, 'layer_norm_epsilon', 1e-5, file);
  // GPT2Attention's scaling is head_dim ** -0.5 by default; reorder_and_upcast_attn computes the same product in
  // float32, as this graph does
  if (c.scale_attn_weights === false)
    throw refuse(
      file,
      'scale_attn_weights',
      'Unscaled attention (scale_attn_weights false) is not built for gpt2 checkpoints',
      EXPORT_HINT,
    );
  if (c.scale_attn_by_inverse_layer_idx === true)
    throw refuse(file, 'scale_attn_by_inverse_layer_idx', 'scale_attn_by_inverse_layer_idx is not built for gpt2 checkpoints', EXPORT_HINT);
  return {
    family: 'gpt2',
    hidden,
    layers,
    heads,
    headDim,
    intermediate,
    layerNormEps: eps,
    maxPositions: positiveInteger(c, ['n_positions', 'max_position_embeddings'], file, 1024),
    activation,
    attentionScale: Math.fround(Math.pow(headDim, -0.5)),
    tiedEmbeddings: c.tie_word_embeddings !== false,
  };
}
