import * as fs from 'fs';
import * as path from 'path';
import { readNpz, readNpzHeaders } from '../npz';
import { LoadedTensor, readSafetensors } from '../safetensors';
import { readSafetensorsHeader } from '../../io/safetensorsHeader';
import type { SaeFormatModule, SaeInfo, SaeWeights } from '../types';
import { need, pickLatents, saeLensTensors } from '../weights';
import { firstNumber, hookOf, readConfigObject, refuse } from './common';

/**
 * Gemma Scope: `params.npz` (W_enc [d, m], W_dec, b_enc, b_dec, threshold) in folders
 * `layer_N/width_W/average_l0_K` of the repos gemma-scope-<size>-<pt|it>-<res|mlp|att|transcoders>;
 * the repo says the hook as SAELens's get_gemma_2_config_from_hf does (res -> hook_resid_post,
 * mlp -> hook_mlp_out, att -> attn.hook_z). Gemma Scope 2: `params.safetensors` (lowercase w_enc, w_dec)
 * with a `config.json` declaring hf_hook_point_in / hf_hook_point_out, l0, width, architecture,
 * affine_connection and type. JumpReLU without subtracting b_dec from the input.
 */
function hookFromPath(folder: string): { layer?: number; point?: SaeInfo['hookPoint']; name?: string } {
  const p = folder.replace(/\\/g, '/');
  const layer = /(?:^|\/)layer_(\d+)(?:\/|_|$)/.exec(p)?.[1];
  const repo = /gemma-scope-[^/]*?-(res|mlp|att|transcoders)(?:-canonical)?(?:\/|$)/.exec(p)?.[1];
  if (/(^|\/)embedding(\/|$)/.test(p))
    throw refuse(
      folder,
      'This Gemma Scope SAE reads the embeddings (folder embedding), not a decoder block',
      'Use a residual-stream SAE of a layer.',
    );
  if (repo === 'transcoders')
    throw refuse(
      folder,
      'This is a Gemma Scope transcoder (repo gemma-scope-*-transcoders): it predicts the MLP output from its input, it does not reconstruct one stream',
      'Use a gemma-scope-*-res, -mlp or -att SAE.',
    );
  // att: the heads' outputs before W_O, concatenated (SAELens's gemma-scope-*-att releases: blocks.L.attn.hook_z)
  const point = repo === 'res' ? 'resid_post' : repo === 'mlp' ? 'mlp_out' : repo === 'att' ? 'attn_z' : undefined;
  const hook = point === 'attn_z' ? 'attn.hook_z' : `hook_${point}`;
  return {
    layer: layer !== undefined ? Number(layer) : undefined,
    point,
    name: layer !== undefined && point ? `blocks.${layer}.${hook}` : undefined,
  };
}

function readGs2Config(
  folder: string,
): { layer?: number; point?: SaeInfo['hookPoint']; name?: string; l0?: number; modelName?: string } | undefined {
  const file = path.join(folder, 'config.json');
  if (!fs.existsSync(file)) return undefined;
  const cfg = readConfigObject(file);
  if (cfg.type !== undefined && cfg.type !== 'sae')
    throw refuse(
      file,
      `Gemma Scope 2 dictionary of type '${cfg.type}' (field type) is not an SAE`,
      'Transcoders predict one activation from another; use a type "sae" dictionary.',
    );
  if (cfg.affine_connection === true)
    throw refuse(
      file,
      'The dictionary has an affine skip connection (field affine_connection: true), which sae-diff does not implement',
      'Use a dictionary without affine_connection.',
    );
  if (cfg.hf_hook_point_out !== undefined && cfg.hf_hook_point_out !== cfg.hf_hook_point_in) {
    throw refuse(
      file,
      `hf_hook_point_out '${cfg.hf_hook_point_out}' differs from hf_hook_point_in '${cfg.hf_hook_point_in}': this is a transcoder`,
      'Use an SAE (hook in = hook out).',
    );
  }
  if (cfg.architecture !== undefined && !/^jump_?relu$/.test(String(cfg.architecture)))
    throw refuse(file, `Gemma Scope 2 architecture '${cfg.architecture}' (field architecture) is not supported`, 'Supported: jump_relu.');
  const hook = hookOf(cfg.hf_hook_point_in, 'hf_hook_point_in', file);
  return {
    ...hook,
    name: cfg.hf_hook_point_in,
    l0: firstNumber(cfg, ['l0']),
    modelName: typeof cfg.model_name === 'string' ? cfg.model_name : undefined,
  };
}

function weightsFileOf(folder: string): string {
  const npz = path.join(folder, 'params.npz');
  return fs.existsSync(npz) ? npz : path.join(folder, 'params.safetensors');
}

function readInfo(folder: string): SaeInfo {
  const weightsFile = weightsFileOf(folder);
  // headers only: validation never inflates or reads the arrays
  const shapes = new Map<string, number[]>();
  if (weightsFile.endsWith('.npz')) for (const [k, v] of readNpzHeaders(weightsFile)) shapes.set(k, v.shape);
  else for (const [k, v] of readSafetensorsHeader(weightsFile).tensors) shapes.set(k.replace(/^w_/, 'W_'), v.shape);
  const wEnc = shapes.get('W_enc');
  if (!wEnc || wEnc.length !== 2) throw refuse(weightsFile, `No W_enc array in ${weightsFile}`, 'The file is not a Gemma Scope SAE.');
  const gs2 = readGs2Config(folder);
  const fromPath = hookFromPath(folder);
  return {
    folder,
    format: 'gemmascope',
    architecture: 'jumprelu',
    dIn: wEnc[0],
    dSae: wEnc[1],
    dtype: 'float32',
    hookName: gs2?.name ?? fromPath.name ?? folder,
    hookLayer: gs2?.layer ?? fromPath.layer,
    hookPoint: gs2?.point ?? fromPath.point,
    applyBDecToInput: false,
    weightsFile,
    normalization: 'none',
    modelName: gs2?.modelName,
    declaredL0:
      gs2?.l0 ??
      (() => {
        const m = /average_l0_(\d+)/.exec(folder);
        return m ? Number(m[1]) : undefined;
      })(),
  };
}

/** Where each tensor holds the latents: W_enc [d_in, latents] along its columns, W_dec [latents, d_in], b_enc and threshold along their first axis. */
const PER_LATENT = new Set(['W_dec', 'b_enc', 'threshold']);
const latentAxis = (name: string) => (name === 'W_enc' ? 1 : PER_LATENT.has(name) ? 0 : undefined);
/** Gemma Scope 2's params.safetensors names W_enc and W_dec in lower case. */
const canonicalName = (name: string) => name.replace(/^w_/, 'W_');

function loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  const { dIn: d, dSae: m, weightsFile: file } = info;
  let t: Map<string, LoadedTensor>;
  if (file.endsWith('.npz')) {
    // a zip member is read whole (it may be deflated); the latents are picked in memory
    t = readNpz(file);
    if (latents)
      for (const [name, v] of t) {
        const axis = latentAxis(name);
        // a tensor of another shape is left whole for need() to refuse, naming it
        if (axis !== undefined && v.shape.length <= 2 && v.shape[axis] === m)
          t.set(name, { shape: v.shape, data: pickLatents(v.data, v.shape, axis, latents) });
      }
  } else {
    t = new Map();
    const pick = latents && { ids: latents, axisOf: (name: string) => latentAxis(canonicalName(name)) };
    for (const [k, v] of readSafetensors(file, undefined, pick)) t.set(canonicalName(k), v);
  }
  return {
    ...info,
    dSae: latents?.length ?? m,
    ...saeLensTensors(t, file, d, m),
    threshold: need(t, 'threshold', file, [m]),
  };
}

export const gemmaScopeFormat: SaeFormatModule = {
  name: 'gemmascope',
  watchedFiles: ['params.npz', 'params.safetensors', 'config.json'],
  detect: (folder) => fs.existsSync(path.join(folder, 'params.npz')) || fs.existsSync(path.join(folder, 'params.safetensors')),
  readInfo,
  loadWeights,
};
