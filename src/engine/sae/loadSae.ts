import * as fs from 'fs';
import * as path from 'path';
import type { SaeFormat } from '../config/types';
import { SaeDiffError, SourceLocation } from '../errors';
import { readJson } from '../model/modelFolder';
import { readNpz } from './npz';
import { LoadedTensor, readSafetensors, readSafetensorsHeader } from './safetensors';

export type SaeArchitecture = 'standard' | 'jumprelu' | 'topk' | 'gated';
/** SAELens activation normalisation, applied exactly: scale in, unscale the reconstruction out. */
export type SaeNormalization = 'none' | 'expected_average_only_in' | 'constant_norm_rescale' | 'layer_norm';

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
  /** The SAE's own k, for topk SAEs. */
  kSae?: number;
  applyBDecToInput: boolean;
  weightsFile: string;
  normalization: SaeNormalization;
  /** expected_average_only_in: the factor activations are multiplied by before encoding. */
  scalingFactor?: number;
  /** What the SAE says it achieves on its training distribution, when it says (for the self-check). */
  declaredL0?: number;
  declaredExplainedVariance?: number;
}

function readScalingFactor(folder: string, cfg: Record<string, any>): number | undefined {
  const keys = ['scaling_factor', 'activation_scaling_factor', 'norm_scaling_factor', 'activation_norm_scaling_factor'];
  const inCfg = firstNumber(cfg, keys);
  if (inCfg !== undefined) return inCfg;
  const scalerFile = path.join(folder, 'activation_scaler.json');
  return fs.existsSync(scalerFile) ? firstNumber(readJson(scalerFile) as Record<string, any>, keys) : undefined;
}

function firstNumber(cfg: Record<string, any>, keys: string[]): number | undefined {
  for (const k of keys) if (typeof cfg[k] === 'number' && Number.isFinite(cfg[k])) return cfg[k];
  return undefined;
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

export function detectSaeFormat(folder: string): Exclude<SaeFormat, 'auto'> | undefined {
  if (fs.existsSync(path.join(folder, 'sae_weights.safetensors'))) return 'saelens';
  if (fs.existsSync(path.join(folder, 'sae.safetensors'))) return 'sparsify';
  if (fs.existsSync(path.join(folder, 'params.npz')) || fs.existsSync(path.join(folder, 'params.safetensors'))) return 'gemmascope';
  return undefined;
}

function layerFromName(name: string | undefined): number | undefined {
  const m = name ? /(?:blocks|layers|layer|h)[._](\d+)/.exec(name) : null;
  return m ? Number(m[1]) : undefined;
}

function refuse(folder: string, message: string, hint: string, file = folder): SaeDiffError {
  return new SaeDiffError(message, { location: { file }, hint });
}

export function readSaeInfo(folder: string, format: SaeFormat = 'auto'): SaeInfo {
  if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
    throw refuse(folder, `SAE folder not found: ${folder}`, 'Check sae.path (a folder, a {layer} template, or a map layer -> folder).');
  }
  const fmt = format === 'auto' ? detectSaeFormat(folder) : format;
  if (!fmt) {
    throw refuse(folder, `No SAE in ${folder}: expected cfg.json + sae_weights.safetensors (SAELens), sae.safetensors (sparsify) or params.npz (Gemma Scope)`, 'Point sae.path at the SAE folder, or set sae.format.');
  }
  if (fmt === 'saelens') return readSaeLensInfo(folder);
  if (fmt === 'sparsify') return readSparsifyInfo(folder);
  return readGemmaScopeInfo(folder);
}

function readSaeLensInfo(folder: string): SaeInfo {
  const cfgPath = path.join(folder, 'cfg.json');
  if (!fs.existsSync(cfgPath)) throw refuse(folder, `Missing cfg.json in the SAELens folder ${folder}`, 'Save the SAE with SAELens (sae.save_model) so that cfg.json is written.');
  const cfg = readJson(cfgPath) as Record<string, any>;
  const weightsFile = path.join(folder, 'sae_weights.safetensors');
  const header = readSafetensorsHeader(weightsFile);
  const archRaw = String(cfg.architecture ?? (cfg.activation_fn_str === 'topk' ? 'topk' : 'standard'));
  if (!['standard', 'jumprelu', 'topk', 'gated'].includes(archRaw)) {
    throw refuse(folder, `SAE architecture '${archRaw}' is not supported`, 'Supported: standard, jumprelu, topk, gated.', cfgPath);
  }
  const norm = String(cfg.normalize_activations ?? 'none');
  if (!['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'].includes(norm)) {
    throw refuse(folder, `SAE activation normalisation '${norm}' is not known`, 'Supported: none, expected_average_only_in, constant_norm_rescale, layer_norm.', cfgPath);
  }
  const scalingFactor = norm === 'expected_average_only_in' ? readScalingFactor(folder, cfg) : undefined;
  if (norm === 'expected_average_only_in' && scalingFactor === undefined) {
    throw refuse(folder, 'normalize_activations is expected_average_only_in but the SAE gives no scaling factor', 'Add scaling_factor to cfg.json (or activation_scaler.json), or fold it into the weights; approximating it would give wrong numbers.', cfgPath);
  }
  const wEnc = header.tensors.get('W_enc');
  if (!wEnc) throw refuse(folder, `No W_enc tensor in ${weightsFile}`, 'The file is not SAELens weights.', weightsFile);
  const architecture = archRaw as SaeArchitecture;
  const kSae = architecture === 'topk' ? Number(cfg.activation_fn_kwargs?.k ?? cfg.k) : undefined;
  if (architecture === 'topk' && !(kSae! > 0)) throw refuse(folder, 'TopK SAE without k', 'Set activation_fn_kwargs.k in cfg.json.', cfgPath);
  if (architecture === 'jumprelu' && !header.tensors.has('threshold') && !header.tensors.has('log_threshold')) {
    throw refuse(folder, 'JumpReLU SAE without a threshold tensor', 'The weights need `threshold` (or `log_threshold`).', weightsFile);
  }
  return {
    folder, format: 'saelens', architecture,
    dIn: Number(cfg.d_in ?? wEnc.shape[0]), dSae: Number(cfg.d_sae ?? wEnc.shape[1]),
    dtype: String(cfg.dtype ?? wEnc.dtype), hookName: cfg.hook_name,
    hookLayer: cfg.hook_layer !== undefined && cfg.hook_layer !== null ? Number(cfg.hook_layer) : layerFromName(cfg.hook_name),
    kSae, applyBDecToInput: cfg.apply_b_dec_to_input ?? true, weightsFile,
    normalization: norm as SaeNormalization, scalingFactor,
    declaredL0: firstNumber(cfg, ['l0', 'expected_l0', 'average_l0', 'mean_l0']),
    declaredExplainedVariance: firstNumber(cfg, ['explained_variance', 'variance_explained', 'expected_explained_variance']),
  };
}

function readSparsifyInfo(folder: string): SaeInfo {
  const cfgPath = path.join(folder, 'cfg.json');
  const cfg = fs.existsSync(cfgPath) ? (readJson(cfgPath) as Record<string, any>) : {};
  const weightsFile = path.join(folder, 'sae.safetensors');
  const header = readSafetensorsHeader(weightsFile);
  const enc = header.tensors.get('encoder.weight');
  if (!enc) throw refuse(folder, `No encoder.weight tensor in ${weightsFile}`, 'The file is not an EleutherAI sparsify SAE.', weightsFile);
  // Real sparsify SAEs are TopK and carry k; a cfg without k means plain ReLU.
  const k = cfg.k !== undefined && cfg.k !== null ? Number(cfg.k) : undefined;
  const hookpoint = cfg.hookpoint ?? path.basename(folder);
  return {
    folder, format: 'sparsify', architecture: k ? 'topk' : 'standard',
    dIn: Number(cfg.d_in ?? enc.shape[1]), dSae: Number(cfg.num_latents ?? enc.shape[0]), dtype: enc.dtype,
    hookName: hookpoint, hookLayer: layerFromName(hookpoint), kSae: k, applyBDecToInput: true, weightsFile, normalization: 'none',
  };
}

/** Gemma Scope: params.npz (W_enc, …), or Gemma Scope 2's params.safetensors (lowercase w_enc, …). */
function readGemmaScopeTensors(folder: string): { file: string; tensors: Map<string, LoadedTensor> } {
  const npz = path.join(folder, 'params.npz');
  if (fs.existsSync(npz)) return { file: npz, tensors: readNpz(npz) };
  const st = path.join(folder, 'params.safetensors');
  const raw = readSafetensors(st);
  const tensors = new Map<string, LoadedTensor>();
  for (const [k, v] of raw) tensors.set(k.replace(/^w_/, 'W_'), v);
  return { file: st, tensors };
}

function readGemmaScopeInfo(folder: string): SaeInfo {
  const { file: weightsFile, tensors: shapes } = readGemmaScopeTensors(folder);
  const wEnc = shapes.get('W_enc');
  if (!wEnc) throw refuse(folder, `No W_enc array in ${weightsFile}`, 'The file is not a Gemma Scope SAE.', weightsFile);
  // Gemma Scope folders: layer_N/width_W/average_l0_K/params.npz
  return {
    folder, format: 'gemmascope', architecture: 'jumprelu', dIn: wEnc.shape[0], dSae: wEnc.shape[1], dtype: 'float32',
    hookName: folder, hookLayer: layerFromName(folder.replace(/\\/g, '/').split('/').find((s) => /^layer_\d+$/.test(s))),
    applyBDecToInput: false, weightsFile, normalization: 'none',
    declaredL0: (() => { const m = /average_l0_(\d+)/.exec(folder); return m ? Number(m[1]) : undefined; })(),
  };
}

function need(t: Map<string, LoadedTensor>, name: string, file: string, shape: number[]): Float32Array {
  const v = t.get(name);
  if (!v) throw new SaeDiffError(`Missing tensor '${name}'`, { location: { file }, hint: 'The SAE weights file is incomplete.' });
  const expected = shape.reduce((a, b) => a * b, 1);
  if (v.data.length !== expected) throw new SaeDiffError(`Tensor '${name}' has shape [${v.shape}], expected [${shape}]`, { location: { file } });
  return v.data;
}

function transpose(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
}

/** Loads the weights as float32 in SAELens layout, whatever the format. */
export function loadSae(folder: string, format: SaeFormat = 'auto'): SaeWeights {
  const info = readSaeInfo(folder, format);
  const { dIn: d, dSae: m, weightsFile: file } = info;
  if (info.format === 'gemmascope') {
    const t = readGemmaScopeTensors(folder).tensors;
    return { ...info, W_enc: need(t, 'W_enc', file, [d, m]), b_enc: need(t, 'b_enc', file, [m]), W_dec: need(t, 'W_dec', file, [m, d]), b_dec: need(t, 'b_dec', file, [d]), threshold: need(t, 'threshold', file, [m]) };
  }
  const t = readSafetensors(file);
  if (info.format === 'sparsify') {
    return { ...info, W_enc: transpose(need(t, 'encoder.weight', file, [m, d]), m, d), b_enc: need(t, 'encoder.bias', file, [m]), W_dec: need(t, 'W_dec', file, [m, d]), b_dec: need(t, 'b_dec', file, [d]) };
  }
  if (info.architecture === 'gated') {
    // SAELens gated: gate = (x' W_enc + b_gate > 0); magnitude = relu(x' (W_enc * exp(r_mag)) + b_mag)
    const W_enc = need(t, 'W_enc', file, [d, m]);
    const rMag = need(t, 'r_mag', file, [m]);
    const W_mag = W_enc.map((w, i) => w * Math.exp(rMag[i % m]));
    return { ...info, W_enc, b_enc: need(t, 'b_gate', file, [m]), W_mag, b_mag: need(t, 'b_mag', file, [m]), W_dec: need(t, 'W_dec', file, [m, d]), b_dec: need(t, 'b_dec', file, [d]) };
  }
  let threshold: Float32Array | undefined;
  if (info.architecture === 'jumprelu') {
    threshold = t.has('threshold') ? need(t, 'threshold', file, [m]) : need(t, 'log_threshold', file, [m]).map(Math.exp);
  }
  return { ...info, W_enc: need(t, 'W_enc', file, [d, m]), b_enc: need(t, 'b_enc', file, [m]), W_dec: need(t, 'W_dec', file, [m, d]), b_dec: need(t, 'b_dec', file, [d]), threshold };
}

/** Refuses an SAE that does not fit the model or the layer it is assigned to. */
export function checkSaeFits(info: SaeInfo, layer: number, hiddenSize: number | undefined, checkHookLayer: boolean, where: SourceLocation): void {
  if (hiddenSize !== undefined && info.dIn !== hiddenSize) {
    throw new SaeDiffError(`The SAE for layer ${layer} (${info.folder}) has d_in ${info.dIn}, but the model's hidden size is ${hiddenSize}`, {
      location: where, hint: 'Use an SAE trained on this model (its d_in must equal hidden_size in config.json).',
    });
  }
  if (checkHookLayer && info.hookLayer !== undefined && info.hookLayer !== layer) {
    throw new SaeDiffError(`The SAE assigned to layer ${layer} (${info.folder}) was trained on layer ${info.hookLayer} (hook ${info.hookName ?? '?'})`, {
      location: where, hint: `Assign it to layer ${info.hookLayer}, fix sae.path, or set sae.check_hook_layer: false if this is intended.`,
    });
  }
}
