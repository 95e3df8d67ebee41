import type { SourceLocation } from '../core/errors';

import { sectionDefaults } from './schema';
import type {
  ChatTemplateFrom,
  HookPoint,
  MetricsConfig,
  PrependBos,
  ProviderRequest,
  RuntimeConfig,
  SaeFormat,
} from '../../shared/configTypes';

// The enums and the metrics/runtime key lists are generated from the schema (their one definition).
// HookPoint: where the SAE reads the model (TransformerLens names); ReductionRequest: see runtime/reduction.ts.
export type {
  ChatTemplateFrom,
  HookPoint,
  MetricsConfig,
  PrependBos,
  ProviderRequest,
  ReductionRequest,
  RuntimeConfig,
  SaeFormat,
} from '../../shared/configTypes';
export type ExecutionProviderName = Exclude<ProviderRequest, 'auto'>;

export interface ModelSpec {
  name: string;
  /** Absolute folder. */
  path: string;
  onnxFile?: string;
  /** Config key of this model, for error messages (e.g. `models.sft`). */
  key: string;
  /** The written value, when it reads as a Hugging Face id and names no folder (see modelId.ts). */
  hubId?: string;
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
  dataset: {
    /** Absolute: a prompts file or a folder; for a hub id, where a folder of that name would be. */
    path: string;
    /** A Hugging Face dataset id, when path does not exist and the value reads as one (config/modelId.ts). */
    hubId?: string;
    /** The split and subset a folder or a hub id is read for (data/datasetSource.ts). */
    split: string;
    subset?: string;
    /** dataset.field: the record key that holds each prompt, when records are not recognised by their keys. */
    field?: string;
    maxSamples?: number;
    excludeBos: boolean;
    chatTemplateFrom: ChatTemplateFrom;
    prependBos: PrependBos;
  };
  metrics: MetricsConfig;
  runtime: RuntimeConfig;
  /** The runtime keys the file writes (the others are defaults), e.g. to choose a GPU batch size only when none is set. */
  runtimeKeysSet?: ReadonlySet<string>;
  output: { format: 'json'; savePath: string };
  /** Where a config key is written, for errors that name the line. */
  locate(keyPath: string): SourceLocation;
}

/** Every metrics key at the schema's default. */
export const DEFAULT_METRICS = sectionDefaults('metrics') as unknown as MetricsConfig;

/** Every runtime key at the schema's default. */
export const DEFAULT_RUNTIME = sectionDefaults('runtime') as unknown as RuntimeConfig;
