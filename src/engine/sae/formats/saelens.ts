import * as fs from 'fs';
import * as path from 'path';
import { ARCHITECTURES, isArchitecture } from '../architectures';
import { readSafetensors } from '../safetensors';
import { readSafetensorsHeader } from '../../io/safetensorsHeader';
import type { SaeFormatModule, SaeInfo, SaeNormalization, SaeWeights } from '../types';
import { need, saeLensTensors, scaleColumns, scaleRows } from '../weights';
import { firstNumber, hookOf, readConfigObject, refuse } from './common';
import { saeLensProcessing } from './saelensProcessing';

const NORMALIZATIONS = ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'];

/**
 * Old SAELens configs read as SAELens reads them: handle_config_defaulting / handle_pre_6_0_config in
 * sae_lens/loading/pretrained_sae_loaders.py (SAELens 6.18). A config without sae_lens_version (top level
 * or in metadata) or older than 6.0 is renamed (hook_point -> hook_name, hook_point_head_index ->
 * hook_head_index, activation_fn_str -> activation_fn), defaulted (apply_b_dec_to_input true,
 * architecture standard), a topk activation with activation_fn_kwargs.k becomes architecture topk, and
 * a boolean normalize_activations means none (false) or expected_average_only_in (true).
 * SAELens 2 also wrote hook_point_layer (read here as the hook layer). SAELens 6 keeps hook_name in metadata.
 */
export function upgradeSaeLensConfig(raw: Record<string, any>): Record<string, any> {
  const meta = raw.metadata && typeof raw.metadata === 'object' ? raw.metadata : {};
  const version = String(raw.sae_lens_version ?? meta.sae_lens_version ?? '');
  const major = /^(\d+)/.exec(version)?.[1];
  const cfg: Record<string, any> = { ...raw };
  if (meta.hook_name !== undefined && cfg.hook_name === undefined) cfg.hook_name = meta.hook_name;
  if (meta.hook_head_index !== undefined && cfg.hook_head_index === undefined) cfg.hook_head_index = meta.hook_head_index;
  if (major !== undefined && Number(major) >= 6) return cfg;
  const renames: Record<string, string> = {
    hook_point: 'hook_name',
    hook_point_head_index: 'hook_head_index',
    activation_fn_str: 'activation_fn',
    hook_point_layer: 'hook_layer',
  };
  for (const [from, to] of Object.entries(renames)) if (from in cfg && !(to in cfg)) cfg[to] = cfg[from];
  cfg.apply_b_dec_to_input ??= true;
  cfg.finetuning_scaling_factor ??= false;
  cfg.activation_fn ??= 'relu';
  cfg.architecture ??= 'standard';
  if (cfg.activation_fn === 'topk' && cfg.activation_fn_kwargs?.k !== undefined && cfg.activation_fn_kwargs?.k !== null) {
    cfg.architecture = 'topk';
    cfg.k = cfg.activation_fn_kwargs.k;
  }
  if (typeof cfg.normalize_activations === 'boolean')
    cfg.normalize_activations = cfg.normalize_activations ? 'expected_average_only_in' : 'none';
  return cfg;
}

function readScalingFactor(folder: string, cfg: Record<string, any>): number | undefined {
  const keys = ['scaling_factor', 'activation_scaling_factor', 'norm_scaling_factor', 'activation_norm_scaling_factor'];
  const inCfg = firstNumber(cfg, keys);
  if (inCfg !== undefined) return inCfg;
  const scalerFile = path.join(folder, 'activation_scaler.json');
  return fs.existsSync(scalerFile) ? firstNumber(readConfigObject(scalerFile), keys) : undefined;
}

function readInfo(folder: string): SaeInfo {
  const cfgPath = path.join(folder, 'cfg.json');
  if (!fs.existsSync(cfgPath))
    throw refuse(
      folder,
      `Missing cfg.json in the SAELens folder ${folder}`,
      'Save the SAE with SAELens (sae.save_model) so that cfg.json is written.',
    );
  const raw = readConfigObject(cfgPath);
  const cfg = upgradeSaeLensConfig(raw);
  const weightsFile = path.join(folder, 'sae_weights.safetensors');
  const header = readSafetensorsHeader(weightsFile);
  const arch = String(cfg.architecture ?? 'standard');
  if (!isArchitecture(arch)) {
    const why = /transcoder/.test(arch)
      ? ': a transcoder predicts a later activation from an earlier one, it does not reconstruct one stream'
      : '';
    throw refuse(
      cfgPath,
      `SAE architecture '${arch}' (field architecture) is not supported${why}`,
      `Supported: ${Object.keys(ARCHITECTURES).join(', ')}.`,
    );
  }
  if (cfg.activation_fn !== undefined && !['relu', 'topk'].includes(String(cfg.activation_fn))) {
    throw refuse(
      cfgPath,
      `SAE activation '${cfg.activation_fn}' (field activation_fn_str / activation_fn) is not supported`,
      'Supported: relu, and topk with activation_fn_kwargs.k.',
    );
  }
  if (cfg.activation_fn === 'topk' && arch !== 'topk')
    throw refuse(cfgPath, 'activation_fn_str is topk but activation_fn_kwargs.k is missing', 'Set activation_fn_kwargs.k in cfg.json.');
  if (cfg.hook_head_index !== undefined && cfg.hook_head_index !== null) {
    throw refuse(
      cfgPath,
      `The SAE reads one attention head (field hook_head_index ${cfg.hook_head_index}), not all heads or the residual stream`,
      'Use an SAE trained on the residual stream, or on attn.hook_z of all heads.',
    );
  }
  // SAELens flattens hook_z's [.., n_heads, d_head] head by head when reshape_activations is hook_z (sae.py
  // turn_on_forward_pass_hook_z_reshaping: '... n_heads d_head -> ... (n_heads d_head)'; a config without the key gets
  // hook_z when its hook name holds hook_z, pretrained_sae_loaders.py handle_config_defaulting): what attn_z hooks
  // (hooks.ts). Anything else it reshapes is not built.
  const reshape = cfg.reshape_activations ?? 'none';
  if (reshape !== 'none' && !(reshape === 'hook_z' && /\.attn\.hook_z$/.test(String(cfg.hook_name ?? ''))))
    throw refuse(
      cfgPath,
      `reshape_activations ${JSON.stringify(reshape)} is not built for the hook ${String(cfg.hook_name ?? '?')} (hook_z of blocks.N.attn.hook_z is)`,
      'Use an SAE of the residual stream, attn_out, mlp_out or attn.hook_z.',
    );
  const norm = String(cfg.normalize_activations ?? 'none');
  if (!NORMALIZATIONS.includes(norm))
    throw refuse(
      cfgPath,
      `SAE activation normalisation '${norm}' is not known (field normalize_activations)`,
      `Supported: ${NORMALIZATIONS.join(', ')}.`,
    );
  const scalingFactor = norm === 'expected_average_only_in' ? readScalingFactor(folder, cfg) : undefined;
  if (norm === 'expected_average_only_in' && scalingFactor === undefined) {
    throw refuse(
      cfgPath,
      `normalize_activations is ${cfg.normalize_activations === 'expected_average_only_in' && typeof readConfigObject(cfgPath).normalize_activations === 'boolean' ? 'true (SAELens <= 3: expected_average_only_in)' : 'expected_average_only_in'} but the SAE gives no scaling factor`,
      'Add scaling_factor to cfg.json (or activation_scaler.json), or fold it into the weights; approximating it would give wrong numbers.',
    );
  }
  const wEnc = header.tensors.get('W_enc');
  if (!wEnc) throw refuse(weightsFile, `No W_enc tensor in ${weightsFile}`, 'The file is not SAELens weights.');
  for (const group of ARCHITECTURES[arch].tensors) {
    if (!group.some((t) => header.tensors.has(t)))
      throw refuse(
        weightsFile,
        `The ${arch} SAE has no ${group.join(' or ')} tensor`,
        "The weights file does not match the config's architecture.",
      );
  }
  const kSae = arch === 'topk' ? Number(cfg.k ?? cfg.activation_fn_kwargs?.k) : undefined;
  if (arch === 'topk' && !(kSae! > 0))
    throw refuse(cfgPath, 'TopK SAE without k', 'Set k (SAELens 6) or activation_fn_kwargs.k in cfg.json.');
  const rescale = cfg.rescale_acts_by_decoder_norm === true;
  if (rescale && arch !== 'topk')
    throw refuse(
      cfgPath,
      `rescale_acts_by_decoder_norm is set for a ${arch} SAE`,
      'SAELens applies it to TopK SAEs only; remove the field or fix architecture.',
    );
  // sae_lens load_pretrained_sae_lens_sae_components: a scaling_factor tensor of all ones is dropped; any
  // other needs finetuning_scaling_factor true (checked on the values in loadWeights)
  const finetuningScaling = header.tensors.has('scaling_factor');
  const hook = hookOf(cfg.hook_name, 'hook_name', cfgPath);
  const hookLayer = cfg.hook_layer !== undefined && cfg.hook_layer !== null ? Number(cfg.hook_layer) : hook.layer;
  const meta = cfg.metadata && typeof cfg.metadata === 'object' ? cfg.metadata : undefined;
  return {
    folder,
    format: 'saelens',
    architecture: arch,
    dIn: Number(cfg.d_in ?? wEnc.shape[0]),
    dSae: Number(cfg.d_sae ?? wEnc.shape[1]),
    dtype: String(cfg.dtype ?? wEnc.dtype),
    hookName: cfg.hook_name,
    modelName: typeof (cfg.model_name ?? meta?.model_name) === 'string' ? (cfg.model_name ?? meta?.model_name) : undefined,
    hookLayer,
    hookPoint: hook.point,
    kSae,
    applyBDecToInput: cfg.apply_b_dec_to_input ?? true,
    weightsFile,
    normalization: norm as SaeNormalization,
    scalingFactor,
    finetuningScaling: finetuningScaling || undefined,
    rescaleActsByDecoderNorm: rescale || undefined,
    modelProcessing: saeLensProcessing(raw, folder),
    // SAELens' prepend_bos (LanguageModelSAERunnerConfig's default true; SAELens 6 keeps it in metadata)
    prependBos: (cfg.prepend_bos ?? meta?.prepend_bos ?? true) !== false,
    declaredL0: firstNumber(cfg, ['l0', 'expected_l0', 'average_l0', 'mean_l0']) ?? firstNumber(meta, ['l0']),
    declaredExplainedVariance: firstNumber(cfg, ['explained_variance', 'variance_explained', 'expected_explained_variance']),
  };
}

/** Where SAELens tensors hold the latents: W_enc [d_in, d_sae] along its columns, the others listed along their first axis. */
const PER_LATENT = new Set(['b_enc', 'b_gate', 'r_mag', 'b_mag', 'threshold', 'log_threshold', 'scaling_factor', 'W_dec']);
const latentAxis = (name: string) => (name === 'W_enc' ? 1 : PER_LATENT.has(name) ? 0 : undefined);

function loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  const { dIn: d, dSae: m, weightsFile: file } = info;
  const t = readSafetensors(file, undefined, latents && { ids: latents, axisOf: latentAxis });
  // every step below is per latent, so it gives the picked latents exactly what it gives them in the whole SAE
  const width = latents?.length ?? m;
  let w: SaeWeights;
  if (info.architecture === 'gated') {
    // SAELens gated: gate = (x' W_enc + b_gate > 0); magnitude = relu(x' (W_enc * exp(r_mag)) + b_mag)
    const W_enc = need(t, 'W_enc', file, [d, m]);
    const rMag = need(t, 'r_mag', file, [m]);
    const W_mag = W_enc.map((x, i) => x * Math.exp(rMag[i % width]));
    w = {
      ...info,
      dSae: width,
      W_enc,
      b_enc: need(t, 'b_gate', file, [m]),
      W_mag,
      b_mag: need(t, 'b_mag', file, [m]),
      W_dec: need(t, 'W_dec', file, [m, d]),
      b_dec: need(t, 'b_dec', file, [d]),
    };
  } else {
    let threshold: Float32Array | undefined;
    if (info.architecture === 'jumprelu')
      threshold = t.has('threshold') ? need(t, 'threshold', file, [m]) : need(t, 'log_threshold', file, [m]).map(Math.exp);
    w = {
      ...info,
      dSae: width,
      ...saeLensTensors(t, file, d, m),
      threshold,
    };
  }
  if (t.has('scaling_factor')) {
    // SAELens <= 5 decode: (z * scaling_factor) @ W_dec, folded exactly into W_dec's rows
    const s = need(t, 'scaling_factor', file, [m]);
    if (s.some((v) => v !== 1)) {
      const cfgSays = upgradeSaeLensConfig(readConfigObject(path.join(info.folder, 'cfg.json'))).finetuning_scaling_factor;
      if (cfgSays !== true)
        throw refuse(
          file,
          'The weights hold a scaling_factor tensor that is not all ones, but finetuning_scaling_factor is false',
          'SAELens refuses this SAE too ("Scaling factor is present but finetuning_scaling_factor is False"); fix cfg.json.',
        );
      w.W_dec = Float32Array.from(w.W_dec);
      scaleRows(w.W_dec, s, d);
    }
  }
  if (info.rescaleActsByDecoderNorm) {
    // sae_lens/saes/topk_sae.py: encode multiplies the pre-activations by |W_dec_i|, decode divides the
    // latents by it; folded exactly as its _fold_norm_topk does (W_enc, b_enc times the norm, W_dec divided)
    const norms = new Float32Array(width);
    for (let i = 0; i < width; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += w.W_dec[i * d + j] ** 2;
      norms[i] = Math.sqrt(s);
    }
    if (norms.some((n) => n === 0)) throw refuse(file, 'rescale_acts_by_decoder_norm with a zero decoder row', 'The SAE is damaged.');
    w.W_enc = Float32Array.from(w.W_enc);
    scaleColumns(w.W_enc, norms, width);
    w.b_enc = w.b_enc.map((b, i) => b * norms[i]);
    w.W_dec = Float32Array.from(w.W_dec);
    scaleRows(
      w.W_dec,
      norms.map((n) => 1 / n),
      d,
    );
  }
  return w;
}

export const saelensFormat: SaeFormatModule = {
  name: 'saelens',
  watchedFiles: ['cfg.json', 'sae_weights.safetensors', 'activation_scaler.json'],
  detect: (folder) => fs.existsSync(path.join(folder, 'sae_weights.safetensors')),
  readInfo,
  loadWeights,
};
