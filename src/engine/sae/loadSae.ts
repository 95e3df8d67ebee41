import * as fs from 'fs';
import * as path from 'path';
import type { HookPoint, SaeFormat } from '../config/types';
import { SaeDiffError, SourceLocation } from '../core/errors';
import { pathMatches } from '../model/hfCache';

import { ARCHITECTURES } from './architectures';
import { SAE_FORMATS } from './formats';
import type { SaeInfo, SaeWeights } from './types';

export type { SaeArchitecture, SaeInfo, SaeNormalization, SaeWeights } from './types';

export function detectSaeFormat(folder: string): Exclude<SaeFormat, 'auto'> | undefined {
  return SAE_FORMATS.find((f) => f.detect(folder))?.name;
}

/** The most latents that can fire on a token, when the SAE's architecture guarantees one (TopK: k). */
export function guaranteedMaxL0(info: SaeInfo): number | undefined {
  return ARCHITECTURES[info.architecture].maxL0?.(info);
}

export function readSaeInfo(folder: string, format: SaeFormat = 'auto'): SaeInfo {
  // a folder, or (attention-output-saes) the .pt file of one SAE among several side by side
  if (!fs.existsSync(folder) && path.basename(folder).includes('*')) {
    // a pattern resolveSaePath could not narrow to one entry
    const matches = pathMatches(folder).map((m) => path.basename(m));
    throw new SaeDiffError(
      matches.length
        ? `${matches.length} entries match the SAE path ${folder}: ${matches.slice(0, 4).join(', ')}${matches.length > 4 ? ', ...' : ''}`
        : `Nothing matches the SAE path ${folder}`,
      { location: { file: folder }, hint: 'Make the pattern (its * stands for any characters) match one SAE file or folder per layer.' },
    );
  }
  if (!fs.existsSync(folder)) {
    throw new SaeDiffError(`SAE folder not found: ${folder}`, {
      location: { file: folder },
      hint: 'Check sae.path (a folder, a {layer} template, or a map layer -> folder).',
    });
  }
  const fmt = format === 'auto' ? detectSaeFormat(folder) : format;
  const module = SAE_FORMATS.find((f) => f.name === fmt);
  if (!module) {
    throw new SaeDiffError(
      `No SAE in ${folder}: expected cfg.json + sae_weights.safetensors (SAELens), sae.safetensors (sparsify), params.npz / params.safetensors (Gemma Scope), ae.pt + config.json (dictionary_learning), hyperparams.json + weights (Language-Model-SAEs), {name}.pt + {name}_cfg.json (attention-output-saes) or one .pt / .pth state dict (Goodfire, qresearch)`,
      { location: { file: folder }, hint: 'Point sae.path at the SAE folder, or set sae.format.' },
    );
  }
  return module.readInfo(folder);
}

/**
 * Loads the weights as float32 in SAELens layout, whatever the format (shapes exact, values finite). With
 * `latents`, only those latents, in that order (saeGraph.ts's latentSubset of the whole SAE, without reading or
 * decoding the rest); only where each latent depends on its own weights alone (not TopK).
 */
export function loadSae(folder: string, format: SaeFormat = 'auto', latents?: readonly number[]): SaeWeights {
  return loadSaeWeights(readSaeInfo(folder, format), latents);
}

/** loadSae for an SAE whose config and headers were read already (readSaeInfo). */
export function loadSaeWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  if (latents && !ARCHITECTURES[info.architecture].featureWise)
    throw new Error(`${info.architecture} latents depend on each other: load the whole SAE`);
  const sae = SAE_FORMATS.find((f) => f.name === info.format)!.loadWeights(info, latents);
  // SAELens', Gemma Scope's and dictionary_learning's JumpReLUs are relu(pre) * (pre > threshold); the graphs
  // compute pre * (pre > threshold), the same wherever threshold >= 0: a negative threshold is raised to 0 (exact)
  if (sae.threshold?.some((v) => v < 0)) sae.threshold = sae.threshold.map((v) => Math.max(v, 0));
  return sae;
}

/** Refuses an SAE that does not fit the model or the layer it is assigned to. */
export function checkSaeFits(
  info: SaeInfo,
  layer: number,
  /** What one token's hooked vector holds: the hidden size, or the attention width at attn_z (modelFolder.ts hookedWidth). */
  width: number | undefined,
  checkHookLayer: boolean,
  where: SourceLocation,
  hookPoint?: HookPoint,
): void {
  if (hookPoint !== undefined && info.hookPoint !== undefined && info.hookPoint !== hookPoint) {
    throw new SaeDiffError(
      `The SAE for layer ${layer} (${info.folder}) reads ${info.hookPoint} (hook ${info.hookName ?? '?'}), but layers.hook_point is ${hookPoint}`,
      {
        location: where,
        hint: `Set layers.hook_point: ${info.hookPoint}; hooking another point would diff the wrong activations.`,
      },
    );
  }
  if (width !== undefined && info.dIn !== width) {
    const z = hookPoint === 'attn_z';
    throw new SaeDiffError(
      `The SAE for layer ${layer} (${info.folder}) has d_in ${info.dIn}, but the model's ${z ? 'attention width (heads x head_dim)' : 'hidden size'} is ${width}`,
      {
        location: where,
        hint: z
          ? 'Use an SAE trained on this model (its d_in must equal num_attention_heads x head_dim in config.json).'
          : 'Use an SAE trained on this model (its d_in must equal hidden_size in config.json).',
      },
    );
  }
  if (checkHookLayer && Number.isInteger(info.hookLayer) && info.hookLayer !== layer) {
    throw new SaeDiffError(
      `The SAE assigned to layer ${layer} (${info.folder}) was trained on layer ${info.hookLayer} (hook ${info.hookName ?? '?'})`,
      {
        location: where,
        hint: `Assign it to layer ${info.hookLayer}, fix sae.path, or set sae.check_hook_layer: false if this is intended.`,
      },
    );
  }
}
