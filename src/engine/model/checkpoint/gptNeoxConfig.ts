/**
 * A GPT-NeoX checkpoint's decoder (EleutherAI's Pythia and kin) as its config.json describes it, read as transformers
 * 5.18's configuration_gpt_neox.py reads it: rope_parameters (or 4.x's rope_scaling), with rope_theta from
 * rotary_emb_base (default 10000) and partial_rotary_factor from rotary_pct (default 0.25) where those are absent;
 * use_parallel_residual (default true), attention_bias (default true), hidden_act, layer_norm_eps. What would change
 * the forward pass and is not built (another RoPE type, another activation) is refused, naming the key.
 */
import { attentionShape, mlpActivation, partialRope, positiveInteger, positiveNumber, type LayerNormDecoder } from './configKeys';

type HfConfig = Record<string, unknown>;

export interface GptNeoxSpec extends LayerNormDecoder {
  family: 'gpt_neox';
  /** The dims of each head RoPE rotates, from the first: int(head_size · partial_rotary_factor). */
  rotaryDim: number;
  /** RoPE inverse frequencies [rotaryDim / 2], float32 as transformers computes them. */
  invFreq: Float32Array;
  /** x + attn(ln_1(x)) + mlp(ln_2(x)) (Pythia), else x + attn(ln_1(x)) then + mlp(ln_2(·)). */
  parallelResidual: boolean;
  /** query_key_value and dense carry biases. */
  attentionBias: boolean;
}

export function gptNeoxSpec(c: HfConfig, file: string): GptNeoxSpec {
  const { hidden, heads, headDim } = attentionShape(c, file, { hidden: ['hidden_size'], heads: ['num_attention_heads'] });
  const activation = mlpActivation(c, 'hidden_act', 'gelu', 'gpt_neox', file);
  const eps = positiveNumber(c, 'layer_norm_eps', 1e-5, file);
  // GPTNeoXConfig.convert_rope_params_to_dict: rotary_emb_base and rotary_pct (default 0.25) are 4.x's names
  const { rotaryDim, invFreq } = partialRope(c, file, headDim, {
    theta: 'rotary_emb_base',
    fraction: 'rotary_pct',
    fractionDefault: 0.25,
    family: 'gpt_neox',
  });
  return {
    family: 'gpt_neox',
    hidden,
    layers: positiveInteger(c, 'num_hidden_layers', file),
    heads,
    headDim,
    intermediate: positiveInteger(c, 'intermediate_size', file),
    layerNormEps: eps,
    rotaryDim,
    invFreq,
    parallelResidual: c.use_parallel_residual !== false,
    attentionBias: c.attention_bias !== false,
    activation,
    tiedEmbeddings: c.tie_word_embeddings === true,
  };
}
