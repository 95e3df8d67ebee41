import * as fs from 'fs';
import * as path from 'path';
import type { ModelSpec, ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { READ_CAPS, readJsonBounded } from '../io/boundedRead';
import { checkpointMainFile, INDEX_FILE, SINGLE_FILE } from './checkpoint/checkpointFiles';
import { decoderSpec } from './checkpoint/decoderConfig';
import { checkpointSource, type ModelSource, onnxSource } from './modelSource';

/** What a model folder holds, resolved to files. */
export interface ModelFiles {
  spec: ModelSpec;
  /** The ONNX export, or (when the folder has none) the safetensors checkpoint the graph is built from. */
  source: ModelSource;
  configJson: HfModelConfig;
  tokenizerJsonPath: string;
  tokenizerConfigPath?: string;
}

export interface HfModelConfig {
  model_type?: string;
  hidden_size?: number;
  n_embd?: number;
  num_hidden_layers?: number;
  n_layer?: number;
  [key: string]: unknown;
}

export function hiddenSize(c: HfModelConfig): number | undefined {
  return positiveInteger(c.hidden_size ?? c.n_embd ?? c.d_model);
}
export function layerCount(c: HfModelConfig): number | undefined {
  return positiveInteger(c.num_hidden_layers ?? c.n_layer ?? c.num_layers);
}

/** The first size key config.json has that is not a positive integer (so "128" or -1 never reach a message). */
export function badSizeKey(c: HfModelConfig): string | undefined {
  for (const keys of [
    ['hidden_size', 'n_embd', 'd_model'],
    ['num_hidden_layers', 'n_layer', 'num_layers'],
  ]) {
    const k = keys.find((key) => c[key] !== undefined && c[key] !== null);
    if (k !== undefined && positiveInteger(c[k]) === undefined) return `${k} is ${JSON.stringify(c[k])}, not a positive integer`;
  }
  return undefined;
}

function positiveInteger(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/** Candidate ONNX files, in order of preference (transformers.js repos keep them under onnx/). */
export const ONNX_CANDIDATES = ['model.onnx', path.join('onnx', 'model.onnx'), path.join('onnx', 'model_fp16.onnx'), 'model_fp16.onnx'];
/** A save_pretrained checkpoint, used when the folder has no ONNX file (model/checkpoint builds its graph). */
export const CHECKPOINT_CANDIDATES = [SINGLE_FILE, INDEX_FILE];

export function resolveModelFiles(spec: ModelSpec, config: ResolvedConfig): ModelFiles {
  const where = config.locate(spec.key.replace(/\.(\d+)$/, '.$1.path'));
  if (!fs.existsSync(spec.path) || !fs.statSync(spec.path).isDirectory()) {
    throw new SaeDiffError(`Model folder not found: ${spec.path}`, {
      location: where,
      // the loader marks a value that reads as a hub id (config/modelId.ts) and was not found in the cache
      hint:
        spec.hubId !== undefined
          ? 'This looks like a Hugging Face model id that is not in the local cache. Download it (`hf download <id>`: Llama, Mistral and Qwen2 run from their safetensors), or export it with `optimum-cli export onnx --model <id> <folder>` and give the folder.'
          : 'Give a folder that holds config.json, tokenizer.json and model.safetensors or model.onnx.',
    });
  }
  let onnxPath: string | undefined;
  if (spec.onnxFile) {
    onnxPath = path.resolve(spec.path, spec.onnxFile);
    if (!fs.existsSync(onnxPath)) throw new SaeDiffError(`ONNX file not found: ${onnxPath}`, { location: where, hint: 'Check onnx_file.' });
  } else {
    onnxPath = ONNX_CANDIDATES.map((c) => path.join(spec.path, c)).find((c) => fs.existsSync(c));
  }
  const checkpoint = onnxPath ? undefined : checkpointMainFile(spec.path);
  if (!onnxPath && !checkpoint) {
    throw new SaeDiffError(`No model in ${spec.path} (looked for ${[...ONNX_CANDIDATES, ...CHECKPOINT_CANDIDATES].join(', ')})`, {
      location: where,
      hint: 'Give a folder saved with save_pretrained (config.json, model.safetensors) or an ONNX export (`optimum-cli export onnx`), or name the ONNX file with onnx_file.',
    });
  }
  const configPath = path.join(spec.path, 'config.json');
  if (!fs.existsSync(configPath))
    throw new SaeDiffError(`Missing config.json in ${spec.path}`, {
      location: where,
      hint: 'Copy the Hugging Face config.json of the model into the folder.',
    });
  const configJson = readJson(configPath) as HfModelConfig;
  if (configJson === null || typeof configJson !== 'object' || Array.isArray(configJson)) {
    throw new SaeDiffError('config.json is not a JSON object', {
      location: { file: configPath },
      hint: 'Copy the Hugging Face config.json of the model into the folder.',
    });
  }
  const badSize = badSizeKey(configJson);
  if (badSize)
    throw new SaeDiffError(`In config.json, ${badSize}`, {
      location: { file: configPath },
      hint: 'Copy the Hugging Face config.json of the model into the folder.',
    });
  const tokenizerJsonPath = path.join(spec.path, 'tokenizer.json');
  if (!fs.existsSync(tokenizerJsonPath))
    throw new SaeDiffError(`Missing tokenizer.json in ${spec.path}`, {
      location: where,
      hint: 'Save the tokenizer with tokenizer.save_pretrained(<folder>).',
    });
  const tc = path.join(spec.path, 'tokenizer_config.json');
  const source = onnxPath
    ? onnxSource(onnxPath)
    : checkpointSource(checkpoint!, configPath, decoderSpec(configJson, configPath, config.runtime.max_tokens));
  return { spec, source, configJson, tokenizerJsonPath, tokenizerConfigPath: fs.existsSync(tc) ? tc : undefined };
}

/** A small JSON file, read bounded (regular file, size cap) and refused if it holds a non-finite number. */
export function readJson(file: string, maxBytes: number = READ_CAPS.config): unknown {
  return readJsonBounded(file, maxBytes);
}
