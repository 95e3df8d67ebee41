/**
 * NVIDIA's Nemotron-H decoder (model_type nemotron_h: Nemotron-H 4B / 8B, Nemotron Nano 2) as its config.json describes
 * it, read as transformers 5.18's configuration_nemotron_h.py reads it: blocks of one mixer each, named by
 * layers_block_type ("linear_attention" Mamba2, "full_attention", "mlp", "moe") or hybrid_override_pattern ("M", "*",
 * "-", "E"); the Mamba2 mixer's mamba_num_heads × mamba_head_dim inner width, n_groups (also the gated norm's groups),
 * ssm_state_size, conv_kernel, use_conv_bias, use_bias, dt clamped from time_step_min; attention without positions;
 * the MLP's mlp_hidden_act (relu2) without a gate; Nemotron 3's mixtures of experts ("moe" blocks: n_routed_experts,
 * num_experts_per_tok, n_group / topk_group, norm_topk_prob, routed_scaling_factor, moe_intermediate_size,
 * moe_shared_expert_intermediate_size, moe_latent_size; nemotronMoe.ts).
 */
import {
  EXPORT_HINT,
  expertDispatch,
  groupedRouting,
  type GroupedRouting,
  positiveInteger,
  positiveNumber,
  refuse,
  refuseQuantised,
  SAVED_HINT,
} from './configKeys';
import type { MambaSpec } from './mixerConfig';

type HfConfig = Record<string, unknown>;

export type NemotronHBlock = 'mamba' | 'attention' | 'mlp' | 'moe';

/** Nemotron 3's experts (NemotronHMoE): routed by NemotronHTopkRouter (DeepSeek-V3's grouped routing), beside shared experts. */
export interface NemotronMoeSpec extends GroupedRouting {
  intermediate: number;
  sharedIntermediate: number;
  /** moe_latent_size: the experts run on a projection of this width. */
  latent?: number;
  /** mlp_bias: the shared experts' and latent projections' biases. */
  bias: boolean;
  dispatch: 'sparse' | 'dense';
}

export interface NemotronHSpec {
  family: 'nemotron_h';
  hidden: number;
  layers: number;
  blocks: NemotronHBlock[];
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  mlpBias: boolean;
  eps: number;
  mamba: MambaSpec;
  moe?: NemotronMoeSpec;
  tiedEmbeddings: boolean;
  visionTower?: undefined;
}

const PATTERN: Record<string, string> = { M: 'linear_attention', E: 'moe', '*': 'full_attention', '-': 'mlp' };
const LEGACY: Record<string, string> = { mamba: 'linear_attention', attention: 'full_attention' };

export function nemotronHSpec(c: HfConfig, file: string): NemotronHSpec {
  refuseQuantised(c, file);
  const key =
    c.layers_block_type !== undefined ? 'layers_block_type' : c.layer_types !== undefined ? 'layer_types' : 'hybrid_override_pattern';
  const written = c[key];
  const types =
    typeof written === 'string'
      ? [...written].map((ch) => PATTERN[ch] ?? ch)
      : Array.isArray(written)
        ? (written as unknown[]).map((t) => (typeof t === 'string' ? (LEGACY[t] ?? t) : String(t)))
        : ['linear_attention', 'moe', 'full_attention', 'mlp'];
  const known: Record<string, NemotronHBlock> = { linear_attention: 'mamba', full_attention: 'attention', mlp: 'mlp', moe: 'moe' };
  const other = types.find((t) => !known[t]);
  if (other !== undefined)
    throw refuse(file, key, `Block type ${JSON.stringify(other)} is not built for nemotron_h checkpoints`, EXPORT_HINT);
  // NemotronHModel builds num_hidden_layers blocks, of the types listed
  const layers = positiveInteger(c, 'num_hidden_layers', file, types.length);
  if (layers !== types.length)
    throw refuse(file, key, `${key} lists ${types.length} blocks but num_hidden_layers is ${layers}`, SAVED_HINT);
  for (const [k, want] of [
    ['mlp_hidden_act', 'relu2'],
    ['mamba_hidden_act', 'silu'],
  ] as const)
    if ((c[k] ?? want) !== want)
      throw refuse(file, k, `${k} ${JSON.stringify(c[k])} is not built for nemotron_h checkpoints (${want} is)`, EXPORT_HINT);
  const hidden = positiveInteger(c, 'hidden_size', file);
  const heads = positiveInteger(c, 'num_attention_heads', file, 32);
  const kvHeads = positiveInteger(c, 'num_key_value_heads', file, heads);
  if (heads % kvHeads !== 0)
    throw refuse(
      file,
      'num_key_value_heads',
      `num_attention_heads (${heads}) is not a multiple of num_key_value_heads (${kvHeads})`,
      SAVED_HINT,
    );
  const mambaHeads = positiveInteger(c, 'mamba_num_heads', file, 128);
  const groups = positiveInteger(c, 'n_groups', file, 8);
  if (mambaHeads % groups !== 0)
    throw refuse(file, 'n_groups', `n_groups (${groups}) does not divide mamba_num_heads (${mambaHeads})`, SAVED_HINT);
  return {
    family: 'nemotron_h',
    hidden,
    layers,
    blocks: types.map((t) => known[t]),
    heads,
    kvHeads,
    headDim: positiveInteger(c, 'head_dim', file, 128),
    intermediate: positiveInteger(c, 'intermediate_size', file, 21_504),
    mlpBias: c.mlp_bias === true,
    eps: positiveNumber(c, 'layer_norm_epsilon', 1e-5, file),
    mamba: {
      layers: types.map((t) => t === 'linear_attention'),
      heads: mambaHeads,
      headDim: positiveInteger(c, 'mamba_head_dim', file, 64),
      groups,
      stateSize: positiveInteger(c, 'ssm_state_size', file, 128),
      convKernel: positiveInteger(c, 'conv_kernel', file, 4),
      convBias: c.use_conv_bias !== false,
      projBias: c.use_bias === true,
      // NemotronHMamba2Mixer: time_step_limit = (time_step_min, inf), whatever time_step_limit says
      dtLimit: [positiveNumber(c, 'time_step_min', 0.001, file), Infinity],
      normGroups: groups,
    },
    moe: types.includes('moe') ? moeOf(c, file, types.filter((t) => t === 'moe').length) : undefined,
    tiedEmbeddings: c.tie_word_embeddings === true,
  };
}

/** NemotronHConfig's experts (its defaults where config.json leaves a key out), checked as its router needs them. */
function moeOf(c: HfConfig, file: string, moeLayers: number): NemotronMoeSpec {
  // NemotronHConfig maps num_local_experts to n_routed_experts
  const experts = positiveInteger(c, ['n_routed_experts', 'num_local_experts'], file, 8);
  const topK = positiveInteger(c, 'num_experts_per_tok', file, 2);
  const routing = groupedRouting(c, file, experts, topK);
  const latent = c.moe_latent_size === undefined || c.moe_latent_size === null ? undefined : positiveInteger(c, 'moe_latent_size', file);
  return {
    experts,
    topK,
    ...routing,
    scoring: 'sigmoid',
    intermediate: positiveInteger(c, 'moe_intermediate_size', file, 7688),
    sharedIntermediate: positiveInteger(c, 'moe_shared_expert_intermediate_size', file, 7688),
    latent,
    bias: c.mlp_bias === true,
    dispatch: expertDispatch(experts, moeLayers),
  };
}
