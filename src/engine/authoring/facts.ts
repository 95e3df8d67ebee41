import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { SaeDiffError } from '../core/errors';
import { CHAT_TEMPLATE_JINJA, findChatTemplate, PROCESSOR_CHAT_TEMPLATE } from '../data/chatTemplate';
import { specialTokensOf } from '../data/tokenizer';
import { datasetExtensionProblem, isParquet, PromptParser } from '../data/dataset';
import type { ChatMessage } from '../data/promptRecords';
import { parquetLayout, promptColumns, readParquetMetadata } from '../data/parquetPrompts';
import { READ_CAPS, readHeadBounded, readJsonBounded, readTextBounded } from '../io/boundedRead';
import { attentionWidth, badSizeKey, HfModelConfig, hiddenSize, layerCount, ONNX_CANDIDATES } from '../model/modelFolder';
import { CHECKPOINT_FILES } from '../model/checkpoint/checkpointFiles';
import { checkpointSpec } from '../model/checkpoint/decoderConfig';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, describeAdapter, isAdapterFolder, readLoraAdapter } from '../model/checkpoint/loraAdapter';
import { SAE_FORMATS } from '../sae/formats';
import { readSaeInfo, SaeInfo } from '../sae/loadSae';
import { cachedOnFiles } from './fileCache';
import type { SaeFormat } from '../config/types';

/**
 * Cached, header-only facts about the files a config names. Never loads weights:
 * model facts read config.json, SAE facts read cfg.json and the safetensors/npz header.
 */

export interface ModelFacts {
  folder: string;
  exists: boolean;
  isFolder: boolean;
  onnxPath?: string;
  /** model.safetensors (or its index) when the folder has no ONNX file: the run builds the graph from it. */
  checkpointPath?: string;
  /** Why config.json does not describe a checkpoint the run can build (model_type, RoPE type…). */
  checkpointError?: string;
  /** A PEFT LoRA adapter folder (adapter_config.json): a fine-tune applied on base's checkpoint. */
  adapterPath?: string;
  /** Why the adapter cannot be applied (DoRA, another PEFT type…). */
  adapterError?: string;
  /** What the adapter changes (loraAdapter.ts describeAdapter). */
  adapterSummary?: string;
  hasConfigJson: boolean;
  configError?: string;
  hiddenSize?: number;
  /** Attention heads x head_dim: the width of attn_z (modelFolder.ts attentionWidth). */
  attentionWidth?: number;
  layerCount?: number;
  /** The layers without attention heads (no attn_z): Gated DeltaNet, LFM2's convolution, Granite 4's Mamba2. */
  linearAttentionLayers?: number[];
  modelType?: string;
  tokenizerPath?: string;
  /** The tokenizer has a chat template (data/chatTemplate.ts: chat_template.jinja, tokenizer_config.json, chat_template.json). */
  hasChatTemplate?: boolean;
  /** That template, where it was read, and the special tokens a run renders it with (data/tokenizer.ts specialTokensOf). */
  chatTemplate?: { source: string; file: string; specialTokens: Record<string, string> };
}

export function modelFacts(folder: string, onnxFile?: string): ModelFacts {
  const configJson = path.join(folder, 'config.json');
  const tokenizer = path.join(folder, 'tokenizer.json');
  const onnxCandidates = onnxFile ? [path.resolve(folder, onnxFile)] : ONNX_CANDIDATES.map((c) => path.join(folder, c));
  const tokenizerConfig = path.join(folder, 'tokenizer_config.json');
  const checkpoints = CHECKPOINT_FILES.map((c) => path.join(folder, c));
  const adapter = [ADAPTER_CONFIG, ...ADAPTER_WEIGHTS].map((f) => path.join(folder, f));
  const watched = [
    folder,
    path.join(folder, 'onnx'),
    configJson,
    tokenizer,
    tokenizerConfig,
    path.join(folder, CHAT_TEMPLATE_JINJA),
    path.join(folder, PROCESSOR_CHAT_TEMPLATE),
    path.join(folder, 'special_tokens_map.json'),
    ...onnxCandidates,
    ...checkpoints,
    ...adapter,
  ];
  return cachedOnFiles('model', watched, () => {
    const st = statOrUndefined(folder);
    const facts: ModelFacts = { folder, exists: !!st, isFolder: !!st?.isDirectory(), hasConfigJson: false };
    if (!facts.isFolder) return facts;
    facts.onnxPath = onnxCandidates.find((c) => fs.existsSync(c));
    if (!facts.onnxPath && !onnxFile) facts.checkpointPath = checkpoints.find((c) => fs.existsSync(c));
    if (!facts.onnxPath && !facts.checkpointPath && isAdapterFolder(folder)) {
      facts.adapterPath = path.join(folder, ADAPTER_CONFIG);
      try {
        facts.adapterSummary = describeAdapter(readLoraAdapter(folder));
      } catch (e) {
        facts.adapterError = (e as Error).message;
      }
    }
    facts.tokenizerPath = fs.existsSync(tokenizer) ? tokenizer : undefined;
    facts.hasConfigJson = fs.existsSync(configJson);
    let template: { template: string; file: string } | undefined;
    let tc: Record<string, unknown> | undefined;
    try {
      tc = fs.existsSync(tokenizerConfig) ? (readJsonBounded(tokenizerConfig, READ_CAPS.config) as Record<string, unknown>) : undefined;
      template = findChatTemplate(folder, tc ?? {}, tc ? tokenizerConfig : undefined);
      facts.hasChatTemplate = !!template;
    } catch {
      facts.hasChatTemplate = false; // unreadable: the run reports it when it loads the tokenizer
    }
    if (facts.hasConfigJson) {
      try {
        const cfg = readJsonBounded(configJson, READ_CAPS.config) as HfModelConfig;
        if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new Error('config.json is not a JSON object');
        const badSize = badSizeKey(cfg);
        if (badSize) throw new Error(`In config.json, ${badSize}`);
        facts.hiddenSize = hiddenSize(cfg);
        facts.attentionWidth = attentionWidth(cfg);
        facts.layerCount = layerCount(cfg);
        facts.modelType = typeof cfg.model_type === 'string' ? cfg.model_type : undefined;
        if (facts.checkpointPath) {
          try {
            const spec = checkpointSpec(cfg, configJson);
            const linear = 'linearAttention' in spec ? (spec.linearAttention ?? spec.shortConv ?? spec.mamba)?.layers : undefined;
            if (linear) facts.linearAttentionLayers = linear.flatMap((isLinear, l) => (isLinear ? [l] : []));
          } catch (e) {
            facts.checkpointError = (e as Error).message;
          }
        }
      } catch (e) {
        facts.configError = (e as Error).message.replace(/^Not valid JSON/, 'config.json is not valid JSON');
      }
    }
    if (template) {
      try {
        const specialTokens = specialTokensOf(tc && typeof tc === 'object' ? tc : {}, folder, facts.modelType);
        facts.chatTemplate = { source: template.template, file: template.file, specialTokens };
      } catch {
        // an unreadable special_tokens_map.json: the run reports it when it loads the tokenizer
      }
    }
    return facts;
  });
}

export interface SaeFacts {
  info?: SaeInfo;
  error?: string;
}

export function saeFacts(folder: string, format: SaeFormat): SaeFacts {
  const watched = [folder, ...[...new Set(SAE_FORMATS.flatMap((f) => f.watchedFiles))].map((f) => path.join(folder, f))];
  return cachedOnFiles(`sae:${format}`, watched, () => {
    try {
      return { info: readSaeInfo(folder, format) };
    } catch (e) {
      const hint = e instanceof SaeDiffError && e.hint ? ` ${e.hint}` : '';
      return { error: `${(e as Error).message}.${hint}`.replace(/\.\./g, '.') };
    }
  });
}

export interface TokenizerFacts {
  contentHash?: string;
  vocabHash?: string;
  vocabSize?: number;
  error?: string;
}

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
      const entries: [string, unknown][] = Array.isArray(vocab)
        ? vocab.map((v: unknown[], i: number) => [String(v[0]), i])
        : Object.entries(vocab);
      entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const added = (json?.added_tokens ?? []).map((t: any) => [t.id, t.content]);
      return { contentHash, vocabHash: sha1(JSON.stringify([entries, added])), vocabSize: entries.length };
    } catch (e) {
      return { contentHash, error: `${file} is not valid JSON: ${(e as Error).message}` };
    }
  });
}

export interface DatasetFacts {
  exists: boolean;
  error?: string;
  /** A problem that does not stop the run (the file could not be checked ahead). */
  warning?: string;
  /** 1-based line of the dataset file the error is on. */
  errorLine?: number;
  checkedRecords: number;
  /** Some checked record is a chat (messages) record: the run needs a chat template. */
  hasChat?: boolean;
  /** The checked chat records and their 0-based place among the records, to render with the run's template. */
  chatRecords?: { index: number; messages: ChatMessage[] }[];
}

const DATASET_PEEK_BYTES = 64 * 1024;
/** A first record longer than the peek is read up to this far before giving up checking it. */
const DATASET_MAX_PEEK_BYTES = 4 * 1024 * 1024;
const DATASET_PEEK_RECORDS = 5;

/** Checks that the first records of a .jsonl/.json/.txt prompts file parse, as the run reads them (reads at most 4 MB); a .parquet file's footer. */
export function datasetFacts(file: string, field?: string): DatasetFacts {
  return cachedOnFiles(`dataset:${field ?? ''}`, [file], () => {
    const st = statOrUndefined(file);
    if (!st) return { exists: false, checkedRecords: 0 };
    if (st.isDirectory()) return { exists: true, checkedRecords: 0, error: `${file} is a folder, not a prompts file` };
    const badExtension = datasetExtensionProblem(file);
    if (badExtension) return { exists: true, checkedRecords: 0, error: `${badExtension.message}. ${badExtension.hint.replace(/\.$/, '')}` };
    const isJson = path.extname(file).toLowerCase() === '.json';
    if (isParquet(file) && st.isFile()) return parquetFacts(file, field);
    if (!st.isFile())
      return {
        exists: true,
        checkedRecords: 0,
        warning: `${file} is not a regular file (a pipe or device): its records are checked only when the run reads it`,
      };
    let head: { bytes: Buffer; truncated: boolean };
    for (let peek = DATASET_PEEK_BYTES; ; peek *= 4) {
      try {
        head = readHeadBounded(file, peek);
      } catch (e) {
        return { exists: true, checkedRecords: 0, error: (e as Error).message };
      }
      // a first record longer than the peek is read further (up to 4 MB), never called "empty"
      if (!head.truncated || head.bytes.includes(10) || peek >= DATASET_MAX_PEEK_BYTES) break;
    }
    let parser: PromptParser;
    try {
      parser = new PromptParser(file, DATASET_PEEK_RECORDS, field);
    } catch (e) {
      return { exists: true, checkedRecords: 0, error: (e as Error).message };
    }
    try {
      let bytes = head.bytes;
      // a .json array is split by its brackets, not its lines: an element cut by the peek is not taken
      if (head.truncated && !isJson) {
        const lastNl = bytes.lastIndexOf(10);
        if (lastNl < 0)
          return {
            exists: true,
            checkedRecords: 0,
            warning: `The first record of ${path.basename(file)} is longer than ${DATASET_MAX_PEEK_BYTES / 1024 / 1024} MB: it is checked only when the run reads it`,
          };
        bytes = bytes.subarray(0, lastNl + 1); // the last line may be cut in the middle
      }
      parser.push(bytes);
      if (parser.records.length === 0 && isJson && head.truncated)
        return {
          exists: true,
          checkedRecords: 0,
          warning: `The first record of ${path.basename(file)} is longer than ${DATASET_MAX_PEEK_BYTES / 1024 / 1024} MB: it is checked only when the run reads it`,
        };
      if (parser.records.length === 0) parser.end(); // throws "has no prompts"
    } catch (e) {
      const loc = e instanceof SaeDiffError ? e.location : undefined;
      const message = (e as Error).message
        .replace(/^Line (\d+)/, `Line $1 of ${path.basename(file)}`)
        .replace(/^The record at line (\d+)/, `The record at line $1 of ${path.basename(file)}`)
        .replace(/^The dataset (\S+) has no prompts$/, '$1 has no prompts (it is empty)');
      return { exists: true, checkedRecords: parser.records.length, error: message, ...(loc?.line ? { errorLine: loc.line } : {}) };
    }
    const chatRecords = parser.records.flatMap((r, index) => ('messages' in r ? [{ index, messages: r.messages }] : []));
    return { exists: true, checkedRecords: parser.records.length, hasChat: chatRecords.length > 0, chatRecords };
  });
}

/** A key that could hold each prompt (dataset.field): its name, what it holds, and in how many of the records read. */
export interface PromptFieldCandidate {
  name: string;
  kind: 'text' | 'chat';
  /** Records (of `of`) where it is a string or a list; a Parquet column counts for all. */
  records: number;
  of: number;
}

/**
 * The keys of the first records of a .jsonl (or one-record-per-line .json) file, or a Parquet file's columns, that
 * hold a string or a list: what dataset.field could name. Reads at most 64 KB (the footer for Parquet).
 */
export function promptFieldCandidates(file: string): PromptFieldCandidate[] {
  return cachedOnFiles('dataset-fields', [file], () => {
    if (!statOrUndefined(file)?.isFile()) return [];
    try {
      if (isParquet(file)) return promptColumns(readParquetMetadata(file)).map((c) => ({ ...c, records: 1, of: 1 }));
      const { bytes, truncated } = readHeadBounded(file, DATASET_PEEK_BYTES);
      const lines = bytes.toString('utf8').split('\n');
      if (truncated) lines.pop();
      const records = lines
        .slice(0, 20)
        .map((l) => {
          try {
            return JSON.parse(l) as unknown;
          } catch {
            return undefined;
          }
        })
        .filter((r): r is Record<string, unknown> => r !== null && typeof r === 'object' && !Array.isArray(r));
      const found = new Map<string, PromptFieldCandidate>();
      for (const r of records)
        for (const [name, v] of Object.entries(r)) {
          if (typeof v !== 'string' && !Array.isArray(v)) continue;
          const c = found.get(name) ?? { name, kind: typeof v === 'string' ? 'text' : 'chat', records: 0, of: records.length };
          c.records++;
          found.set(name, c);
        }
      return [...found.values()];
    } catch {
      return [];
    }
  });
}

/** A Parquet file is checked from its footer: a prompt column, codecs it can decode, rows; its rows are read by the run. */
function parquetFacts(file: string, field?: string): DatasetFacts {
  try {
    const layout = parquetLayout(readParquetMetadata(file), file, field);
    if (layout.rows === 0) return { exists: true, checkedRecords: 0, error: `${path.basename(file)} has no prompts (it has no rows)` };
    return { exists: true, checkedRecords: 0, hasChat: layout.chat };
  } catch (e) {
    const hint = e instanceof SaeDiffError && e.hint ? `. ${e.hint.replace(/\.$/, '')}` : '';
    return { exists: true, checkedRecords: 0, error: `${(e as Error).message}${hint}` };
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
