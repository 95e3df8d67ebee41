/**
 * The report file (docs/report-format.md). Required fields keep their names and meanings; the rest are
 * additions this tool makes. The webview, the CLI and outside checks read this shape.
 */
import type { HookPoint, ProviderRequest } from './configTypes';
/** A model as run.config names it. */
export interface ConfigModel {
  name: string;
  path: string;
  onnx_file?: string;
}

/**
 * run.config: the resolved config (paths absolute), as src/engine/config/load.ts configToJson writes it.
 * Every key is optional for readers: the report check (reportCheck.ts) only requires an object, and older
 * reports may differ. Metrics, runtime and output hold the config's own keys (docs/report-format.md).
 */
export interface RunConfig {
  config_path?: string;
  models?: { base: ConfigModel; sft: ConfigModel[]; reference?: ConfigModel };
  sae?: { path: Record<string, string>; k: number; format: string; check_hook_layer?: boolean; labels?: Record<string, string> };
  layers?: { target_indices: number[]; hook_mode?: string; hook_point: HookPoint; tensor_names?: Record<string, string> };
  dataset?: {
    path: string;
    split?: string;
    subset?: string;
    max_samples: number | null;
    exclude_bos: boolean;
    chat_template_from?: string;
    field?: string;
    prepend_bos?: string;
  };
  metrics?: { [key: string]: number };
  runtime?: { [key: string]: unknown };
  output?: { [key: string]: unknown };
}

export type LayerFlag = 'hidden_shift' | 'divergent' | 'low_fidelity' | 'coverage_drop';
export type FeatureCategory = 'emerged' | 'vanished' | 'amplified' | 'suppressed';

/** One top-activating context: a few tokens of text around the token that fired. */
export interface ActivatingContext {
  activation: number;
  /** Index of the prompt in the dataset, and token position within it (0 = BOS). */
  sample: number;
  position: number;
  /** Decoded text before the token, the token itself, and after it. */
  before: string;
  token: string;
  after: string;
  /** Version 2: the window's tokens (up to 24 before, the token, up to 4 after), each decoded alone. */
  tokens?: string[];
  token_ids?: number[];
  /** The feature's activation at each token of the window, from a replay of the model and the SAE. */
  activations?: number[];
  /** Index in `tokens` of the token that fired. */
  focus?: number;
  /** The index, in the same list, of a context with the same near text (shown once). */
  duplicate_of?: number;
}

export interface ShiftedFeature {
  id: number;
  category: FeatureCategory;
  freq_base: number;
  freq_sft: number;
  mean_base: number;
  mean_sft: number;
  mean_abs_diff: number;
  label?: string;
  /** Passes Benjamini-Hochberg at the run's false discovery rate (paired test of the activation change). */
  significant?: boolean;
  p_value?: number;
  q_value?: number;
  /** 95% Wilson intervals of the firing frequencies. */
  freq_base_ci?: [number, number];
  freq_sft_ci?: [number, number];
  /** Mean change of the feature's pre-activation, sft - base. */
  pre_activation_shift?: number;
  /** JumpReLU / TopK: the shift is within the threshold margin, so the category is likely an artefact. */
  near_threshold?: boolean;
  /** Top activating contexts in each model (highest activation first). */
  contexts?: { base: ActivatingContext[]; sft: ActivatingContext[] };
  /** Top tokens of W_dec[f] · W_U (W_U: the base model's unembedding), highest first / lowest first. */
  logit_effects?: { promoted: LogitEffectEntry[]; suppressed: LogitEffectEntry[] };
  /** The feature's page on Neuronpedia, when the SAE's cfg.json names a Neuronpedia id. */
  neuronpedia_url?: string;
}

export interface LogitEffectEntry {
  token: string;
  id: number;
  value: number;
}

/** Parallel arrays: entry i of each describes one feature. Compact (one JSON number per value, no keys). */
export interface FeatureColumns {
  id: number[];
  category: FeatureCategory[];
  freq_base: number[];
  freq_sft: number[];
  mean_base: number[];
  mean_sft: number[];
  mean_abs_diff: number[];
  q_value?: number[];
  significant?: boolean[];
  near_threshold?: boolean[];
  /** null where the feature has no label; absent when the SAE has no labels. */
  label?: (string | null)[];
}

/**
 * Per-feature histograms of firing activations (z > 0) in fixed bins: bin 0 is (0, edges[0]], bin j is
 * (edges[j-1], edges[j]], the last bin is above the last edge; a feature's bins sum to its firing count.
 */
export interface ActivationHistograms {
  /** Bin edges, ascending (edges.length + 1 bins). */
  edges: number[];
  /** Feature ids, ascending. */
  id: number[];
  /** Per feature, in the order of id: counts per bin in base and in this fine-tune. */
  base: number[][];
  sft: number[][];
}

export interface LayerReport {
  layer: number;
  dense_cosine: number;
  recon_cosine: number;
  feature_overlap: number;
  active_jaccard: number;
  l1_divergence: number;
  norm_ratio: number;
  l0_base: number;
  l0_sft: number;
  explained_variance_base: number;
  explained_variance_sft: number;
  flags: LayerFlag[];
  /** How many features are not stable (the list below holds the first `metrics.top_features`). */
  shifted_count: number;
  /** Count of each category over all features. */
  category_counts: Record<FeatureCategory, number>;
  shifted_features: ShiftedFeature[];
  /**
   * Version 2: every shifted feature of the layer (not only the first top_features), as parallel columns
   * in the same order as shifted_features (mean_abs_diff descending, ties by lower id). Absent in version 1.
   */
  all_shifted?: FeatureColumns;
  /**
   * Version 3: activation histograms of every feature shifted at this layer in any fine-tune of the report,
   * in base and in this fine-tune (docs/report-format.md). Absent in versions 1 and 2.
   */
  activation_histograms?: ActivationHistograms;
  /** The hooked ONNX tensor in base and in the fine-tune. */
  hook_tensor?: { base: string; sft: string };
  /** Per category, the shifted features that are significant. */
  significant_counts?: Record<FeatureCategory, number>;
  /** Means over T of |Δh|^2, Δh·Δr (inside the dictionary) and Δh·Δe (outside); inside + outside = delta_sq. */
  decomposition?: {
    delta_sq: number;
    inside: number;
    outside: number;
    fraction_inside: number;
    mean_norm_base: number;
    mean_norm_sft: number;
  };
  /** The same metrics for base vs the reference model (models.reference). */
  noise_floor?: { dense_cosine: number; feature_overlap: number; l1_divergence: number; recon_cosine: number };
  /** The fine-tune's divergence above the floor (sft - floor; 1 - x for overlap and cosine). */
  relative_to_floor?: { l1_divergence: number; one_minus_overlap: number; one_minus_dense_cosine: number };
  within_noise_floor?: boolean;
  /** Flags the thresholds raised but the noise floor cancelled. */
  flags_suppressed_by_floor?: LayerFlag[];
  self_check?: SelfCheck;
}

/** Does the base SAE describe the base model at this hook as it should? A failure means a wrong hook, BOS handling or normalisation. */
export interface SelfCheck {
  ok: boolean;
  l0_base: number;
  explained_variance_base: number;
  declared_l0?: number;
  declared_explained_variance?: number;
  messages: string[];
}

export interface ComparisonReport {
  sft: { name: string; path: string };
  layers: LayerReport[];
}

export interface SaeInfo {
  layer: number;
  path: string;
  format: string;
  architecture: string;
  d_in: number;
  d_sae: number;
  dtype: string;
  hook_name?: string;
  /**
   * The activations were centred over the hidden axis before this SAE read them (and for every metric), as
   * TransformerLens's center_writing_weights centres a LayerNorm model's stream, which the SAE was trained on.
   */
  centred?: boolean;
  /**
   * At attn_z: each head's value bias was taken out of z before this SAE read it (and for every metric), as
   * TransformerLens's fold_value_biases moves it into b_O in the model the SAE was trained on.
   */
  value_biases_folded?: boolean;
}

/** One fine-tune's divergence profile across depth (several fine-tunes in one run). */
export interface FineTuneProfile {
  sft: string;
  layers: { layer: number; one_minus_overlap: number; l1_divergence: number }[];
  /** The layer with the highest l1_divergence. */
  peak_layer: number;
  /** Share of the summed l1_divergence that sits in the peak layer. */
  peak_share: number;
  /** 1 - normalised entropy of l1_divergence over layers: 0 = spread evenly, 1 = all in one layer. */
  concentration: number;
}

export interface SharedFeature {
  layer: number;
  id: number;
  /** Category in each fine-tune where the feature shifted. */
  categories: Record<string, FeatureCategory>;
  /** Summed mean_abs_diff over those fine-tunes (the order of the list). */
  mean_abs_diff_sum: number;
  label?: string;
}

/** How several fine-tunes differ from each other (present when models.sft lists two or more). */
export interface FineTuneComparison {
  profiles: FineTuneProfile[];
  /** Cosine similarity of the profile vectors (1 - overlap and l1_divergence, layer by layer). */
  profile_similarity: { a: string; b: string; cosine: number }[];
  /** Per layer: features shifted in two or more fine-tunes, and how many are unique to each one. */
  shared_features: SharedFeature[];
  shared_count: Record<string, number>;
  unique_count: Record<string, Record<string, number>>;
  /** Per fine-tune, its most shifted features that no other fine-tune shifts. */
  unique_features: Record<string, { layer: number; id: number; category: FeatureCategory; mean_abs_diff: number; label?: string }[]>;
}

export interface SaeDiffReport {
  format: 'sae-diff-report';
  /** 2 adds all_shifted (every shifted feature), 3 activation_histograms; readers accept 1 to 3. */
  version: 1 | 2 | 3;
  complete: boolean;
  run: {
    tool_version: string;
    started_at: string;
    duration_s: number;
    execution_provider: Exclude<ProviderRequest, 'auto'>;
    /** Why that provider ran (auto choice, fallback). */
    execution_provider_reason?: string;
    config: RunConfig;
    /** |T|, the number of evaluated tokens. */
    tokens: number;
    samples: number;
    hook_point: HookPoint;
    saes: SaeInfo[];
    warnings: string[];
    /** Seconds per stage. */
    timings?: Record<string, number>;
    /** False discovery rate of the significance filter. */
    fdr?: number;
    self_check_failed?: boolean;
    /** Base and fine-tune differ in tokenizer, chat template or special tokens, or prompts get a double BOS. */
    parity_warnings?: string[];
    /** Prompts that got the tokenizer's BOS put first, as the SAEs were trained (dataset.prepend_bos). */
    bos_prepended?: { token: string; prompts: number };
  };
  base: { name: string; path: string };
  comparisons: ComparisonReport[];
  /** The prompts the contexts come from, by dataset index (decoded, without the BOS), shown on demand. */
  prompts?: Record<string, string>;
  /** Present when two or more fine-tunes were compared against the base. */
  fine_tune_comparison?: FineTuneComparison;
  /** Present when models.reference was given: each layer's noise_floor is base vs this model. */
  noise_floor?: { reference: { name: string; path: string } };
  /** Sharded runs: which slice this file holds (complete is false) or which slices were merged. */
  shard?: { index: number; count: number } | { merged: number };
  /** Partial files only: the additive state that `sae-diff merge` combines. */
  partial?: PartialState;
}

export interface PartialState {
  samples_total: number;
  /** Token ids of this slice's prompts, by dataset index (to render contexts after merging). */
  sequences: Record<string, number[]>;
  /** Per fine-tune (config order), per layer: the serialized accumulators. */
  accumulators: Record<string, unknown>[]; // metrics/serialize.ts SerializedAccumulator (kept opaque: this file is shared with the webview)
  /** Base tokenizer (tokenizer.json and tokenizer_config.json), to decode contexts after merging. */
  tokenizer: string;
  tokenizer_config?: string;
  labels: Record<string, Record<string, string>>;
  /** Self-check inputs: neighbouring-position fits (from the shard's first batch) and declared values. */
  self_check?: {
    fits: Record<string, { kind: string; explainedVariance: number }[]>;
    declared: Record<string, { l0?: number; explainedVariance?: number }>;
  };
  /** What the shard ran on, by path and sha256, so that merge refuses parts of different runs. */
  provenance?: Provenance;
}

/** Path and content hash of each input of a sharded run (merge compares the hashes). */
export interface Provenance {
  /** sha256 of the prompts as read (up to max_samples). */
  dataset: { path: string; sha256: string };
  /** base, each fine-tune, then models.reference: sha256 of the ONNX file(s), config.json and tokenizer.json. */
  models: { role: 'base' | 'sft' | 'reference'; name: string; path: string; sha256: string }[];
  /** Per layer: sha256 of the SAE folder's files. */
  saes: Record<string, { path: string; sha256: string }>;
}
