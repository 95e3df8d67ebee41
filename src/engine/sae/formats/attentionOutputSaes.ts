/**
 * SAEs as Kissane et al.'s attention-output-saes saves them (ckkissane/attention-output-saes,
 * common/torch_modules/autoencoder.py, AutoEncoder.save: the state dict torch.save'd to `{name}.pt`, the training
 * config json.dump'd beside it to `{name}_cfg.json`; the layout of Neel Nanda's 1L-Sparse-Autoencoder, which it grew
 * from). Their GPT-2 Small attention SAEs are SAELens' release gpt2-small-hook-z-kk (ckkissane/attn-saes-gpt2-small-
 * all-layers, every layer's pair side by side), and SAELens reads them as its connor_rob_hook_z loader does: a
 * standard SAE, relu((x - b_dec) W_enc + b_enc), decoded acts W_dec + b_dec (AutoEncoder.forward), of the hook
 * `act_name` (a TransformerLens name; site z with concat_heads is every head's z, flattened head by head), d_in
 * `act_size`, d_sae `dict_size`. train.py loads the model with HookedTransformer.from_pretrained(cfg["model_name"]):
 * its default processing centres a LayerNorm model's stream (center_writing_weights) and folds the value biases out
 * of hook_z (fold_value_biases), and the SAEs were trained on that; to_tokens put BOS first.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readTorchCheckpoint, stateDictIndex } from '../../io/torchCheckpoint';
import type { SafetensorsHeader } from '../../io/safetensorsHeader';
import { readTensors } from '../safetensors';
import type { SaeFormatModule, SaeInfo, SaeWeights } from '../types';
import { saeLensTensors } from '../weights';
import { hookOf, readConfigObject, refuse } from './common';

const CFG_SUFFIX = '_cfg.json';
const TENSORS = ['W_enc', 'W_dec', 'b_enc', 'b_dec'];

interface SavedPair {
  weights: string;
  cfg: string;
}

/** The pairs `{name}.pt` + `{name}_cfg.json` at `where`: the one a `.pt` file names, or those side by side in a folder. */
function pairsAt(where: string): SavedPair[] {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(where);
  } catch {
    return [];
  }
  const pairOf = (weights: string) => {
    const cfg = `${weights.slice(0, -'.pt'.length)}${CFG_SUFFIX}`;
    return fs.existsSync(cfg) ? [{ weights, cfg }] : [];
  };
  if (stat.isFile()) return where.endsWith('.pt') ? pairOf(where) : [];
  if (!stat.isDirectory()) return [];
  return fs
    .readdirSync(where)
    .filter((n) => n.endsWith('.pt'))
    .sort()
    .flatMap((n) => pairOf(path.join(where, n)));
}

function onePair(where: string): SavedPair {
  const pairs = pairsAt(where);
  if (pairs.length === 1) return pairs[0];
  if (pairs.length === 0)
    throw refuse(where, `${where} holds no {name}.pt beside its {name}_cfg.json`, "Point sae.path at the SAE's .pt file.");
  const names = pairs.map((p) => path.basename(p.weights));
  throw refuse(
    where,
    `${where} holds ${pairs.length} SAEs saved by attention-output-saes (${names.slice(0, 3).join(', ')}${names.length > 3 ? ', ...' : ''})`,
    'Name each layer\'s .pt file: sae.path as a map from layer to file, e.g. { 5: "<folder>/<the layer 5 file>.pt" }.',
  );
}

function readIndex(file: string): SafetensorsHeader {
  const index = stateDictIndex(readTorchCheckpoint(file));
  const names = index ? [...index.tensors.keys()].sort() : [];
  if (!index || names.join() !== [...TENSORS].sort().join())
    throw refuse(
      file,
      `${path.basename(file)} holds ${index ? names.join(', ') || 'no tensors' : 'no state dict'}, not an attention-output-saes AutoEncoder (${TENSORS.join(', ')})`,
      'The file is damaged or another kind of SAE; download it again, or set sae.format.',
    );
  return index;
}

function readInfo(where: string): SaeInfo {
  const { weights, cfg: cfgFile } = onePair(where);
  const cfg = readConfigObject(cfgFile);
  const size = (key: string) => {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw refuse(cfgFile, `${key} is ${JSON.stringify(v)}, not a positive integer`, 'The config is damaged; download it again.');
    return v;
  };
  const dIn = size('act_size');
  const dSae = size('dict_size');
  if (typeof cfg.act_name !== 'string')
    throw refuse(cfgFile, `act_name is ${JSON.stringify(cfg.act_name)}, not a hook name`, 'The config is damaged; download it again.');
  const hook = hookOf(cfg.act_name, 'act_name', cfgFile);
  // concat_heads false: an SAE of one head's z (cfg.head), which no hook of the engine gives
  if (hook.point === 'attn_z' && cfg.concat_heads !== true)
    throw refuse(
      cfgFile,
      `The SAE reads one head's z (concat_heads ${JSON.stringify(cfg.concat_heads)}, head ${JSON.stringify(cfg.head)}), not every head's`,
      'Use the SAE of all heads (concat_heads true, head "cat").',
    );
  const index = readIndex(weights);
  return {
    folder: where,
    format: 'attention_output_saes',
    architecture: 'standard',
    dIn,
    dSae,
    dtype: index.tensors.get('W_enc')!.dtype,
    hookName: cfg.act_name,
    hookLayer: hook.layer,
    hookPoint: hook.point,
    applyBDecToInput: true,
    weightsFile: weights,
    normalization: 'none',
    prependBos: true,
    modelName: typeof cfg.model_name === 'string' ? cfg.model_name : undefined,
    modelProcessing: {
      centre: true,
      foldValueBiases: true,
      source: "attention-output-saes' train.py (HookedTransformer.from_pretrained's default processing)",
    },
  };
}

function loadWeights(info: SaeInfo, latents?: readonly number[]): SaeWeights {
  const { dIn: d, dSae: m, weightsFile: file } = info;
  const axis: Record<string, 0 | 1> = { W_enc: 1, b_enc: 0, W_dec: 0 };
  const t = readTensors(file, readIndex(file), undefined, latents && { ids: latents, axisOf: (name) => axis[name] });
  return {
    ...info,
    dSae: latents?.length ?? m,
    ...saeLensTensors(t, file, d, m),
  };
}

export const attentionOutputSaesFormat: SaeFormatModule = {
  name: 'attention_output_saes',
  watchedFiles: [],
  detect: (where) => pairsAt(where).length > 0,
  readInfo,
  loadWeights,
};
