import * as fs from 'fs';
import * as path from 'path';
import { readTorchCheckpoint, stateDictIndex } from '../../io/torchCheckpoint';
import type { SafetensorsHeader } from '../../io/safetensorsHeader';
import { readTensors } from '../safetensors';
import type { SaeFormatModule, SaeInfo, SaeWeights } from '../types';
import { need } from '../weights';
import { refuse } from './common';
import { linearWeights } from './linearWeights';

/**
 * One torch.save'd state dict of a ReLU SAE with an nn.Linear encoder and decoder, alone in its folder (a `.pt` or
 * `.pth` file, no config): encode relu(encoder(x)), decode decoder(f); nothing is subtracted from x first.
 * - Goodfire's SAEs (Goodfire/Llama-3.1-8B-Instruct-SAE-l19, Llama-3.3-70B-Instruct-SAE-l50; their README's
 *   SparseAutoEncoder): encoder_linear, decoder_linear;
 * - qresearch's (DeepSeek-R1-Distill-Llama-8B-SAE-l19, Llama-3.2-1B-Instruct-SAE-l9), as SAELens'
 *   deepseek_r1_sae_huggingface_loader reads them (sae_lens/loading/pretrained_sae_loaders.py: standard
 *   architecture, apply_b_dec_to_input false): encoder, decoder.
 * Neither file says its layer: it is the `l{N}` of the file name (SAELens' loader reads it so), and the hook is
 * that block's output (Goodfire: `model.layers.19`; SAELens: blocks.{N}.hook_resid_post).
 */

const LAYOUTS = [
  { encoder: 'encoder_linear', decoder: 'decoder_linear', source: "Goodfire's encoder_linear / decoder_linear" },
  { encoder: 'encoder', decoder: 'decoder', source: "qresearch's encoder / decoder, as SAELens reads them" },
];

/** The folder's one .pt / .pth file, if it has exactly one. */
function stateDictFile(folder: string): string | undefined {
  let names: string[];
  try {
    names = fs.readdirSync(folder).filter((n) => /\.(pt|pth)$/i.test(n));
  } catch {
    return undefined;
  }
  return names.length === 1 ? path.join(folder, names[0]) : undefined;
}

function readIndex(file: string): SafetensorsHeader {
  const index = stateDictIndex(readTorchCheckpoint(file));
  if (!index)
    throw refuse(
      file,
      `${path.basename(file)} does not hold a state dict (a dict of tensors)`,
      'Save the SAE with torch.save(sae.state_dict(), path).',
    );
  return index;
}

function layoutOf(index: SafetensorsHeader, file: string) {
  const names = (l: (typeof LAYOUTS)[number]) => [`${l.encoder}.weight`, `${l.encoder}.bias`, `${l.decoder}.weight`, `${l.decoder}.bias`];
  const layout = LAYOUTS.find((l) => names(l).every((n) => index.tensors.has(n)) && index.tensors.size === 4);
  if (!layout)
    throw refuse(
      file,
      `${path.basename(file)} holds ${[...index.tensors.keys()].join(', ')}: not an SAE layout sae-diff reads from a lone state dict`,
      `It reads ${LAYOUTS.map((l) => names(l).join(', ')).join('; or ')} (a ReLU SAE). Save the SAE with SAELens or in another supported format.`,
    );
  return layout;
}

function readInfo(folder: string): SaeInfo {
  const file = stateDictFile(folder);
  if (!file) throw refuse(folder, `${folder} holds no single .pt / .pth state dict`, 'Keep one SAE file per folder.');
  const index = readIndex(file);
  const layout = layoutOf(index, file);
  const encoder = index.tensors.get(`${layout.encoder}.weight`)!;
  const decoder = index.tensors.get(`${layout.decoder}.weight`)!;
  if (encoder.shape.length !== 2 || decoder.shape.join() !== [encoder.shape[1], encoder.shape[0]].join())
    throw refuse(
      file,
      `The encoder [${encoder.shape}] and decoder [${decoder.shape}] do not fit one SAE`,
      'The file is damaged; download it again.',
    );
  const [dSae, dIn] = encoder.shape;
  const layer = /(?:^|[-_.])l(\d+)(?=[-_.]|$)/i.exec(path.basename(file))?.[1];
  return {
    folder,
    format: 'torch_state_dict',
    architecture: 'standard',
    dIn,
    dSae,
    dtype: encoder.dtype,
    hookName: layer !== undefined ? `model.layers.${layer} (${path.basename(file)})` : undefined,
    hookLayer: layer !== undefined ? Number(layer) : undefined,
    hookPoint: layer !== undefined ? 'resid_post' : undefined,
    applyBDecToInput: false,
    weightsFile: file,
    normalization: 'none',
    sourceKind: layout.source,
  };
}

function loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  const { dIn: d, dSae: m, weightsFile: file } = info;
  const index = readIndex(file);
  const layout = layoutOf(index, file);
  const axis: Record<string, 0 | 1> = { [`${layout.encoder}.weight`]: 0, [`${layout.encoder}.bias`]: 0, [`${layout.decoder}.weight`]: 1 };
  const t = readTensors(file, index, undefined, latents && { ids: latents, axisOf: (name) => axis[name] });
  const width = latents?.length ?? m;
  return {
    ...info,
    dSae: width,
    ...linearWeights(t, file, { encoder: `${layout.encoder}.weight`, decoder: `${layout.decoder}.weight` }, d, m, width),
    b_enc: need(t, `${layout.encoder}.bias`, file, [m]),
    b_dec: need(t, `${layout.decoder}.bias`, file, [d]),
  };
}

export const torchStateDictFormat: SaeFormatModule = {
  name: 'torch_state_dict',
  watchedFiles: [],
  detect: (folder) => stateDictFile(folder) !== undefined,
  readInfo,
  loadWeights,
};
