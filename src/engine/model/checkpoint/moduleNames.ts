/** The names of the modules of a decoder block (model.layers.N.<name>) that the checkpoint graph reads, by family. */

/** The names of a block's modules (model.layers.N.<name>) the decoder graph reads. */
export interface ModuleNames {
  inputNorm: string;
  mlpNorm: string;
  mlp: string;
  gate: string;
  up: string;
  down: string;
  output: string;
  qNorm: string;
  kNorm: string;
  /** The fused gate and up projection, where the MLP has one (GLM, Phi-3: gate_up_proj; Granite 4: input_linear). */
  gateUp: string;
  /** Norms the checkpoint saves under other names than the modules' (OLMo Hybrid's): module -> saved name. */
  saved?: Record<string, string>;
}

export const LLAMA_NAMES: ModuleNames = {
  inputNorm: 'input_layernorm',
  mlpNorm: 'post_attention_layernorm',
  mlp: 'mlp',
  gate: 'gate_proj',
  up: 'up_proj',
  down: 'down_proj',
  output: 'o_proj',
  qNorm: 'q_norm',
  kNorm: 'k_norm',
  gateUp: 'gate_up_proj',
};

/** Lfm2DecoderLayer's: operator_norm, ffn_norm, feed_forward.w1 / w3 / w2, self_attn.out_proj and q_layernorm / k_layernorm. */
export const LFM2_NAMES: ModuleNames = {
  inputNorm: 'operator_norm',
  mlpNorm: 'ffn_norm',
  mlp: 'feed_forward',
  gate: 'w1',
  up: 'w3',
  down: 'w2',
  output: 'out_proj',
  qNorm: 'q_layernorm',
  kNorm: 'k_layernorm',
  gateUp: 'gate_up_proj',
};

/** GraniteMoeHybridDecoderLayer's MLP: shared_mlp, its fused input_linear (gate, then up) and output_linear. */
export const GRANITE4_NAMES: ModuleNames = { ...LLAMA_NAMES, mlp: 'shared_mlp', gateUp: 'input_linear', down: 'output_linear' };

/** BambaDecoderLayer's and FalconH1DecoderLayer's MLP: feed_forward after pre_ff_layernorm (gate_proj, up_proj, down_proj as Llama's). */
export const BAMBA_NAMES: ModuleNames = { ...LLAMA_NAMES, mlpNorm: 'pre_ff_layernorm', mlp: 'feed_forward' };

/** ApertusDecoderLayer's norms: attention_layernorm in front of attention, feedforward_layernorm in front of the MLP. */
export const APERTUS_NAMES: ModuleNames = { ...LLAMA_NAMES, inputNorm: 'attention_layernorm', mlpNorm: 'feedforward_layernorm' };

/** HunYuanDenseV1Attention's per-head q / k norms: query_layernorm, key_layernorm. */
export const HUNYUAN_NAMES: ModuleNames = { ...LLAMA_NAMES, qNorm: 'query_layernorm', kNorm: 'key_layernorm' };

/**
 * OLMo Hybrid's checkpoints name its norms as the original OLMo code did (transformers 5.18 conversion_mapping.py
 * "olmo_hybrid": attention_layer_norm is input_layernorm, feedforward_layer_norm is post_attention_layernorm).
 */
export const OLMO_HYBRID_NAMES: ModuleNames = {
  ...LLAMA_NAMES,
  saved: { input_layernorm: 'attention_layer_norm', post_attention_layernorm: 'feedforward_layer_norm' },
};
