import type { Thresholds } from '../../shared/layerMetrics';
import type { SourceLocation } from '../core/errors';

export type ExecutionProviderName = 'cpu' | 'cuda' | 'webgpu' | 'dml' | 'coreml';
export type ProviderRequest = 'auto' | ExecutionProviderName;
/** Where the SAE reads the model (TransformerLens names): resid_mid is the stream after the attention residual add. */
export type HookPoint = 'resid_post' | 'resid_pre' | 'resid_mid' | 'attn_out' | 'mlp_out';
/** How the SAE codes are reduced: see runtime/reduction.ts. */
export type ReductionRequest = 'auto' | 'sparse' | 'dense';
export type SaeFormat = 'auto' | 'saelens' | 'sparsify' | 'gemmascope';

export interface ModelSpec {
  name: string;
  /** Absolute folder. */
  path: string;
  onnxFile?: string;
  /** Config key of this model, for error messages (e.g. `models.sft`). */
  key: string;
}

/** The flag thresholds are the registry's (src/shared/layerMetrics.ts THRESHOLD_KEYS); the rest are the config's own. */
export interface MetricsConfig extends Thresholds {
  dormant_freq: number;
  active_freq: number;
  divergence_threshold: number;
  top_features: number;
  top_contexts: number;
  fdr: number;
  threshold_margin: number;
  self_check_max_l0_ratio: number;
}

export interface RuntimeConfig {
  execution_provider: ProviderRequest;
  fallback: boolean;
  batch_size: number;
  max_tokens: number;
  sae_batch_tokens: number;
  threads: number;
  reduction: ReductionRequest;
}

export interface ResolvedConfig {
  /** Absolute path of the YAML file ('' when built in memory). */
  configPath: string;
  configDir: string;
  models: { base: ModelSpec; sfts: ModelSpec[]; reference?: ModelSpec };
  sae: {
    /** Absolute SAE folder per target layer. */
    paths: Map<number, string>;
    k: number;
    format: SaeFormat;
    checkHookLayer: boolean;
    /** Absolute labels file per layer (only the layers that have one). */
    labels: Map<number, string>;
    /** sae.labels is a {layer} template: a layer whose file is missing has no labels (a warning, not an error). */
    labelsFromTemplate?: boolean;
  };
  layers: { targets: number[]; hookPoint: HookPoint; hookMode: 'forward'; tensorNames: Map<number, string> };
  dataset: { path: string; maxSamples?: number; excludeBos: boolean; chatTemplateFrom: 'auto' | 'base' | 'sft' };
  metrics: MetricsConfig;
  runtime: RuntimeConfig;
  /** The runtime keys the file writes (the others are defaults), e.g. to choose a GPU batch size only when none is set. */
  runtimeKeysSet?: ReadonlySet<string>;
  output: { format: 'json'; savePath: string };
  /** Where a config key is written, for errors that name the line. */
  locate(keyPath: string): SourceLocation;
}

export const DEFAULT_METRICS: MetricsConfig = {
  cosine_threshold: 0.95,
  overlap_threshold: 0.5,
  l1_divergence_threshold: 0.3,
  min_explained_variance: 0.5,
  coverage_drop_threshold: 0.1,
  dormant_freq: 1e-4,
  active_freq: 1e-3,
  divergence_threshold: 0.5,
  top_features: 50,
  top_contexts: 5,
  fdr: 0.05,
  threshold_margin: 0.1,
  self_check_max_l0_ratio: 2,
};

export const DEFAULT_RUNTIME: RuntimeConfig = {
  execution_provider: 'auto',
  fallback: false,
  batch_size: 16,
  max_tokens: 256,
  sae_batch_tokens: 512,
  threads: 0,
  reduction: 'auto',
};
