import type { HookPoint, SaeFormat } from '../config/types';

export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk' | 'gated';
/** SAELens activation normalisation, applied exactly: scale in, unscale the reconstruction out. */
export type SaeNormalization = 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';

/**
 * How TransformerLens processed the model an SAE was trained on, where that changes what the SAE reads (SAELens:
 * formats/saelensProcessing.ts): the centred stream (model/centring.ts), hook_z without value biases
 * (model/valueBiasFolding.ts).
 */
export interface SaeModelProcessing {
  /** Trained on the centred stream of a LayerNorm model (center_writing_weights). */
  centre: boolean;
  /** Trained on hook_z with the value biases folded into b_O (fold_value_biases). */
  foldValueBiases: boolean;
  /** What says so, for logs and warnings. */
  source: string;
  /** A config from before SAELens 3.19.2 that does not say, though its training processed the model by default. */
  unstated?: boolean;
}

/** What an SAE is, read from its config and file headers only (no weights). */
export interface SaeInfo {
  folder: string;
  format: Exclude<SaeFormat, 'auto'>;
  architecture: SaeArchitecture;
  dIn: number;
  dSae: number;
  dtype: string;
  hookName?: string;
  /** Declared hook layer, when the SAE says. */
  hookLayer?: number;
  /** Where in the block the SAE reads the model, when the SAE says (TransformerLens names). */
  hookPoint?: HookPoint;
  /** The SAE's own k, for topk SAEs. */
  kSae?: number;
  applyBDecToInput: boolean;
  weightsFile: string;
  normalization: SaeNormalization;
  /** expected_average_only_in: the factor activations are multiplied by before encoding. */
  scalingFactor?: number;
  /** SAELens <= 5 finetuning_scaling_factor: the `scaling_factor` tensor multiplies the latents before W_dec. */
  finetuningScaling?: boolean;
  /** SAELens TopK rescale_acts_by_decoder_norm: pre-activations times |W_dec row|, latents divided by it in decode. */
  rescaleActsByDecoderNorm?: boolean;
  /** Whether the SAE's training windows began with the tokenizer's BOS (SAELens prepend_bos), when it says. */
  prependBos?: boolean;
  /** TransformerLens's processing of the model the SAE was trained on (SAELens SAEs; others read it as it is). */
  modelProcessing?: SaeModelProcessing;
  /** The model the SAE was trained on, when its config says (SAELens model_name, Gemma Scope 2 model_name). */
  modelName?: string;
  /** What the SAE is in its own library's terms, when that differs from `architecture` (dictionary_learning's class). */
  sourceKind?: string;
  /** What the SAE says it achieves on its training distribution, when it says (for the self-check). */
  declaredL0?: number;
  declaredExplainedVariance?: number;
}

/** Weights in SAELens layout: W_enc [d_in, d_sae], W_dec [d_sae, d_in], float32. */
export interface SaeWeights extends SaeInfo {
  W_enc: Float32Array;
  b_enc: Float32Array;
  W_dec: Float32Array;
  b_dec: Float32Array;
  threshold?: Float32Array;
  /** Gated SAEs (b_enc holds the gate bias): the magnitude path's encoder (W_enc * exp(r_mag)) and bias. */
  W_mag?: Float32Array;
  b_mag?: Float32Array;
}

/** One SAE file format (SAELens NAMED_PRETRAINED_SAE_LOADERS style: one module per source format). */
export interface SaeFormatModule {
  name: Exclude<SaeFormat, 'auto'>;
  /** The files whose presence identifies the format (and that an editor should watch). */
  watchedFiles: string[];
  detect(folder: string): boolean;
  /** Config and headers only: never reads the weights' data. */
  readInfo(folder: string): SaeInfo;
  /**
   * The weights as float32 in SAELens layout. With `latents` (feature-wise architectures only, sae/loadSae.ts
   * checks), only those latents, in that order: what saeGraph.ts's latentSubset makes of the whole SAE.
   */
  loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights;
}

/**
 * Which latents to keep, and along which axis each tensor holds them (undefined: a tensor with no latent axis,
 * such as b_dec). A tensor read with it keeps only those latents, in the order of `ids`.
 */
export interface LatentPick {
  ids: readonly number[];
  axisOf(name: string): 0 | 1 | undefined;
}
