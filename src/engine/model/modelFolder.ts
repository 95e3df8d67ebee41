import * as fs from 'fs';
import * as path from 'path';
import type { ModelSpec, ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { READ_CAPS, readJsonBounded } from '../io/boundedRead';

/** What a model folder holds, resolved to files. */
export interface ModelFiles {
  spec: ModelSpec;
  onnxPath: string;
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

export function resolveModelFiles(spec: ModelSpec, config: ResolvedConfig): ModelFiles {
  const where = config.locate(spec.key.replace(/\.(\d+)$/, '.$1.path'));
  if (!fs.existsSync(spec.path) || !fs.statSync(spec.path).isDirectory()) {
    throw new SaeDiffError(`Model folder not found: ${spec.path}`, {
      location: where,
      // the loader marks a value that reads as a hub id (config/modelId.ts) and was not found in the cache
      hint:
        spec.hubId !== undefined
          ? 'This looks like a Hugging Face model id. Export it to ONNX first, e.g. `optimum-cli export onnx --model <id> <folder>`, and give the folder.'
          : 'Give a folder that holds model.onnx, config.json and tokenizer.json.',
    });
  }
  let onnxPath: string | undefined;
  if (spec.onnxFile) {
    onnxPath = path.resolve(spec.path, spec.onnxFile);
    if (!fs.existsSync(onnxPath)) throw new SaeDiffError(`ONNX file not found: ${onnxPath}`, { location: where, hint: 'Check onnx_file.' });
  } else {
    onnxPath = ONNX_CANDIDATES.map((c) => path.join(spec.path, c)).find((c) => fs.existsSync(c));
    if (!onnxPath) {
      throw new SaeDiffError(`No ONNX model in ${spec.path} (looked for ${ONNX_CANDIDATES.join(', ')})`, {
        location: where,
        hint: 'Export the model with `optimum-cli export onnx` or torch.onnx.export, or name the file with onnx_file.',
      });
    }
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
  return { spec, onnxPath, configJson, tokenizerJsonPath, tokenizerConfigPath: fs.existsSync(tc) ? tc : undefined };
}

/** A small JSON file, read bounded (regular file, size cap) and refused if it holds a non-finite number. */
export function readJson(file: string, maxBytes: number = READ_CAPS.config): unknown {
  return readJsonBounded(file, maxBytes);
}
