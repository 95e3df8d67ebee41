/**
 * A GPT-2 checkpoint's decoder as its config.json describes it (transformers' configuration_gpt2.py GPT2Config,
 * read by modeling_gpt2.py): n_embd, n_layer, n_head, n_inner (default 4 · n_embd), layer_norm_epsilon, n_positions,
 * activation_function. What would change the forward pass and is not built (cross-attention, another activation, an
 * attention scale other than head_dim^-0.5) is refused, naming the key.
 */
import { EXPORT_HINT, mlpActivation, positiveNumber, refuse, SAVED_HINT } from './configKeys';

type HfConfig = Record<string, unknown>;

export interface Gpt2Spec {
  family: 'gpt2';
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  /** The MLP's width (n_inner, else 4 · n_embd). */
  intermediate: number;
  layerNormEps: number;
  /** wpe's rows: positions past it have no embedding. */
  maxPositions: number;
  /** ACT2FN[activation_function]: gelu_new / gelu_pytorch_tanh (tanh approximation), gelu (erf), relu. */
  activation: 'gelu_tanh' | 'gelu' | 'relu';
  /** q kᵀ's scale: head_dim^-0.5 (GPT2Attention's scaling with scale_attn_weights). */
  attentionScale: number;
  /** lm_head is wte (GPT2Config's tie_word_embeddings default). */
  tiedEmbeddings: boolean;
  visionTower?: undefined;
}

/** GPT2Config's keys (its attribute_map also lets hidden_size, num_hidden_layers and num_attention_heads stand in). */
export function gpt2Spec(c: HfConfig, file: string): Gpt2Spec {
  const int = (key: string, alias: string, fallback?: number) => {
    const name = c[key] !== undefined ? key : c[alias] !== undefined ? alias : key;
    const v = c[name] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw refuse(file, name, `${name} is ${JSON.stringify(c[name])}, not a positive integer`, SAVED_HINT);
    return v;
  };
  if (c.add_cross_attention === true)
    throw refuse(file, 'add_cross_attention', 'GPT-2 with cross-attention (an encoder-decoder half) is not built', EXPORT_HINT);
  if (c.quantization_config !== undefined && c.quantization_config !== null)
    throw refuse(file, 'quantization_config', 'Quantised checkpoints are not built', 'Give the unquantised checkpoint, or an ONNX export.');
  const hidden = int('n_embd', 'hidden_size');
  const layers = int('n_layer', 'num_hidden_layers');
  const heads = int('n_head', 'num_attention_heads');
  const headDim = hidden / heads;
  if (!Number.isSafeInteger(headDim)) throw refuse(file, 'n_head', `n_embd (${hidden}) is not a multiple of n_head (${heads})`, SAVED_HINT);
  const intermediate = c.n_inner === undefined || c.n_inner === null ? 4 * hidden : int('n_inner', 'n_inner');
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
    maxPositions: int('n_positions', 'max_position_embeddings', 1024),
    activation,
    attentionScale: Math.fround(Math.pow(headDim, -0.5)),
    tiedEmbeddings: c.tie_word_embeddings !== false,
  };
}
