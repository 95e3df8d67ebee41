/** What the config readers of the checkpoint graphs (decoderConfig.ts, gpt2Config.ts, gptNeoxConfig.ts) share. */
import { SaeDiffError } from '../../core/errors';
import { ropeInverseFrequencies, type RopeScaling } from './ropeFrequencies';

export const EXPORT_HINT = 'Export the model to ONNX instead (`optimum-cli export onnx --model <folder> <out>`) and give that folder.';
export const SAVED_HINT = 'Use the config.json the checkpoint was saved with.';

/** A config.json key the graph cannot take, named with the file. */
export function refuse(file: string, key: string, message: string, hint: string): SaeDiffError {
  return new SaeDiffError(message, { location: { file, key }, hint });
}

/** What the GPT-2, GPT-NeoX and Phi specs share: LayerNorm decoders with a one-matrix MLP. */
export interface LayerNormDecoder {
  hidden: number;
  layers: number;
  heads: number;
  headDim: number;
  /** The MLP's width. */
  intermediate: number;
  layerNormEps: number;
  /** The MLP's activation (mlpActivation). */
  activation: 'gelu' | 'gelu_tanh' | 'relu';
  /** The head is the token embedding. */
  tiedEmbeddings: boolean;
  visionTower?: undefined;
}

/** transformers' ACT2FN names of the activations the GPT-2 and GPT-NeoX MLPs are built with. */
const MLP_ACTIVATIONS: Record<string, 'gelu' | 'gelu_tanh' | 'relu'> = {
  gelu: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  relu: 'relu',
};

/** The MLP's activation config.json names under `key` (`fallback`: the config class's default), or its refusal. */
export function mlpActivation(
  c: Record<string, unknown>,
  key: string,
  fallback: string,
  family: string,
  file: string,
): 'gelu' | 'gelu_tanh' | 'relu' {
  const name = String(c[key] ?? fallback);
  const activation = MLP_ACTIVATIONS[name];
  if (!activation)
    throw refuse(
      file,
      key,
      `${key} ${JSON.stringify(name)} is not built for ${family} checkpoints (${Object.keys(MLP_ACTIVATIONS).join(', ')} are)`,
      EXPORT_HINT,
    );
  return activation;
}

/**
 * Quantised weights (quantization_config) are refused: the graph builders read float weights, except the one
 * `built` method a family reads (GPT-OSS's MXFP4 experts, mxfp4.ts).
 */
export function refuseQuantised(c: Record<string, unknown>, file: string, built?: string): void {
  if (c.quantization_config === undefined || c.quantization_config === null) return;
  const method = (c.quantization_config as Record<string, unknown>).quant_method;
  if (built !== undefined && method === built) return;
  throw refuse(
    file,
    'quantization_config',
    `Quantised checkpoints${method === undefined ? '' : ` (quant_method ${JSON.stringify(method)})`} are not built${built ? ` (${built} is)` : ''}`,
    'Give the unquantised checkpoint, or an ONNX export.',
  );
}

/** A positive integer config.json gives under `key` (the first of `keys` it has: GPT2Config's n_embd or hidden_size), else `fallback`. */
export function positiveInteger(c: Record<string, unknown>, keys: string | string[], file: string, fallback?: number): number {
  const names = typeof keys === 'string' ? [keys] : keys;
  const key = names.find((k) => c[k] !== undefined) ?? names[0];
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    throw refuse(file, key, `${key} is ${JSON.stringify(c[key])}, not a positive integer`, SAVED_HINT);
  return v;
}

/**
 * The attention's shape the GPT-2, GPT-NeoX and Phi configs share: hidden size and heads (under `keys`), the head
 * size they divide to; quantised checkpoints refused.
 */
export function attentionShape(
  c: Record<string, unknown>,
  file: string,
  keys: { hidden: string[]; heads: string[] },
): { hidden: number; heads: number; headDim: number } {
  refuseQuantised(c, file);
  const hidden = positiveInteger(c, keys.hidden, file);
  const heads = positiveInteger(c, keys.heads, file);
  const headDim = hidden / heads;
  if (!Number.isSafeInteger(headDim))
    throw refuse(file, keys.heads[0], `${keys.hidden[0]} (${hidden}) is not a multiple of ${keys.heads[0]} (${heads})`, SAVED_HINT);
  return { hidden, heads, headDim };
}

/** A positive number config.json gives under `key`, else `fallback`. */
export function positiveNumber(c: Record<string, unknown>, key: string, fallback: number, file: string): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !(v > 0)) throw refuse(file, key, `${key} is ${JSON.stringify(v)}, not a positive number`, SAVED_HINT);
  return v;
}

/**
 * The partial RoPE of GPT-NeoX and Phi, read as transformers 5.18's configs read it (convert_rope_params_to_dict,
 * standardize_rope_params): rope_scaling or rope_parameters, their rope_theta and partial_rotary_factor defaulted from
 * the family's 4.x top-level keys (`keys.theta`, `keys.fraction`; default 10000 and `keys.fractionDefault`); default
 * and linear scaling are built. rotaryDim = int(head_dim · fraction), the dims of each head that rotate.
 */
export function partialRope(
  c: Record<string, unknown>,
  file: string,
  headDim: number,
  keys: { theta: string; fraction: string; fractionDefault: number; family: string },
): { rotaryDim: number; invFreq: Float32Array; theta: number; scaling: RopeScaling } {
  const key = c.rope_scaling ? 'rope_scaling' : 'rope_parameters';
  const params = ((c.rope_scaling || c.rope_parameters) ?? {}) as Record<string, unknown>;
  const num = (k: string, fallbackKey: string, fallback: number) => {
    const v = params[k] ?? c[fallbackKey] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      throw refuse(
        file,
        params[k] !== undefined ? `${key}.${k}` : fallbackKey,
        `${k} is ${JSON.stringify(v)}, not a positive number`,
        SAVED_HINT,
      );
    return v;
  };
  const theta = num('rope_theta', keys.theta, 10_000);
  const fraction = num('partial_rotary_factor', keys.fraction, keys.fractionDefault);
  const rotaryDim = Math.trunc(headDim * fraction);
  if (!(rotaryDim >= 2 && rotaryDim % 2 === 0 && fraction <= 1))
    throw refuse(
      file,
      params.partial_rotary_factor !== undefined ? `${key}.partial_rotary_factor` : keys.fraction,
      `The rotary fraction ${fraction} does not give an even rotary dimension of head size ${headDim}`,
      SAVED_HINT,
    );
  const type = String(params.rope_type ?? params.type ?? 'default');
  let scaling: RopeScaling;
  if (type === 'default') scaling = { type: 'default' };
  else if (type === 'linear') scaling = { type: 'linear', factor: num('factor', 'factor', NaN) };
  else
    throw refuse(
      file,
      `${key}.rope_type`,
      `RoPE type '${type}' is not built for ${keys.family} checkpoints (default and linear are)`,
      EXPORT_HINT,
    );
  return { rotaryDim, invFreq: ropeInverseFrequencies(rotaryDim, theta, scaling), theta, scaling };
}

/**
 * The most sparse blocks' experts (experts x sparse layers) run by gathering their tokens. ONNX Runtime's session
 * creation grows faster than linearly with the experts' nodes, most with those of data-dependent shape: on the 2-core
 * VM (hidden 64), 8 layers of 32 gathered experts took 3 s to create, of 64 experts 11 s, of 128 experts 91 s; 128
 * experts run densely 28-43 s. Mixtral (32 layers x 8: 4.8 s) is gathered; OLMoE (16 x 64) and Qwen3-30B-A3B
 * (48 x 128) run densely.
 */
export const MAX_GATHERED_EXPERTS = 512;

/** How a model's experts run (moeBlock.ts routedExperts): gathered per expert, or densely past MAX_GATHERED_EXPERTS. */
export function expertDispatch(experts: number, sparseLayers: number): 'sparse' | 'dense' {
  return experts * sparseLayers <= MAX_GATHERED_EXPERTS ? 'sparse' : 'dense';
}

/** What DeepSeek-V3's grouped routing reads (NemotronHTopkRouter, Glm4MoeTopkRouter). */
export interface GroupedRouting {
  experts: number;
  topK: number;
  /**
   * DeepSeek-V3's sigmoid scores, chosen with their e_score_correction_bias, groups ranked by their two best; or
   * DeepSeek-V2's softmax probabilities, groups ranked by their best (moeBlock.ts groupedRouter).
   */
  scoring: 'sigmoid' | 'softmax';
  /** n_group groups of experts, of which topk_group are chosen from per token. */
  groups: number;
  topkGroups: number;
  normalise: boolean;
  /** routed_scaling_factor, in float32. */
  scale: number;
}

/**
 * DeepSeek's grouped routing keys, as NemotronHConfig and Glm4MoeConfig default them (n_group 1, topk_group 1,
 * norm_topk_prob true, routed_scaling_factor 1) unless `defaults` says otherwise (DeepseekV3Config: 8, 4 and 2.5;
 * undefined: no default), checked as the router needs them (moeBlock.ts groupedRouter).
 */
export function groupedRouting(
  c: Record<string, unknown>,
  file: string,
  experts: number,
  topK: number,
  // groups and topkGroups left out: config.json must give them (DeepseekV2Config's group_limited_greedy)
  defaults: { groups?: number; topkGroups?: number; scale: number } = { groups: 1, topkGroups: 1, scale: 1 },
): Omit<GroupedRouting, 'experts' | 'topK' | 'scoring'> {
  const groups = positiveInteger(c, 'n_group', file, defaults.groups);
  const topkGroups = positiveInteger(c, 'topk_group', file, defaults.topkGroups);
  // each group's two best scores; topk_group groups; top k among their experts
  if (experts % groups !== 0 || experts / groups < 2)
    throw refuse(file, 'n_group', `n_group (${groups}) must divide n_routed_experts (${experts}) into groups of 2 or more`, SAVED_HINT);
  if (topkGroups > groups) throw refuse(file, 'topk_group', `topk_group (${topkGroups}) is more than n_group (${groups})`, SAVED_HINT);
  if (topK > topkGroups * (experts / groups))
    throw refuse(
      file,
      'num_experts_per_tok',
      `num_experts_per_tok (${topK}) is more than the ${topkGroups * (experts / groups)} experts of topk_group groups`,
      SAVED_HINT,
    );
  return {
    groups,
    topkGroups,
    normalise: c.norm_topk_prob !== false,
    scale: Math.fround(positiveNumber(c, 'routed_scaling_factor', defaults.scale, file)),
  };
}
