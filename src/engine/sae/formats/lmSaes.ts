import * as fs from 'fs';
import * as path from 'path';
import { readSafetensorsHeader, type SafetensorsHeader } from '../../io/safetensorsHeader';
import { readTorchCheckpoint, stateDictIndex } from '../../io/torchCheckpoint';
import { readTensors } from '../safetensors';
import type { SaeArchitecture, SaeFormatModule, SaeInfo, SaeWeights } from '../types';
import { need, unitDecoder } from '../weights';
import { hookOf, readConfigObject, refuse } from './common';
import { linearWeights } from './linearWeights';

/**
 * OpenMOSS's Language-Model-SAEs as it stood when it trained and released Llama Scope (fnlp/Llama-Scope; lm-saes
 * 0.1.0, commit ceb3726f, October 2024): a run's folder with `hyperparams.json` (SAEConfig) and the weights where
 * SparseAutoEncoder.from_config looks for them (sae_weights, checkpoints/pruned, checkpoints/final; each .safetensors,
 * else .pt, read weights-only): encoder.weight [d_sae, d_model],
 * encoder.bias, decoder.weight [d_model, d_sae], decoder.bias, in their training form. Read as from_config reads them
 * (sae.py):
 * 1. norm_activation dataset-wise (standardize_parameters_of_dataset_activation_scaling): with s = sqrt(d_model) /
 *    dataset_average_activation_norm[in | out], encoder.bias / s_in, decoder.bias / s_out, decoder.weight · s_in /
 *    s_out, and the input is not scaled any more;
 * 2. sparsity_include_decoder_norm (transform_to_unit_decoder_norm): the decoder's columns to unit norm, the encoder's
 *    rows and bias times those norms;
 * 3. encode: x (minus decoder.bias with apply_decoder_bias_to_pre_encoder), encoder(x), then act_fn: relu; jumprelu
 *    (pre where pre > jump_relu_threshold, one threshold for every latent); topk (the top_k of relu(pre)); decode:
 *    decoder(f).
 * SAEConfig's defaults of that version fill the keys a file leaves out, and keys it does not know are ignored, as
 * from_dict ignores them. LM-SAEs does steps 1 and 2 in the stored dtype (bfloat16 for Llama Scope: one more rounding
 * per weight); here in float32, on the weights widened from their stored type. Refused: transcoders (hook_point_out),
 * use_glu_encoder, token-wise and batch-wise normalisation, a negative jump_relu_threshold (LM-SAEs passes negative
 * pre-activations above it, the engine's JumpReLU does not), act_fn topk with a jump_relu_threshold (from_config
 * announces a JumpReLU but encode still runs top-k), and any tensor beyond the four.
 */

const CONFIG = 'hyperparams.json';
/** from_config's ckpt_prioritized_paths, in its order: a .pt holds torch.save({"sae": state dict, "version"}). */
const WEIGHTS = [
  'sae_weights.safetensors',
  'sae_weights.pt',
  path.join('checkpoints', 'pruned.safetensors'),
  path.join('checkpoints', 'pruned.pt'),
  path.join('checkpoints', 'final.safetensors'),
  path.join('checkpoints', 'final.pt'),
];
const TENSORS = ['encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias'];
/** SAEConfig's defaults at ceb3726f, for the keys that change what the SAE computes. */
const DEFAULTS = {
  use_decoder_bias: true,
  apply_decoder_bias_to_pre_encoder: true,
  act_fn: 'relu',
  jump_relu_threshold: 0,
  norm_activation: 'token-wise',
  sparsity_include_decoder_norm: true,
  use_glu_encoder: false,
  top_k: 50,
};

interface LmSaesSettings {
  architecture: SaeArchitecture;
  /** The JumpReLU threshold of every latent. */
  threshold?: number;
  k?: number;
  /** s_in and s_out of a dataset-wise normalisation. */
  scales?: { in: number; out: number };
  unitDecoder: boolean;
  useDecoderBias: boolean;
  description: string;
}

function configOf(folder: string): { file: string; cfg: Record<string, any> } {
  const file = path.join(folder, CONFIG);
  const raw = readConfigObject(file);
  return { file, cfg: { ...DEFAULTS, ...Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)) } };
}

/**
 * Its later versions (2025 on, Llama Scope R1 Distill's) save `config.json` (hook_point_in, expansion_factor) beside
 * sae_weights.safetensors, and not the dataset-wise activation norm its encoder needs (SparseAutoEncoder.save_pretrained:
 * "TODO: save dataset_average_activation_norm"; SAELens reads them with a norm_scaling_factor of its own,
 * pretrained_saes.yaml). Recognised, to be refused as that, not read as another library's folder.
 */
const LATER_CONFIG = 'config.json';

function laterLayout(folder: string): boolean {
  try {
    const cfg = readConfigObject(path.join(folder, LATER_CONFIG));
    return typeof cfg.hook_point_in === 'string' && cfg.expansion_factor !== undefined;
  } catch {
    return false;
  }
}

function weightsFile(folder: string): string {
  const file = WEIGHTS.map((f) => path.join(folder, f)).find((f) => fs.existsSync(f));
  if (!file) throw refuse(folder, `No SAE weights beside ${CONFIG}`, `Language-Model-SAEs keeps them in ${WEIGHTS.join(', ')}.`);
  return file;
}

/** The weights' tensors, located in a safetensors file or in the "sae" state dict of a torch.save archive. */
function weightsIndex(file: string): SafetensorsHeader {
  if (!file.endsWith('.pt')) return readSafetensorsHeader(file);
  const index = stateDictIndex(readTorchCheckpoint(file), 'sae');
  if (!index)
    throw refuse(file, `${path.basename(file)} holds no "sae" state dict`, 'Save the SAE with SparseAutoEncoder.save_pretrained.');
  return index;
}

function positive(cfg: Record<string, any>, key: string, file: string): number {
  const v = cfg[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw refuse(file, `${key} is ${JSON.stringify(v)}, not a positive number`, 'The config is damaged.');
  return v;
}

function settingsOf(cfg: Record<string, any>, file: string, dIn: number): LmSaesSettings {
  if (cfg.hook_point_out !== undefined && cfg.hook_point_out !== null && cfg.hook_point_out !== cfg.hook_point_in)
    throw refuse(
      file,
      `hook_point_out '${cfg.hook_point_out}' differs from hook_point_in '${cfg.hook_point_in}': this is a transcoder`,
      'Use an SAE, whose output reconstructs its input.',
    );
  if (cfg.use_glu_encoder === true)
    throw refuse(file, 'use_glu_encoder: a gated (GLU) encoder is not built', 'Use an SAE without use_glu_encoder.');
  const threshold = cfg.jump_relu_threshold;
  if (typeof threshold !== 'number' || !Number.isFinite(threshold))
    throw refuse(file, `jump_relu_threshold is ${JSON.stringify(threshold)}, not a number`, 'The config is damaged.');
  const act = String(cfg.act_fn).toLowerCase();
  let architecture: SaeArchitecture;
  let description: string;
  if (act === 'relu') {
    architecture = 'standard';
    description = 'relu';
  } else if (act === 'topk' && threshold > 0) {
    // from_config sets cfg.act_fn to jumprelu ("Converting topk activation to jumprelu for inference") after the
    // constructor has built the top-k activation, which encode keeps using: what it means and what it runs differ
    throw refuse(
      file,
      `act_fn topk with jump_relu_threshold ${threshold}: Language-Model-SAEs announces a JumpReLU for inference but still runs top-k`,
      'Set act_fn to jumprelu (the threshold) or jump_relu_threshold to 0 (top-k), whichever the SAE was calibrated for.',
    );
  } else if (act === 'jumprelu') {
    if (threshold < 0)
      throw refuse(
        file,
        `jump_relu_threshold ${threshold} is negative: Language-Model-SAEs passes negative pre-activations above it, which the engine's JumpReLU does not`,
        'Use an SAE with a threshold of 0 or more.',
      );
    architecture = 'jumprelu';
    description = `jumprelu, threshold ${threshold}`;
  } else if (act === 'topk') {
    architecture = 'topk';
    description = `topk, k ${positive(cfg, 'top_k', file)}`;
  } else throw refuse(file, `act_fn '${cfg.act_fn}' is not known`, 'Language-Model-SAEs of October 2024 has relu, jumprelu and topk.');
  const norm = String(cfg.norm_activation);
  let scales: LmSaesSettings['scales'];
  if (norm === 'dataset-wise') {
    const avg = cfg.dataset_average_activation_norm;
    if (!avg || typeof avg !== 'object')
      throw refuse(file, 'norm_activation is dataset-wise but dataset_average_activation_norm is missing', 'The config is damaged.');
    const s = (k: 'in' | 'out') => {
      const v = avg[k];
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
        throw refuse(file, `dataset_average_activation_norm.${k} is ${JSON.stringify(v)}, not a positive number`, 'The config is damaged.');
      return Math.sqrt(dIn) / v;
    };
    scales = { in: s('in'), out: s('out') };
  } else if (norm !== 'none' && norm !== 'inference')
    throw refuse(
      file,
      `norm_activation '${norm}' scales each ${norm === 'batch-wise' ? 'batch' : 'token'} by its own norm, which is not built`,
      'Use an SAE with dataset-wise normalisation (Llama Scope) or none.',
    );
  return {
    architecture,
    threshold: architecture === 'jumprelu' ? threshold : undefined,
    k: architecture === 'topk' ? cfg.top_k : undefined,
    scales,
    unitDecoder: cfg.sparsity_include_decoder_norm === true,
    useDecoderBias: cfg.use_decoder_bias !== false,
    description: `Language-Model-SAEs ${description}${scales ? ', dataset-wise normalisation folded in' : ''}`,
  };
}

function readInfo(folder: string): SaeInfo {
  if (!fs.existsSync(path.join(folder, CONFIG)) && laterLayout(folder))
    throw refuse(
      path.join(folder, LATER_CONFIG),
      `This SAE was saved by a later Language-Model-SAEs (${LATER_CONFIG} with hook_point_in; Llama Scope R1 Distill's layout), which does not save the dataset-wise activation norm its encoder expects, so sae-diff cannot read it as it was trained`,
      'Load it with SAELens (SAE.from_pretrained on its release, e.g. llama_scope_r1_distill, which folds in the norm it knows) and save it with sae.save_model: sae-diff reads that folder.',
    );
  const { file, cfg } = configOf(folder);
  const weights = weightsFile(folder);
  const header = weightsIndex(weights);
  const extra = [...header.tensors.keys()].filter((n) => !TENSORS.includes(n));
  if (extra.length > 0)
    throw refuse(
      weights,
      `The weights hold ${extra.join(', ')}, beside the encoder and decoder a Language-Model-SAEs SAE of October 2024 has`,
      'A later Language-Model-SAEs wrote them; it is not built.',
    );
  const encoder = header.tensors.get('encoder.weight');
  if (!encoder || encoder.shape.length !== 2)
    throw refuse(weights, 'The weights have no encoder.weight matrix', 'The file is damaged or of another library.');
  const [dSae, dIn] = encoder.shape;
  if (cfg.d_model !== undefined && cfg.d_model !== dIn)
    throw refuse(
      file,
      `d_model is ${cfg.d_model} but encoder.weight is [${encoder.shape}]`,
      'The config and weights are of different SAEs.',
    );
  const settings = settingsOf(cfg, file, dIn);
  const hook = hookOf(typeof cfg.hook_point_in === 'string' ? cfg.hook_point_in : undefined, 'hook_point_in', file);
  const lmConfig = path.join(folder, 'lm_config.json');
  const modelName = fs.existsSync(lmConfig) ? readConfigObject(lmConfig).model_name : undefined;
  const info: SaeInfo = {
    folder,
    format: 'lm_saes',
    architecture: settings.architecture,
    dIn,
    dSae,
    dtype: encoder.dtype,
    hookName: cfg.hook_point_in,
    hookLayer: hook.layer,
    hookPoint: hook.point,
    kSae: settings.k,
    applyBDecToInput: settings.useDecoderBias && cfg.apply_decoder_bias_to_pre_encoder === true,
    weightsFile: weights,
    normalization: 'none',
    modelName: typeof modelName === 'string' ? modelName : undefined,
    sourceKind: settings.description,
  };
  return info;
}

function loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  const { dIn: d, dSae: m, weightsFile: file } = info;
  const { file: configFile, cfg } = configOf(info.folder);
  const settings = settingsOf(cfg, configFile, d);
  const axis: Record<string, 0 | 1> = { 'encoder.weight': 0, 'encoder.bias': 0, 'decoder.weight': 1 };
  const t = readTensors(file, weightsIndex(file), undefined, latents && { ids: latents, axisOf: (name) => axis[name] });
  const width = latents?.length ?? m;
  const { W_enc, W_dec } = linearWeights(t, file, { encoder: 'encoder.weight', decoder: 'decoder.weight' }, d, m, width);
  const b_enc = need(t, 'encoder.bias', file, [m]);
  const b_dec = settings.useDecoderBias ? need(t, 'decoder.bias', file, [d]) : new Float32Array(d);
  // from_config: standardize_parameters_of_dataset_activation_scaling (the bias over s_in, the decoder times
  // s_in / s_out, its bias over s_out), then transform_to_unit_decoder_norm
  const sIn = settings.scales?.in ?? 1;
  const sOut = settings.scales?.out ?? 1;
  const standardised = { W_enc, b_enc: b_enc.map((b) => b / sIn), W_dec: W_dec.map((w) => w * (sIn / sOut)) };
  const hint = 'Language-Model-SAEs cannot normalise it either; the SAE is damaged.';
  return {
    ...info,
    dSae: width,
    ...(settings.unitDecoder ? unitDecoder(standardised, width, d, file, hint, latents) : standardised),
    b_dec: b_dec.map((b) => b / sOut),
    threshold: settings.threshold !== undefined ? new Float32Array(width).fill(settings.threshold) : undefined,
  };
}

export const lmSaesFormat: SaeFormatModule = {
  name: 'lm_saes',
  watchedFiles: [CONFIG, ...WEIGHTS],
  detect: (folder) => fs.existsSync(path.join(folder, CONFIG)) || laterLayout(folder),
  readInfo,
  loadWeights,
};
