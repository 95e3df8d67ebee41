/**
 * The experts of a mixture-of-experts config.json (MoeSpec, which moeBlock.ts builds), read as each family's config
 * class reads them (transformers 5.18).
 */
import {
  EXPORT_HINT,
  expertDispatch,
  groupedRouting,
  positiveInteger,
  positiveNumber,
  refuse,
  SAVED_HINT,
  type GroupedRouting,
} from './configKeys';
import type { DecoderFamily } from './decoderFamilies';

/** config.json as read (model/modelFolder.ts's HfConfig). */
type HfConfig = Record<string, unknown>;

/**
 * A sparse mixture-of-experts MLP (modeling_mixtral.py, modeling_qwen2_moe.py, modeling_qwen3_moe.py,
 * modeling_olmoe.py, modeling_qwen3_5_moe.py, transformers 5.18): a router softmax(x W_gateᵀ) in float32, the top
 * `topK` experts of each token (renormalised to sum 1 where `normalise`), each a SwiGLU MLP, their outputs weighted
 * and summed; Qwen2-MoE and Qwen 3.5-MoE add a shared expert times sigmoid(x W_shared_gateᵀ).
 */
export interface MoeSpec {
  experts: number;
  topK: number;
  normalise: boolean;
  /** Each expert's intermediate size (Mixtral, OLMoE: intermediate_size; Qwen: moe_intermediate_size). */
  intermediate: number;
  sharedIntermediate?: number;
  /** Per layer: a sparse block (else the dense MLP of intermediate_size: Qwen's mlp_only_layers, decoder_sparse_step). */
  sparseLayers: boolean[];
  /**
   * Experts saved fused, one tensor per projection for all experts (moeBlock.ts): GPT-OSS's (router bias, softmax
   * over the top k logits; x @ W with biases, interleaved gate / up, clamped SwiGLU) or Granite 4.0-H's (softmax
   * over the top k logits; `input_linear` [experts, 2 · intermediate, hidden] as gate then up, SiLU,
   * `output_linear`; beside its shared_mlp, which the block adds) or Gemma 4 26B-A4B's (`experts.gate_up_proj`
   * chunked as Granite's, GELU tanh, routed from the mid-stream by Gemma4TextRouter; beside the MLP, decoderGraph.ts
   * gemma4MlpAndExperts) or Qwen3-VL-MoE's (Mixtral's softmax router, its experts chunked as Granite's, stored
   * transposed in its release).
   */
  fused?: 'gpt_oss' | 'granite' | 'gemma4' | 'qwen3_vl';
  /**
   * DeepSeek-V2's lineage (moeBlock.ts groupedRouter): GLM-4.5's and DeepSeek-V3's grouped sigmoid routing
   * (Glm4MoeTopkRouter, DeepseekV3TopkRouter), DeepSeek-V2's grouped softmax (DeepseekV2TopkRouter), instead of
   * Mixtral's softmax; `normalise` their norm_topk_prob.
   */
  grouped?: Omit<GroupedRouting, 'experts' | 'topK' | 'normalise'>;
  /**
   * GLM-4.5's and ERNIE 4.5's shared experts (Glm4MoeMLP, Ernie4_5_MoeMLP; no gate on their output): their width,
   * moe_intermediate_size times the shared experts' count; ERNIE's with biases (use_bias).
   */
  sharedExperts?: number;
  sharedExpertsBias?: boolean;
  /**
   * ERNIE 4.5 (Ernie4_5_MoeTopKRouter): the experts chosen by their softmax probability (float32) plus
   * moe_statics.e_score_correction_bias, weighted by the probabilities divided by their sum clamped at moe_norm_min.
   */
  ernieRouter?: { normMin: number };
  /** Mixtral: block_sparse_moe, experts' w1 (gate), w3 (up), w2 (down); the others: mlp, gate_proj, up_proj, down_proj. */
  mixtralNames: boolean;
  /** The block's module where it is neither Mixtral's nor mlp (LFM2-MoE: feed_forward, its experts named as Mixtral's). */
  module?: string;
  /**
   * LFM2-MoE (Lfm2MoeTopKRouter): sigmoid scores, the experts chosen by scores plus the block's expert_bias (where
   * use_expert_bias), their scores renormalised (+ 1e-6) where `normalise`, times routed_scaling_factor.
   */
  lfm2Router?: { scale: number; expertBias: boolean };
  /**
   * How the experts run (moeBlock.ts): `sparse`, each on the tokens routed to it (gathered: data-dependent shapes),
   * or `dense`, each on every token with the others' weights 0 (the same sums; experts / topK times the work).
   */
  dispatch: 'sparse' | 'dense';
}

/** The experts of a mixture-of-experts config, as its config class reads them (undefined: a dense model). */
export function moeSpecOf(c: HfConfig, family: DecoderFamily, layers: number, file: string): MoeSpec | undefined {
  switch (family) {
    case 'gemma4_text':
      return c.enable_moe_block === true ? gemma4Experts(c, layers, file) : undefined;
    case 'glm4_moe':
    case 'glm4_moe_lite':
    case 'deepseek_v2':
    case 'deepseek_v3':
      return deepseekExperts(c, family, layers, file);
    case 'ernie4_5_moe':
      return ernieExperts(c, layers, file);
    case 'lfm2_moe':
      return lfm2Experts(c, layers, file);
    // GraniteMoeHybridConfig: num_local_experts 8 by default; 0 (granite-4.0-h-micro): the shared_mlp only
    case 'granitemoehybrid':
      return c.num_local_experts === 0 ? undefined : softmaxExperts(c, family, layers, file);
    // GraniteMoeConfig and GraniteMoeSharedConfig: experts in every layer (the shared one beside a shared_mlp)
    case 'granitemoe':
    case 'granitemoeshared':
      return softmaxExperts(c, family, layers, file);
    // Qwen3NextDecoderLayer: every layer dense when num_experts is 0
    case 'qwen3_next':
      return c.num_experts === 0 ? undefined : softmaxExperts(c, family, layers, file);
    case 'mixtral':
    case 'qwen2_moe':
    case 'qwen3_moe':
    case 'olmoe':
    case 'qwen3_5_moe_text':
    case 'qwen3_vl_moe_text':
    case 'gpt_oss':
      return softmaxExperts(c, family, layers, file);
    default:
      return undefined;
  }
}

/**
 * Gemma4TextConfig's enable_moe_block (26B-A4B): experts beside every layer's MLP; num_experts, top_k_experts and
 * moe_intermediate_size have no defaults; Gemma4TextRouter always renormalises.
 */
function gemma4Experts(c: HfConfig, layers: number, file: string): MoeSpec {
  const experts = positiveInteger(c, 'num_experts', file);
  const topK = positiveInteger(c, 'top_k_experts', file);
  if (topK > experts) throw refuse(file, 'top_k_experts', `top_k_experts (${topK}) is more than the ${experts} experts`, SAVED_HINT);
  return {
    experts,
    topK,
    normalise: true,
    intermediate: positiveInteger(c, 'moe_intermediate_size', file),
    sparseLayers: Array.from({ length: layers }, () => true),
    fused: 'gemma4',
    mixtralNames: false,
    dispatch: expertDispatch(experts, layers),
  };
}

/** The config classes' defaults of DeepSeek-V2's lineage (configuration_*.py, transformers 5.18). */
const DEEPSEEK_DEFAULTS = {
  glm4_moe: { experts: 128, topK: 8, firstDense: 1, intermediate: 1408, shared: 1 },
  glm4_moe_lite: { experts: 128, topK: 8, firstDense: 1, intermediate: 1408, shared: 1 },
  deepseek_v2: { experts: 64, topK: undefined, firstDense: 0, intermediate: 1407, shared: 2 },
  deepseek_v3: { experts: 256, topK: 8, firstDense: 3, intermediate: 2048, shared: 1 },
} as const;

/**
 * DeepSeek-V2's lineage: routed experts from layer first_k_dense_replace on (Glm4MoeLiteConfig: mlp_layer_types),
 * beside n_shared_experts ungated shared experts (with DeepseekV2Config's mlp_bias). DeepseekV3Config, Glm4MoeConfig
 * and Glm4MoeLiteConfig route DeepSeek-V3's way (sigmoid, correction bias, groups by their two best); DeepseekV2Config
 * by softmax, the top k of all experts (topk_method greedy) or of the topk_group groups with the best expert
 * (group_limited_greedy), never renormalised, times routed_scaling_factor. The hub's configs name the original
 * code's routing (scoring_func, topk_method) and MoE spacing (moe_layer_freq), which transformers does not read:
 * values that would route otherwise are refused.
 */
function deepseekExperts(c: HfConfig, family: keyof typeof DEEPSEEK_DEFAULTS, layers: number, file: string): MoeSpec {
  const defaults = DEEPSEEK_DEFAULTS[family];
  const v2 = family === 'deepseek_v2';
  const experts = positiveInteger(c, ['n_routed_experts', 'num_local_experts', 'num_experts'], file, defaults.experts);
  const topK = positiveInteger(c, 'num_experts_per_tok', file, defaults.topK);
  const notAsTransformers = (key: string, why: string) => refuse(file, key, `${key} ${JSON.stringify(c[key])} ${why}`, EXPORT_HINT);
  if (c.moe_layer_freq !== undefined && c.moe_layer_freq !== 1)
    throw notAsTransformers('moe_layer_freq', `is not built: transformers puts experts in every layer from first_k_dense_replace on`);
  const scoring = v2 ? 'softmax' : 'sigmoid';
  if (c.scoring_func !== undefined && c.scoring_func !== scoring)
    throw notAsTransformers('scoring_func', `is not built: transformers scores a ${family} router's experts by ${scoring}`);
  let grouped: Omit<GroupedRouting, 'experts' | 'topK'>;
  if (v2) {
    const method = c.topk_method ?? 'greedy';
    if (method !== 'greedy' && method !== 'group_limited_greedy')
      throw notAsTransformers('topk_method', 'is not built for deepseek_v2 checkpoints (greedy and group_limited_greedy are)');
    // DeepseekV2TopkRouter never renormalises; DeepSeek's own code did where norm_topk_prob (and then did not scale)
    if (c.norm_topk_prob === true)
      throw notAsTransformers('norm_topk_prob', 'is not read by transformers, whose router never renormalises');
    const scale = Math.fround(positiveNumber(c, 'routed_scaling_factor', 1, file));
    grouped =
      method === 'greedy'
        ? { scoring, groups: 1, topkGroups: 1, normalise: false, scale }
        : { ...groupedRouting(c, file, experts, topK, { scale: 1 }), scoring, normalise: false };
  } else {
    if (c.topk_method !== undefined && c.topk_method !== 'noaux_tc')
      throw notAsTransformers('topk_method', `is not built: transformers routes a ${family} model as noaux_tc`);
    grouped = {
      // Glm4MoeConfig's and Glm4MoeLiteConfig's defaults are groupedRouting's own
      ...groupedRouting(c, file, experts, topK, family === 'deepseek_v3' ? { groups: 8, topkGroups: 4, scale: 2.5 } : undefined),
      scoring,
    };
  }
  const { normalise, ...routing } = grouped;
  const sparseLayers = deepseekSparseLayers(c, family, layers, file, defaults.firstDense);
  const intermediate = positiveInteger(c, 'moe_intermediate_size', file, defaults.intermediate);
  const shared = c.n_shared_experts ?? defaults.shared;
  if (!Number.isSafeInteger(shared) || (shared as number) < 0)
    throw refuse(file, 'n_shared_experts', `n_shared_experts is ${JSON.stringify(shared)}, not a count`, SAVED_HINT);
  return {
    experts,
    topK,
    normalise,
    intermediate,
    sparseLayers,
    grouped: routing,
    sharedExperts: (shared as number) > 0 ? intermediate * (shared as number) : undefined,
    sharedExpertsBias: (v2 && c.mlp_bias === true) || undefined,
    mixtralNames: false,
    dispatch: expertDispatch(experts, sparseLayers.filter(Boolean).length),
  };
}

/** The layers with experts: from first_k_dense_replace on, or as Glm4MoeLiteConfig's mlp_layer_types say. */
function deepseekSparseLayers(c: HfConfig, family: DecoderFamily, layers: number, file: string, firstDense: number): boolean[] {
  // Glm4MoeLiteConfig: mlp_layer_types ("dense" / "sparse"), else the first layer dense
  const types = family === 'glm4_moe_lite' ? c.mlp_layer_types : undefined;
  if (Array.isArray(types) && types.length === layers && types.every((t) => t === 'dense' || t === 'sparse'))
    return types.map((t) => t === 'sparse');
  if (types !== undefined && types !== null)
    throw refuse(file, 'mlp_layer_types', `mlp_layer_types must name "dense" or "sparse" for each of the ${layers} layers`, SAVED_HINT);
  const dense = family === 'glm4_moe_lite' ? 1 : (c.first_k_dense_replace ?? firstDense);
  if (!Number.isSafeInteger(dense) || (dense as number) < 0)
    throw refuse(file, 'first_k_dense_replace', `first_k_dense_replace is ${JSON.stringify(dense)}, not a layer count`, SAVED_HINT);
  return Array.from({ length: layers }, (_, l) => l >= (dense as number));
}

/**
 * Ernie4_5_MoeConfig (ERNIE-4.5-21B-A3B): experts at every moe_layer_interval-th layer from moe_layer_start_index to
 * moe_layer_end_index (-1: the last), beside moe_num_shared_experts shared experts.
 */
function ernieExperts(c: HfConfig, layers: number, file: string): MoeSpec {
  const experts = positiveInteger(c, ['moe_num_experts', 'num_experts'], file, 64);
  const topK = positiveInteger(c, ['moe_k', 'num_experts_per_tok'], file, 6);
  if (topK > experts) throw refuse(file, 'moe_k', `moe_k (${topK}) is more than the ${experts} experts`, SAVED_HINT);
  const start = c.moe_layer_start_index ?? 1;
  const end = c.moe_layer_end_index === undefined || c.moe_layer_end_index === -1 ? layers - 1 : c.moe_layer_end_index;
  const interval = positiveInteger(c, 'moe_layer_interval', file, 1);
  for (const [key, v] of [
    ['moe_layer_start_index', start],
    ['moe_layer_end_index', end],
  ] as const)
    if (!Number.isSafeInteger(v) || (v as number) < 0)
      throw refuse(file, key, `${key} is ${JSON.stringify(c[key])}, not a layer index`, SAVED_HINT);
  const sparseLayers = Array.from({ length: layers }, (_, l) => (l + 1) % interval === 0 && l >= (start as number) && l <= (end as number));
  const intermediate = positiveInteger(c, 'moe_intermediate_size', file, 1536);
  const shared = c.moe_num_shared_experts ?? 2;
  if (!Number.isSafeInteger(shared) || (shared as number) < 0)
    throw refuse(file, 'moe_num_shared_experts', `moe_num_shared_experts is ${JSON.stringify(shared)}, not a count`, SAVED_HINT);
  return {
    experts,
    topK,
    normalise: true,
    intermediate,
    sparseLayers,
    ernieRouter: { normMin: Math.fround(positiveNumber(c, 'moe_norm_min', 1e-12, file)) },
    sharedExperts: (shared as number) > 0 ? intermediate * (shared as number) : undefined,
    sharedExpertsBias: c.use_bias === true,
    mixtralNames: false,
    dispatch: expertDispatch(experts, sparseLayers.filter(Boolean).length),
  };
}

/**
 * Lfm2MoeConfig (LFM2-8B-A1B): experts from layer num_dense_layers (default 2) on, in feed_forward, each saved as w1 /
 * w3 / w2 (conversion_mapping.py lfm2_moe), routed by Lfm2MoeTopKRouter.
 */
function lfm2Experts(c: HfConfig, layers: number, file: string): MoeSpec {
  const experts = positiveInteger(c, 'num_experts', file, 32);
  const topK = positiveInteger(c, 'num_experts_per_tok', file, 4);
  if (topK > experts)
    throw refuse(file, 'num_experts_per_tok', `num_experts_per_tok (${topK}) is more than the ${experts} experts`, SAVED_HINT);
  const dense = c.num_dense_layers ?? 2;
  if (!Number.isSafeInteger(dense) || (dense as number) < 0)
    throw refuse(file, 'num_dense_layers', `num_dense_layers is ${JSON.stringify(dense)}, not a layer count`, SAVED_HINT);
  const sparseLayers = Array.from({ length: layers }, (_, l) => l >= (dense as number));
  return {
    experts,
    topK,
    normalise: c.norm_topk_prob !== false,
    intermediate: positiveInteger(c, 'moe_intermediate_size', file, 1792),
    sparseLayers,
    lfm2Router: { scale: Math.fround(positiveNumber(c, 'routed_scaling_factor', 1, file)), expertBias: c.use_expert_bias !== false },
    module: 'feed_forward',
    mixtralNames: true,
    dispatch: expertDispatch(experts, sparseLayers.filter(Boolean).length),
  };
}

/** The config classes' expert counts and top k where config.json leaves them out. */
const SOFTMAX_DEFAULTS = {
  mixtral: { experts: 8, topK: 2 },
  granitemoehybrid: { experts: 8, topK: 2 },
  granitemoe: { experts: 8, topK: 2 },
  granitemoeshared: { experts: 8, topK: 2 },
  qwen2_moe: { experts: 60, topK: 4 },
  qwen3_moe: { experts: 128, topK: 8 },
  olmoe: { experts: 64, topK: 8 },
  qwen3_5_moe_text: { experts: 256, topK: 8 },
  qwen3_next: { experts: 512, topK: 10 },
  qwen3_vl_moe_text: { experts: 60, topK: 4 },
  gpt_oss: { experts: 128, topK: 4 },
} as const;

/**
 * Mixtral's kin: a softmax router (GPT-OSS's and Granite 4.0-H's over the top k logits), Qwen2-MoE's, Qwen 3.5-MoE's
 * and Qwen3-Next's with a gated shared expert, fused experts where the family saves them so.
 */
function softmaxExperts(c: HfConfig, family: keyof typeof SOFTMAX_DEFAULTS, layers: number, file: string): MoeSpec {
  const qwen35 = family === 'qwen3_5_moe_text';
  const qwenNext = family === 'qwen3_next';
  const qwenVl = family === 'qwen3_vl_moe_text';
  // Qwen3MoeConfig saves num_experts as num_local_experts (transformers 5), hub configs as num_experts
  const expertsKey = c.num_local_experts !== undefined ? 'num_local_experts' : 'num_experts';
  const experts = positiveInteger(c, expertsKey, file, SOFTMAX_DEFAULTS[family].experts);
  const topK = positiveInteger(c, 'num_experts_per_tok', file, SOFTMAX_DEFAULTS[family].topK);
  if (topK > experts)
    throw refuse(file, 'num_experts_per_tok', `num_experts_per_tok (${topK}) is more than the ${experts} experts`, SAVED_HINT);
  const qwen = family === 'qwen2_moe' || family === 'qwen3_moe' || qwenNext || qwenVl;
  // Qwen2MoeDecoderLayer and Qwen3NextDecoderLayer: sparse where layer_idx not in mlp_only_layers and (layer_idx + 1) %
  // decoder_sparse_step == 0; Qwen3_5MoeDecoderLayer: every layer sparse (its config has neither key)
  const step = qwen ? positiveInteger(c, 'decoder_sparse_step', file, 1) : 1;
  const only = qwen ? (c.mlp_only_layers ?? []) : [];
  if (!Array.isArray(only) || only.some((l) => !Number.isInteger(l)))
    throw refuse(file, 'mlp_only_layers', 'mlp_only_layers must list layer indices', SAVED_HINT);
  const sparseLayers = Array.from({ length: layers }, (_, l) => !qwen || (!(only as number[]).includes(l) && (l + 1) % step === 0));
  // Qwen3NextConfig's moe_intermediate_size and shared_expert_intermediate_size default to 512
  const sized = (key: string) => positiveInteger(c, key, file, qwen35 || qwenNext ? 512 : qwenVl ? 1408 : undefined);
  return {
    experts,
    topK,
    // MixtralTopKRouter, Qwen3_5MoeTopKRouter and Qwen3VLMoeTextTopKRouter always renormalise; Qwen3NextTopKRouter unless norm_topk_prob is
    // false; the others when norm_topk_prob (default false)
    normalise: family === 'mixtral' || qwen35 || qwenVl || (qwenNext ? c.norm_topk_prob !== false : c.norm_topk_prob === true),
    // MixtralExperts and OlmoeExperts: intermediate_size; Qwen's: moe_intermediate_size
    intermediate: qwen || qwen35 ? sized('moe_intermediate_size') : positiveInteger(c, 'intermediate_size', file),
    // Qwen2-MoE's and Qwen 3.5-MoE's shared expert, gated by sigmoid(shared_expert_gate(x))
    sharedIntermediate: family === 'qwen2_moe' || qwen35 || qwenNext ? sized('shared_expert_intermediate_size') : undefined,
    sparseLayers,
    fused:
      family === 'gpt_oss'
        ? 'gpt_oss'
        : family === 'granitemoehybrid' || family === 'granitemoe' || family === 'granitemoeshared'
          ? 'granite'
          : qwenVl
            ? 'qwen3_vl'
            : undefined,
    mixtralNames: family === 'mixtral',
    dispatch: expertDispatch(experts, sparseLayers.filter(Boolean).length),
  };
}

/** GptOssExperts' clamp (its `limit`, fixed in the class: moeBlock.ts). */
export const GPT_OSS_LIMIT = 7;

/**
 * GptOssConfig's keys beyond Llama's: `swiglu_limit` (in the released config.json) is not read by GptOssExperts,
 * whose limit is 7: another value is refused, as other runtimes would apply it.
 */
export function refuseOtherSwigluLimit(c: HfConfig, file: string): void {
  if (c.swiglu_limit !== undefined && c.swiglu_limit !== null && c.swiglu_limit !== GPT_OSS_LIMIT)
    throw refuse(
      file,
      'swiglu_limit',
      `swiglu_limit ${JSON.stringify(c.swiglu_limit)} is not built: transformers' GptOssExperts clamps at ${GPT_OSS_LIMIT} whatever it says`,
      EXPORT_HINT,
    );
}
