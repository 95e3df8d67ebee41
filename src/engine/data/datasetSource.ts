/**
 * Where a config's dataset.path points: one prompts file, a folder of data files, or a Hugging Face dataset id
 * whose snapshot is in the local hub cache (`hf download <id> --repo-type dataset` and `datasets.load_dataset` put
 * it there; nothing is downloaded). A folder or a snapshot gives the files of dataset.split (and dataset.subset) as
 * `datasets`' load_dataset finds them (datasets/data_files.py, datasets/utils/metadata.py):
 * - the dataset card's `configs` (README.md's YAML header): each subset's `data_files`, by split;
 * - else the shards push_to_hub writes: data/{split}-NNNNN-of-NNNNN*.* (SPLIT_PATTERN_SHARDED);
 * - else split keywords (train, validation / valid / dev / val, test / eval…) in folder names, then in file names,
 *   then every file as train (data_files.py's default patterns).
 * Files are read in the order load_dataset reads them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { parse as parseYaml } from 'yaml';
import { SaeDiffError, throwIfAborted } from '../core/errors';
import { readTextBounded } from '../io/boundedRead';
import { cachedSnapshots, hubCacheDir, type HubEnv } from '../model/hfCache';
import { datasetExtensionProblem, readPromptsAsync } from './dataset';
import type { PromptRecord } from './promptRecords';

/** The config's dataset keys this resolves (config/types.ts). */
export interface DatasetRef {
  /** Absolute: a file or a folder; for a hub id, where a folder of that name would be. */
  path: string;
  /** Set when path does not exist and the value reads as `org/name` (config/modelId.ts). */
  hubId?: string;
  split: string;
  subset?: string;
  /** dataset.field: the record key that holds each prompt. */
  field?: string;
}

export interface DatasetSource {
  /** The prompts files, in reading order. */
  files: string[];
  /** Shards of a -NNNNN-of-NNNNN series that are not in the folder, by the place they would take in `files`. */
  missing: { before: number; name: string }[];
  /** What the run reads, for logs and the report: a path, or `org/name@revision` with the split. */
  label: string;
}

/** Files load_dataset never reads as data (datasets/data_files.py FILES_TO_IGNORE), and hidden ones. */
const IGNORED = new Set(['README.md', 'config.json', 'dataset_info.json', 'dataset_infos.json', 'dummy_data.zip', 'dataset_dict.json']);
const SHARD = /-(\d{5})-of-(\d{5})/;
/** Extensions load_dataset reads as text data (a subset of its packaged modules'); the unreadable ones are refused by name. */
const DATA_SUFFIXES = new Set(['jsonl', 'json', 'txt', 'parquet', 'csv', 'tsv', 'arrow', 'feather']);

function sourceError(ref: DatasetRef, message: string, hint?: string): SaeDiffError {
  return new SaeDiffError(message, { location: { file: ref.path, key: 'dataset.path' }, hint });
}

/** The snapshot of a hub dataset in the local cache: the revision refs/main names, else the newest. */
function hubSnapshot(ref: DatasetRef, env: HubEnv): { folder: string; revision: string } {
  const id = ref.hubId!;
  const snapshot = cachedSnapshots(id, 'datasets', env)[0];
  if (!snapshot)
    throw sourceError(
      ref,
      `The dataset ${id} is neither a file or folder beside the config nor in the local Hugging Face cache (${hubCacheDir(env)})`,
      `Download it once with: hf download ${id} --repo-type dataset (sae-diff never downloads), or give a path.`,
    );
  return snapshot;
}

/** A folder with more files than this is not a dataset's (a home folder given by mistake): refused, not walked. */
const MAX_FOLDER_FILES = 100_000;

/** Every data file under `root`, relative with '/' separators: hidden files and folders and IGNORED skipped. */
function dataFiles(root: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const visit = (dir: string, rel: string) => {
    // a link back up the tree is walked once
    const real = fs.realpathSync(dir);
    if (seen.has(real)) return;
    seen.add(real);
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.') || entry.name.startsWith('__')) continue;
      const relative = rel ? `${rel}/${entry.name}` : entry.name;
      const full = path.join(dir, entry.name);
      // hub snapshots hold symbolic links to the blobs: followed
      const stat = fs.statSync(full, { throwIfNoEntry: false });
      if (stat?.isDirectory()) visit(full, relative);
      else if (stat?.isFile() && !IGNORED.has(entry.name)) out.push(relative);
      if (out.length > MAX_FOLDER_FILES)
        throw new SaeDiffError(`${root} holds more than ${MAX_FOLDER_FILES.toLocaleString('en')} files: it is not a dataset's folder`, {
          location: { file: root, key: 'dataset.path' },
          hint: "Give the dataset's own folder, or one of its files.",
        });
    }
  };
  visit(root, '');
  return out.sort();
}

/** An fsspec glob as a regular expression over '/'-separated relative paths: `**` any folders, `*` and `?` within one. */
export function globPattern(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches no folder or several; a trailing `**` anything
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?';
        i += 2;
      } else {
        re += '.*';
        i += 1;
      }
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        const body = glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

type DataFilesValue = string | string[] | { split: string; path: string | string[] }[] | Record<string, string | string[]>;

/** A subset's data_files by split, in each of the forms datasets accepts (utils/metadata.py, data_files.sanitize_patterns). */
function splitsOf(dataFiles: DataFilesValue): Map<string, string[]> | undefined {
  const list = (v: unknown) =>
    typeof v === 'string' ? [v] : Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
  if (typeof dataFiles === 'string' || (Array.isArray(dataFiles) && dataFiles.every((d) => typeof d === 'string')))
    return new Map([['train', list(dataFiles)!]]);
  if (Array.isArray(dataFiles)) {
    const out = new Map<string, string[]>();
    for (const d of dataFiles as { split?: unknown; path?: unknown }[]) {
      const paths = list(d?.path);
      if (typeof d?.split !== 'string' || !paths) return undefined;
      out.set(d.split, [...(out.get(d.split) ?? []), ...paths]);
    }
    return out;
  }
  if (dataFiles && typeof dataFiles === 'object') {
    const out = new Map<string, string[]>();
    for (const [split, v] of Object.entries(dataFiles)) {
      const paths = list(v);
      if (!paths) return undefined;
      out.set(split, paths);
    }
    return out;
  }
  return undefined;
}

/** The dataset card's `configs`, or undefined when README.md has no YAML header with them. */
function cardConfigs(root: string, ref: DatasetRef): { name: string; isDefault: boolean; splits: Map<string, string[]> }[] | undefined {
  const card = path.join(root, 'README.md');
  if (!fs.existsSync(card)) return undefined;
  const header = /^---\r?\n([\s\S]*?)\r?\n---/.exec(readTextBounded(card, 16 * 1024 * 1024));
  if (!header) return undefined;
  let meta: { configs?: unknown };
  try {
    meta = (parseYaml(header[1]) ?? {}) as { configs?: unknown };
  } catch (e) {
    throw sourceError(ref, `The YAML header of ${card} does not parse: ${(e as Error).message}`);
  }
  if (!Array.isArray(meta.configs)) return undefined;
  return meta.configs.map((c: { config_name?: unknown; data_files?: unknown; default?: unknown }, i: number) => {
    const splits = c?.data_files === undefined ? undefined : splitsOf(c.data_files as DataFilesValue);
    if (!splits)
      throw sourceError(ref, `configs[${i}] of ${card} has no data_files this reader understands (a path, a list, or split/path entries)`);
    return { name: typeof c.config_name === 'string' ? c.config_name : 'default', isDefault: c.default === true, splits };
  });
}

/**
 * The subsets and the splits a folder or a cached hub dataset offers (for the editor's completions): the card's
 * configs and the splits of `subset` (else of the default or only one), or the splits load_dataset infers from its
 * file names (inferredSplits). Empty when the value names a file or nothing readable.
 */
export function datasetChoices(ref: Omit<DatasetRef, 'split'>, env: HubEnv = process.env): { subsets: string[]; splits: string[] } {
  const none = { subsets: [], splits: [] };
  try {
    const root = ref.hubId ? cachedSnapshots(ref.hubId, 'datasets', env)[0]?.folder : ref.path;
    if (!root || !fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) return none;
    const configs = cardConfigs(root, { ...ref, split: '' });
    if (configs && configs.length > 0) {
      const chosen = configs.find((c) => c.name === ref.subset) ?? configs.find((c) => c.isDefault) ?? configs[0];
      return { subsets: configs.map((c) => c.name), splits: [...chosen.splits.keys()] };
    }
    return { subsets: [], splits: [...inferredSplits(dataFiles(root)).keys()] };
  } catch {
    return none;
  }
}

/** A file load_dataset reads as data: one of its extensions, anywhere in the name (data_files.resolve_pattern). */
function isData(file: string): boolean {
  return path
    .basename(file)
    .split('.')
    .slice(1)
    .some((suffix) => DATA_SUFFIXES.has(suffix.toLowerCase()));
}

/** Files matching the patterns, pattern after pattern, each one's sorted (data_files.resolve_pattern), a file once. */
function matching(all: string[], patterns: string[]): string[] {
  return [...new Set(patterns.flatMap((p) => all.filter((f) => globPattern(p).test(f))))];
}

// datasets/data_files.py (fsspec 2023.12 and later): split keywords, delimited by a non-word character, in a folder
// name or in a file name; else every file is train
const SPLIT_KEYWORDS: [string, string[]][] = [
  ['train', ['train', 'training']],
  ['validation', ['validation', 'valid', 'dev', 'val']],
  ['test', ['test', 'testing', 'eval', 'evaluation']],
];
const SEP = '[-._ 0-9]';
const KEYWORDS_IN_DIR_NAME = ['**/{k}/**', `**/{k}${SEP}*/**`, `**/*${SEP}{k}/**`, `**/*${SEP}{k}${SEP}*/**`];
const KEYWORDS_IN_FILENAME = [`**/{k}${SEP}*`, `**/*${SEP}{k}${SEP}*`];
const byKeywords = (base: string[]) =>
  new Map(SPLIT_KEYWORDS.map(([split, keywords]) => [split, keywords.flatMap((k) => base.map((b) => b.replace(/\{k\}/g, k)))]));
const DEFAULT_PATTERNS = [byKeywords(KEYWORDS_IN_DIR_NAME), byKeywords(KEYWORDS_IN_FILENAME), new Map([['train', ['**']]])];
const SHARD_NAME = /^data\/([^/]+)-[0-9]{5}-of-[0-9]{5}[^/]*\.[^/]*$/;

/**
 * The splits of a folder without a card's configs, and each one's patterns, as load_dataset infers them
 * (data_files._get_data_files_patterns): push_to_hub's shards data/{split}-NNNNN-of-NNNNN*.* when there are any,
 * else the first of the split-keyword folder names, the split-keyword file names and "all files are train" that
 * matches a file.
 */
function inferredSplits(all: string[]): Map<string, string[]> {
  const sharded = new Set(all.flatMap((f) => SHARD_NAME.exec(f)?.[1] ?? []));
  if (sharded.size > 0) {
    const first = SPLIT_KEYWORDS.map(([s]) => s).filter((s) => sharded.has(s));
    const ordered = [...first, ...[...sharded].filter((s) => !first.includes(s)).sort()];
    const escaped = (split: string) => split.replace(/[[\]*?]/g, '\\$&');
    return new Map(ordered.map((s) => [s, [`data/${escaped(s)}-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]*.*`]]));
  }
  for (const patterns of DEFAULT_PATTERNS) {
    const found = new Map([...patterns].filter(([, list]) => matching(all, list).length > 0));
    if (found.size > 0) return found;
  }
  return new Map();
}

/** The files of the split in a folder (a snapshot, or a folder the config names). */
function folderFiles(root: string, ref: DatasetRef, where: string): string[] {
  const all = dataFiles(root);
  if (all.length === 0)
    throw sourceError(
      ref,
      `The dataset ${where} is a folder, not a prompts file, and holds no data files`,
      "Give a .jsonl, .json, .txt or .parquet file, or a folder of a dataset's data files.",
    );
  const configs = cardConfigs(root, ref);
  let patterns: string[] | undefined;
  let from: string;
  if (configs && configs.length > 0) {
    const names = configs.map((c) => c.name);
    const chosen = ref.subset
      ? configs.find((c) => c.name === ref.subset)
      : (configs.find((c) => c.isDefault) ?? (configs.length === 1 ? configs[0] : undefined));
    if (!chosen)
      throw sourceError(
        ref,
        ref.subset
          ? `${where} has no subset "${ref.subset}": its subsets are ${names.join(', ')}`
          : `${where} has several subsets (${names.join(', ')}) and no default`,
        'Name one with dataset.subset.',
      );
    patterns = chosen.splits.get(ref.split);
    if (!patterns)
      throw sourceError(
        ref,
        `Subset "${chosen.name}" of ${where} has no split "${ref.split}": its splits are ${[...chosen.splits.keys()].join(', ')}`,
        'Name one with dataset.split.',
      );
    from = `its card's data_files (${patterns.join(', ')})`;
  } else {
    if (ref.subset)
      throw sourceError(
        ref,
        `${where} declares no subsets (its README.md has no configs), so dataset.subset "${ref.subset}" names nothing`,
        'Remove dataset.subset.',
      );
    const splits = inferredSplits(all);
    patterns = splits.get(ref.split);
    if (!patterns)
      throw sourceError(
        ref,
        `${where} has no split "${ref.split}" as load_dataset finds splits (its card's configs, push_to_hub's data/{split}-NNNNN-of-NNNNN files, split names in folder or file names): ${splits.size > 0 ? `its splits are ${[...splits.keys()].join(', ')}` : 'it has none'}`,
        'Name one with dataset.split, or name one of its files in dataset.path.',
      );
    from = 'the file names';
  }
  // a file without a data extension (a licence, a script) is passed over as load_dataset passes it over
  const files = matching(all, patterns).filter(isData);
  if (files.length === 0) {
    const listed = all.slice(0, 12).join(', ') + (all.length > 12 ? `, … (${all.length} files)` : '');
    throw sourceError(
      ref,
      `${where} has no data files for split "${ref.split}" by ${from}; it holds ${listed}`,
      'Give dataset.split, or name one of its files in dataset.path.',
    );
  }
  return files.map((f) => path.join(root, ...f.split('/')));
}

/** Shards of each -NNNNN-of-NNNNN series that `files` lacks, by where they would stand in the sorted list. */
function missingShards(files: string[]): DatasetSource['missing'] {
  /** A shard's series (its folder and the name before -NNNNN-of-) and its index, or undefined. */
  const shardOf = (f: string) => {
    const m = SHARD.exec(path.basename(f));
    return m
      ? { key: path.join(path.dirname(f), path.basename(f).slice(0, m.index)), index: Number(m[1]), count: Number(m[2]) }
      : undefined;
  };
  const series = new Map<string, { count: number; present: Set<number> }>();
  for (const f of files) {
    const shard = shardOf(f);
    if (!shard) continue;
    const s = series.get(shard.key) ?? { count: shard.count, present: new Set<number>() };
    s.present.add(shard.index);
    series.set(shard.key, s);
  }
  const missing: DatasetSource['missing'] = [];
  for (const [key, { count, present }] of series) {
    for (let i = 0; i < count; i++) {
      if (present.has(i)) continue;
      const name = `${path.basename(key)}-${String(i).padStart(5, '0')}-of-${String(count).padStart(5, '0')}`;
      // the first present file of the series that sorts after the missing one
      const after = files.findIndex((f) => shardOf(f)?.key === key && shardOf(f)!.index > i);
      missing.push({ before: after < 0 ? files.length : after, name });
    }
  }
  return missing.sort((a, b) => a.before - b.before);
}

/** The files dataset.path (with dataset.split and dataset.subset) names, or an error that says what to give. */
export function resolveDataset(ref: DatasetRef, env: HubEnv = process.env): DatasetSource {
  let root: string;
  let label: string;
  if (ref.hubId) {
    const { folder, revision } = hubSnapshot(ref, env);
    root = folder;
    label = `${ref.hubId}@${revision.slice(0, 12)}`;
  } else {
    const st = fs.statSync(ref.path, { throwIfNoEntry: false });
    if (!st?.isDirectory()) return { files: [ref.path], missing: [], label: ref.path };
    root = ref.path;
    label = ref.path;
  }
  const files = folderFiles(root, ref, ref.hubId ?? root);
  for (const f of files) {
    const bad = datasetExtensionProblem(f);
    if (bad) throw sourceError(ref, `${bad.message} (${path.relative(root, f)} of ${ref.hubId ?? root})`, bad.hint);
  }
  const subset = ref.subset ? `, subset ${ref.subset}` : '';
  return {
    files,
    missing: missingShards(files),
    label: `${label} (split ${ref.split}${subset}, ${files.length} file${files.length === 1 ? '' : 's'})`,
  };
}

/** The prompts of a source, file after file, up to `maxSamples` in all; a missing shard that would be read is an error. */
export async function readDatasetPrompts(
  ref: DatasetRef,
  source: DatasetSource,
  maxSamples?: number,
  signal?: AbortSignal,
): Promise<PromptRecord[]> {
  const records: PromptRecord[] = [];
  for (let i = 0; i <= source.files.length; i++) {
    if (maxSamples !== undefined && records.length >= maxSamples) break;
    const gap = source.missing.find((m) => m.before === i);
    if (gap)
      throw sourceError(
        ref,
        `${source.label} lacks shard ${gap.name}, which the prompts would be read from`,
        `Download the whole split (hf download ${ref.hubId ?? '<id>'} --repo-type dataset), or lower max_samples to what the shards before it hold.`,
      );
    if (i === source.files.length) break;
    throwIfAborted(signal);
    const left = maxSamples === undefined ? undefined : maxSamples - records.length;
    records.push(...(await readPromptsAsync(source.files[i], left, signal, ref.field)));
  }
  return records;
}
