import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../errors';
import { READ_CAPS, readJsonBounded, readTextBounded } from '../io/boundedRead';
import { badSizeKey, HfModelConfig, hiddenSize, layerCount, ONNX_CANDIDATES } from '../model/modelFolder';
import { readSaeInfo, SaeInfo } from '../sae/loadSae';
import { cachedOnFiles } from './fileCache';
import type { SaeFormat } from './types';

/**
 * Cached, header-only facts about the files a config names. Never loads weights:
 * model facts read config.json, SAE facts read cfg.json and the safetensors/npz header.
 */

export interface ModelFacts {
  folder: string;
  exists: boolean;
  isFolder: boolean;
  onnxPath?: string;
  hasConfigJson: boolean;
  configError?: string;
  hiddenSize?: number;
  layerCount?: number;
  modelType?: string;
  tokenizerPath?: string;
}

export function modelFacts(folder: string, onnxFile?: string): ModelFacts {
  const configJson = path.join(folder, 'config.json');
  const tokenizer = path.join(folder, 'tokenizer.json');
  const onnxCandidates = onnxFile ? [path.resolve(folder, onnxFile)] : ONNX_CANDIDATES.map((c) => path.join(folder, c));
  const watched = [folder, path.join(folder, 'onnx'), configJson, tokenizer, ...onnxCandidates];
  return cachedOnFiles('model', watched, () => {
    const st = statOrUndefined(folder);
    const facts: ModelFacts = { folder, exists: !!st, isFolder: !!st?.isDirectory(), hasConfigJson: false };
    if (!facts.isFolder) return facts;
    facts.onnxPath = onnxCandidates.find((c) => fs.existsSync(c));
    facts.tokenizerPath = fs.existsSync(tokenizer) ? tokenizer : undefined;
    facts.hasConfigJson = fs.existsSync(configJson);
    if (facts.hasConfigJson) {
      try {
        const cfg = readJsonBounded(configJson, READ_CAPS.config) as HfModelConfig;
        if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new Error('config.json is not a JSON object');
        const badSize = badSizeKey(cfg);
        if (badSize) throw new Error(`In config.json, ${badSize}`);
        facts.hiddenSize = hiddenSize(cfg);
        facts.layerCount = layerCount(cfg);
        facts.modelType = typeof cfg.model_type === 'string' ? cfg.model_type : undefined;
      } catch (e) {
        facts.configError = (e as Error).message.replace(/^Not valid JSON/, 'config.json is not valid JSON');
      }
    }
    return facts;
  });
}

export interface SaeFacts { info?: SaeInfo; error?: string }

export function saeFacts(folder: string, format: SaeFormat): SaeFacts {
  const watched = [folder, ...['cfg.json', 'sae_weights.safetensors', 'sae.safetensors', 'params.npz'].map((f) => path.join(folder, f))];
  return cachedOnFiles(`sae:${format}`, watched, () => {
    try {
      return { info: readSaeInfo(folder, format) };
    } catch (e) {
      const hint = e instanceof SaeDiffError && e.hint ? ` ${e.hint}` : '';
      return { error: `${(e as Error).message}.${hint}`.replace(/\.\./g, '.') };
    }
  });
}

export interface TokenizerFacts { contentHash?: string; vocabHash?: string; vocabSize?: number; error?: string }

/** Hashes of tokenizer.json's content and of its vocabulary (model vocab + added tokens). */
export function tokenizerFacts(file: string): TokenizerFacts {
  return cachedOnFiles('tokenizer', [file], () => {
    let text: string;
    try {
      text = readTextBounded(file, READ_CAPS.tokenizer);
    } catch (e) {
      return { error: (e as Error).message };
    }
    const contentHash = sha1(text);
    try {
      const json = JSON.parse(text);
      const vocab = json?.model?.vocab ?? {};
      const entries: [string, unknown][] = Array.isArray(vocab) ? vocab.map((v: unknown[], i: number) => [String(v[0]), i]) : Object.entries(vocab);
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const added = (json?.added_tokens ?? []).map((t: any) => [t.id, t.content]);
      return { contentHash, vocabHash: sha1(JSON.stringify([entries, added])), vocabSize: entries.length };
    } catch (e) {
      return { contentHash, error: `${file} is not valid JSON: ${(e as Error).message}` };
    }
  });
}

export interface DatasetFacts { exists: boolean; error?: string; /** 1-based line of the dataset file the error is on. */ errorLine?: number; checkedRecords: number }

const DATASET_PEEK_BYTES = 64 * 1024;
const DATASET_PEEK_RECORDS = 5;

/** Checks that the first records of a .jsonl/.txt prompts file parse (reads at most 64 KB). */
export function datasetFacts(file: string): DatasetFacts {
  return cachedOnFiles('dataset', [file], () => {
    const st = statOrUndefined(file);
    if (!st) return { exists: false, checkedRecords: 0 };
    if (!st.isFile()) return { exists: true, checkedRecords: 0, error: `${file} is a folder, not a prompts file` };
    const ext = path.extname(file).toLowerCase();
    if (ext !== '.jsonl' && ext !== '.txt') return { exists: true, checkedRecords: 0, error: `The prompts file must be .jsonl or .txt, not '${ext || 'no extension'}'` };
    const { text, truncated } = readHead(file, DATASET_PEEK_BYTES);
    const lines = text.split(/\r?\n/);
    if (truncated) lines.pop(); // the last line may be cut in the middle
    let checked = 0;
    for (let i = 0; i < lines.length && checked < DATASET_PEEK_RECORDS; i++) {
      if (!lines[i].trim()) continue;
      checked++;
      if (ext === '.txt') continue;
      const problem = jsonlRecordProblem(lines[i]);
      if (problem) return { exists: true, checkedRecords: checked, errorLine: i + 1, error: `Line ${i + 1} of ${path.basename(file)} ${problem}` };
    }
    if (checked === 0) return { exists: true, checkedRecords: 0, error: `${path.basename(file)} has no prompts (it is empty)` };
    return { exists: true, checkedRecords: checked };
  });
}

function jsonlRecordProblem(line: string): string | undefined {
  let rec: any;
  try {
    rec = JSON.parse(line);
  } catch (e) {
    return `is not valid JSON: ${(e as Error).message}`;
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return 'is not a JSON object';
  if (typeof rec.text === 'string' || typeof rec.prompt === 'string') return undefined;
  if (Array.isArray(rec.messages)) {
    const bad = rec.messages.findIndex((m: any) => !m || typeof m.role !== 'string' || typeof m.content !== 'string');
    return bad < 0 ? undefined : `has a messages entry ${bad} without a string role and content`;
  }
  return 'has no text, prompt or messages field';
}

function readHead(file: string, maxBytes: number): { text: string; truncated: boolean } {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(maxBytes);
    const n = fs.readSync(fd, buf, 0, maxBytes, 0);
    return { text: buf.subarray(0, n).toString('utf8'), truncated: n === maxBytes };
  } finally {
    fs.closeSync(fd);
  }
}

function statOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.statSync(p);
  } catch {
    return undefined;
  }
}

function sha1(s: string): string {
  return crypto.createHash('sha1').update(s).digest('hex');
}
