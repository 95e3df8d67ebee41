import * as fs from 'fs';
import * as path from 'path';
import { readTorchCheckpoint, stateDictIndex } from '../../io/torchCheckpoint';
import type { SafetensorsHeader } from '../../io/safetensorsHeader';
import { parseHookName } from '../hookName';
import { readScalar, readTensors } from '../safetensors';
import type { SaeArchitecture, SaeFormatModule, SaeInfo, SaeWeights } from '../types';
import { need, unitDecoder } from '../weights';
import { hookOf, readConfigObject, refuse } from './common';
import { linearWeights } from './linearWeights';

/**
 * saprmarks/dictionary_learning folders (SAEBench's SAEs, the Pythia-70m dictionaries of Sparse Feature
 * Circuits, andyrdt's Llama / Qwen SAEs): `ae.pt`, the state dict torch.save wrote, and `config.json`
 * ({trainer: {dict_class, activation_dim, dict_size, k, layer, lm_name, submodule_name}, buffer: {io}}), read
 * as its utils.load_dictionary reads them (dictionary_learning 60ec6bf, August 2025; classes in
 * dictionary.py and trainers/):
 * - AutoEncoder: relu(encoder(x - bias)), decoder(f) + bias. from_pretrained normalises the decoder's columns
 *   by default (normalize_decoder=True), scaling the encoder's rows and bias by the same norms: the latents are
 *   those of unit decoder directions. It skips that when every norm is within torch.allclose of 1; here it is
 *   always applied, which moves such latents by at most 1e-5 of their value and keeps each latent's weights
 *   its own (the feature details read single latents).
 * - AutoEncoderNew: relu(encoder(x)), decoder(f) (its decoder has a bias; nothing is subtracted first).
 * - GatedAutoEncoder: gate (encoder(x - decoder_bias) + gate_bias > 0) times relu(exp(r_mag) *
 *   encoder(x - decoder_bias) + mag_bias): SAELens' gated SAE.
 * - JumpReluAutoEncoder: relu(pre * (pre > threshold)), pre = x W_enc + b_enc (apply_b_dec_to_input false).
 * - AutoEncoderTopK: the k largest of relu(encoder(x - b_dec)) (encode's default use_threshold=False).
 * - BatchTopKSAE and MatryoshkaBatchTopKSAE: relu(pre) * (relu(pre) > threshold), one scalar threshold
 *   (encode's default use_threshold=True): a JumpReLU whose threshold is that scalar for every latent.
 *   Matryoshka keeps all its groups (active_groups = len(group_sizes) after loading).
 * Training with normalize_activations scales the biases (and thresholds) back by norm_factor before saving
 * (training.py, scale_biases), so the saved weights read the raw activations.
 */

type DictClass =
  | 'AutoEncoder'
  | 'AutoEncoderNew'
  | 'GatedAutoEncoder'
  | 'JumpReluAutoEncoder'
  | 'AutoEncoderTopK'
  | 'BatchTopKSAE'
  | 'MatryoshkaBatchTopKSAE';

interface ClassLayout {
  /** The state dict's tensors (nn.Linear layout: encoder.weight [F, d], decoder.weight [d, F]; else W_enc [d, F], W_dec [F, d]). */
  tensors: string[];
  linear: boolean;
  /** The decoder bias's name, and whether encode subtracts it from x first. */
  bDec: string;
  subtractsBDec: boolean;
}

const LAYOUTS: Record<DictClass, ClassLayout> = {
  AutoEncoder: { tensors: ['bias', 'encoder.weight', 'encoder.bias', 'decoder.weight'], linear: true, bDec: 'bias', subtractsBDec: true },
  AutoEncoderNew: {
    tensors: ['encoder.weight', 'encoder.bias', 'decoder.weight', 'decoder.bias'],
    linear: true,
    bDec: 'decoder.bias',
    subtractsBDec: false,
  },
  GatedAutoEncoder: {
    tensors: ['decoder_bias', 'encoder.weight', 'r_mag', 'gate_bias', 'mag_bias', 'decoder.weight'],
    linear: true,
    bDec: 'decoder_bias',
    subtractsBDec: true,
  },
  JumpReluAutoEncoder: { tensors: ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold'], linear: false, bDec: 'b_dec', subtractsBDec: false },
  AutoEncoderTopK: {
    tensors: ['k', 'threshold', 'decoder.weight', 'encoder.weight', 'encoder.bias', 'b_dec'],
    linear: true,
    bDec: 'b_dec',
    subtractsBDec: true,
  },
  BatchTopKSAE: {
    tensors: ['k', 'threshold', 'decoder.weight', 'encoder.weight', 'encoder.bias', 'b_dec'],
    linear: true,
    bDec: 'b_dec',
    subtractsBDec: true,
  },
  MatryoshkaBatchTopKSAE: {
    tensors: ['k', 'threshold', 'group_sizes', 'W_enc', 'b_enc', 'W_dec', 'b_dec'],
    linear: false,
    bDec: 'b_dec',
    subtractsBDec: true,
  },
};

const isDictClass = (c: unknown): c is DictClass => typeof c === 'string' && Object.prototype.hasOwnProperty.call(LAYOUTS, c);

/** The per-latent tensors and the axis that holds the latents. */
const LATENT_AXIS: Record<string, 0 | 1> = {
  'encoder.weight': 0,
  'encoder.bias': 0,
  'decoder.weight': 1,
  gate_bias: 0,
  mag_bias: 0,
  r_mag: 0,
  W_enc: 1,
  b_enc: 0,
  W_dec: 0,
  threshold: 0,
};

interface DictionaryLearningInfo extends SaeInfo {
  dictClass: DictClass;
  /** BatchTopK / Matryoshka: the one threshold every latent shares. */
  sharedThreshold?: number;
}

function stateDict(file: string): SafetensorsHeader {
  const ckpt = readTorchCheckpoint(file);
  const root = ckpt.root;
  if (root instanceof Map && root.has('ae') && root.has('optimizer'))
    throw refuse(
      file,
      'ae.pt is a training backup (keys step, ae, optimizer), not the final state dict: the training did not finish, and its biases are not scaled back by norm_factor',
      'Use the ae.pt that trainSAE writes at the end of training, or finish the run.',
    );
  const index = stateDictIndex(ckpt);
  if (!index)
    throw refuse(
      file,
      'ae.pt does not hold a state dict (a dict of tensors)',
      'Save the dictionary with torch.save(ae.state_dict(), "ae.pt").',
    );
  return index;
}

/** Where the SAE reads the model: trainer.submodule_name, else the folder's or its parent's name, else trainer.layer's block output. */
function hookFrom(
  folder: string,
  cfgPath: string,
  cfg: Record<string, any>,
  trainer: Record<string, any>,
): Pick<SaeInfo, 'hookName' | 'hookLayer' | 'hookPoint'> {
  const sub = typeof trainer.submodule_name === 'string' ? trainer.submodule_name : undefined;
  const says = (name: string) => parseHookName(name).layer !== undefined || parseHookName(name).refused !== undefined;
  const named =
    sub !== undefined && says(sub)
      ? { name: sub, field: 'trainer.submodule_name' }
      : [path.basename(folder), path.basename(path.dirname(folder))]
          .map((name) => ({ name, field: 'folder name' }))
          .find((n) => says(n.name));
  const parsed = named ? hookOf(named.name, named.field, named.field === 'folder name' ? folder : cfgPath) : {};
  const trainerLayer = Number.isInteger(trainer.layer) ? (trainer.layer as number) : undefined;
  if (parsed.layer !== undefined && trainerLayer !== undefined && parsed.layer !== trainerLayer)
    throw refuse(
      cfgPath,
      `The dictionary's ${named!.field} '${named!.name}' says layer ${parsed.layer}, but trainer.layer is ${trainerLayer}`,
      'Fix config.json so that both name the layer the dictionary was trained on.',
    );
  const layer = parsed.layer ?? trainerLayer;
  // utils.get_submodule: the residual stream is model.layers[layer]'s output, which SAELens' loader reads as hook_resid_post too
  let point = parsed.point ?? (layer !== undefined ? 'resid_post' : undefined);
  const io = cfg.buffer?.io ?? 'out';
  if (io === 'in') {
    if (point !== 'resid_post')
      throw refuse(
        cfgPath,
        `The dictionary reads the input of ${named?.name ?? 'its submodule'} (buffer.io: in), which is not a residual-stream tensor`,
        'Use a dictionary trained on a module output (buffer.io: out) or on a block input.',
      );
    point = 'resid_pre';
  } else if (io !== 'out')
    throw refuse(
      cfgPath,
      `buffer.io is ${JSON.stringify(io)}: ${io === 'in_and_out' ? 'a transcoder predicts a module output from its input, it does not reconstruct one stream' : "dictionary_learning knows 'in' and 'out'"}`,
      'Use a dictionary trained with buffer.io: out.',
    );
  const name = named?.name ?? (layer !== undefined ? `model.layers.${layer}` : undefined);
  return { hookName: name && io === 'in' ? `${name} (input)` : name, hookLayer: layer, hookPoint: point };
}

function readInfo(folder: string): DictionaryLearningInfo {
  const weightsFile = path.join(folder, 'ae.pt');
  const cfgPath = path.join(folder, 'config.json');
  if (!fs.existsSync(cfgPath))
    throw refuse(
      folder,
      `Missing config.json beside ae.pt in ${folder}`,
      "dictionary_learning's trainSAE writes config.json beside ae.pt; load_dictionary needs its trainer.dict_class. Download it with the weights.",
    );
  const cfg = readConfigObject(cfgPath);
  const trainer = cfg.trainer;
  if (!trainer || typeof trainer !== 'object' || Array.isArray(trainer))
    throw refuse(
      cfgPath,
      'config.json has no trainer object',
      "dictionary_learning's config.json holds {trainer: {dict_class, ...}, buffer: {...}}.",
    );
  const dictClass = trainer.dict_class;
  if (!isDictClass(dictClass))
    throw refuse(
      cfgPath,
      `Dictionary class ${JSON.stringify(dictClass)} (field trainer.dict_class) is not supported`,
      `Supported: ${Object.keys(LAYOUTS).join(', ')}.`,
    );
  const layout = LAYOUTS[dictClass];
  const index = stateDict(weightsFile);
  const missing = layout.tensors.filter((t) => !index.tensors.has(t));
  if (missing.length)
    throw refuse(
      weightsFile,
      `The ${dictClass} state dict has no ${missing.join(', ')} (it holds ${[...index.tensors.keys()].join(', ')})`,
      'trainer.dict_class in config.json does not match ae.pt; fix one of them.',
    );
  const encoder = index.tensors.get(layout.linear ? 'encoder.weight' : 'W_enc')!;
  if (encoder.shape.length !== 2) throw refuse(weightsFile, `The encoder has shape [${encoder.shape}]`, 'ae.pt is damaged; save it again.');
  const [dSae, dIn] = layout.linear ? encoder.shape : [encoder.shape[1], encoder.shape[0]];
  for (const [field, v] of [
    ['activation_dim', dIn],
    ['dict_size', dSae],
  ] as const)
    if (trainer[field] !== undefined && trainer[field] !== v)
      throw refuse(
        cfgPath,
        `trainer.${field} is ${trainer[field]}, but ae.pt's encoder has ${v}`,
        'config.json does not belong to this ae.pt.',
      );

  let architecture: SaeArchitecture =
    dictClass === 'GatedAutoEncoder' ? 'gated' : dictClass === 'JumpReluAutoEncoder' ? 'jumprelu' : 'standard';
  let kSae: number | undefined;
  let sharedThreshold: number | undefined;
  if (dictClass === 'AutoEncoderTopK') {
    architecture = 'topk';
    kSae = readScalar(weightsFile, index.tensors.get('k')!, 'k');
    // AutoEncoderTopK.from_pretrained(k=config k) raises when they differ
    if (trainer.k !== undefined && trainer.k !== kSae)
      throw refuse(cfgPath, `trainer.k is ${trainer.k}, but ae.pt's k buffer is ${kSae}`, 'config.json does not belong to this ae.pt.');
  } else if (dictClass === 'BatchTopKSAE' || dictClass === 'MatryoshkaBatchTopKSAE') {
    sharedThreshold = readScalar(weightsFile, index.tensors.get('threshold')!, 'threshold');
    if (!(sharedThreshold >= 0))
      throw refuse(
        weightsFile,
        `The ${dictClass}'s threshold is ${sharedThreshold}: it was never set (training stopped before threshold_start_step), so its encode would keep every positive latent`,
        'Use a dictionary whose training ran past threshold_start_step.',
      );
    architecture = 'jumprelu';
  }
  return {
    folder,
    format: 'dictionary_learning',
    dictClass,
    architecture,
    dIn,
    dSae,
    dtype: encoder.dtype,
    ...hookFrom(folder, cfgPath, cfg, trainer),
    kSae,
    sharedThreshold,
    applyBDecToInput: layout.subtractsBDec,
    weightsFile,
    normalization: 'none',
    modelName: typeof trainer.lm_name === 'string' ? trainer.lm_name : undefined,
    sourceKind:
      dictClass === 'AutoEncoder'
        ? 'AutoEncoder, decoder normalised'
        : sharedThreshold !== undefined
          ? `${dictClass}, threshold ${Number(sharedThreshold.toPrecision(6))}`
          : dictClass,
  };
}

function loadWeights(sae: SaeInfo, latents?: readonly number[]): SaeWeights {
  const info = sae as DictionaryLearningInfo;
  const { dIn: d, dSae: m, weightsFile: file } = info;
  const layout = LAYOUTS[info.dictClass];
  const names = layout.tensors.filter(
    (t) => t !== 'k' && t !== 'group_sizes' && !(t === 'threshold' && info.dictClass !== 'JumpReluAutoEncoder'),
  );
  const t = readTensors(file, stateDict(file), names, latents && { ids: latents, axisOf: (name) => LATENT_AXIS[name] });
  const width = latents?.length ?? m;
  let { W_enc, W_dec } = layout.linear
    ? linearWeights(t, file, { encoder: 'encoder.weight', decoder: 'decoder.weight' }, d, m, width)
    : { W_enc: need(t, 'W_enc', file, [d, m]), W_dec: need(t, 'W_dec', file, [m, d]) };
  const b_dec = need(t, layout.bDec, file, [d]);
  if (info.dictClass === 'GatedAutoEncoder') {
    const rMag = need(t, 'r_mag', file, [m]);
    return {
      ...info,
      dSae: width,
      W_enc,
      b_enc: need(t, 'gate_bias', file, [m]),
      W_mag: W_enc.map((x, i) => x * Math.exp(rMag[i % width])),
      b_mag: need(t, 'mag_bias', file, [m]),
      W_dec,
      b_dec,
    };
  }
  let b_enc = need(t, layout.linear ? 'encoder.bias' : 'b_enc', file, [m]);
  // AutoEncoder.normalize_decoder
  if (info.dictClass === 'AutoEncoder')
    ({ W_enc, b_enc, W_dec } = unitDecoder(
      { W_enc, b_enc, W_dec },
      width,
      d,
      file,
      "dictionary_learning's AutoEncoder.from_pretrained cannot normalise it either; the dictionary is damaged.",
    ));
  const threshold =
    info.sharedThreshold !== undefined
      ? new Float32Array(width).fill(info.sharedThreshold)
      : info.dictClass === 'JumpReluAutoEncoder'
        ? need(t, 'threshold', file, [m])
        : undefined;
  return { ...info, dSae: width, W_enc, b_enc, W_dec, b_dec, threshold };
}

export const dictionaryLearningFormat: SaeFormatModule = {
  name: 'dictionary_learning',
  watchedFiles: ['config.json', 'ae.pt'],
  detect: (folder) => fs.existsSync(path.join(folder, 'ae.pt')),
  readInfo,
  loadWeights,
};
