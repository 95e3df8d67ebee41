import * as fs from 'fs';
import * as path from 'path';
import { readSafetensors } from '../safetensors';
import { readSafetensorsHeader } from '../../io/safetensorsHeader';
import type { SaeFormatModule, SaeInfo, SaeWeights } from '../types';
import { need, transpose } from '../weights';
import { hookOf, readConfigObject, refuse } from './common';

/**
 * EleutherAI sparsify folders (one per hookpoint, named after the module: `layers.12`, `layers.12.mlp`):
 * cfg.json is SparseCoderConfig (sparsify/config.py) plus d_in; sae.safetensors holds encoder.weight
 * [num_latents, d_in], encoder.bias, W_dec [num_latents, d_in], b_dec (sparsify/sparse_coder.py).
 * encode = topk(relu(encoder(x - b_dec))), decode = z W_dec + b_dec; num_latents 0 means
 * d_in * expansion_factor (`cfg.num_latents or d_in * cfg.expansion_factor`).
 */
function readInfo(folder: string): SaeInfo {
  const cfgPath = path.join(folder, 'cfg.json');
  const cfg = fs.existsSync(cfgPath) ? readConfigObject(cfgPath) : {};
  const weightsFile = path.join(folder, 'sae.safetensors');
  const header = readSafetensorsHeader(weightsFile);
  const enc = header.tensors.get('encoder.weight');
  if (!enc) throw refuse(weightsFile, `No encoder.weight tensor in ${weightsFile}`, 'The file is not an EleutherAI sparsify SAE.');
  // fields that change the maths and are not implemented: refused, never ignored
  if (cfg.transcode === true)
    throw refuse(
      cfgPath,
      "The sparse coder is a transcoder (field transcode: true): it predicts a module's output from its input, it does not reconstruct one stream",
      'Use a sparsify SAE (transcode: false).',
    );
  if (cfg.skip_connection === true || header.tensors.has('W_skip'))
    throw refuse(
      cfgPath,
      'The sparse coder has a linear skip connection (field skip_connection / tensor W_skip), which sae-diff does not implement',
      'Use an SAE trained without skip_connection.',
    );
  if (cfg.activation !== undefined && cfg.activation !== 'topk')
    throw refuse(cfgPath, `Sparsify activation '${cfg.activation}' (field activation) is not supported`, 'Supported: topk.');
  if (cfg.signed === true)
    throw refuse(
      cfgPath,
      'The sparse coder is signed (field signed: true), which sae-diff does not implement',
      'Use an unsigned sparsify SAE.',
    );
  const dIn = Number(cfg.d_in ?? enc.shape[1]);
  const numLatents =
    Number(cfg.num_latents ?? 0) || (cfg.expansion_factor !== undefined ? dIn * Number(cfg.expansion_factor) : enc.shape[0]);
  // sparsify always writes k (default 32); a cfg without k is read as plain ReLU (the fixture's documented layout)
  const k = cfg.k !== undefined && cfg.k !== null ? Number(cfg.k) : undefined;
  const hookName = path.basename(folder);
  const hook = hookOf(hookName, 'folder name', folder);
  return {
    folder,
    format: 'sparsify',
    architecture: k ? 'topk' : 'standard',
    dIn,
    dSae: numLatents,
    dtype: enc.dtype,
    hookName,
    hookLayer: hook.layer ?? hookOf(cfg.hookpoint, 'hookpoint', cfgPath).layer,
    hookPoint: hook.point ?? hookOf(cfg.hookpoint, 'hookpoint', cfgPath).point,
    kSae: k,
    applyBDecToInput: true,
    weightsFile,
    normalization: 'none',
  };
}

/** sparsify's tensors hold the latents along their first axis (encoder.weight is [latents, d_in]); b_dec has none. */
const PER_LATENT = new Set(['encoder.weight', 'encoder.bias', 'W_dec']);
const latentAxis = (name: string) => (PER_LATENT.has(name) ? 0 : undefined);

function loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  const { dIn: d, dSae: m, weightsFile: file } = info;
  const t = readSafetensors(file, undefined, latents && { ids: latents, axisOf: latentAxis });
  const width = latents?.length ?? m;
  return {
    ...info,
    dSae: width,
    W_enc: transpose(need(t, 'encoder.weight', file, [m, d]), width, d),
    b_enc: need(t, 'encoder.bias', file, [m]),
    W_dec: need(t, 'W_dec', file, [m, d]),
    b_dec: need(t, 'b_dec', file, [d]),
  };
}

export const sparsifyFormat: SaeFormatModule = {
  name: 'sparsify',
  watchedFiles: ['cfg.json', 'sae.safetensors'],
  detect: (folder) => fs.existsSync(path.join(folder, 'sae.safetensors')),
  readInfo,
  loadWeights,
};
