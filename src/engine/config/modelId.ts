import * as fs from 'fs';
import * as path from 'path';

/**
 * The one rule for "is this model value a Hugging Face id?": `org/name` or `name`, no other path
 * separators, not relative (`./`, `..`), not absolute, not a file name (.yaml/.json/.onnx). The lookup in
 * the local hub cache is model/hfCache.ts's job; this rule stays here so the config layer needs no model code.
 */
export function looksLikeHubModelId(value: string): boolean {
  return /^[A-Za-z0-9][\w.-]*(\/[\w.-]+)?$/.test(value) && !value.includes('..') && !/\.(ya?ml|json|onnx)$/i.test(value);
}

/** What a config's model value names: a folder (absolute, against the config's folder) and, when no such folder exists and the value reads as an id, that hub id. */
export interface ModelTarget {
  folder: string;
  hubId?: string;
}

export function modelTarget(value: string, configDir: string): ModelTarget {
  const folder = path.resolve(configDir, value);
  return !fs.existsSync(folder) && looksLikeHubModelId(value) ? { folder, hubId: value } : { folder };
}

/**
 * A dataset value read as a Hugging Face dataset id: `org/name` (both parts, as hub datasets are named today), no
 * data-file extension, and no such path beside the config (data/datasetSource.ts looks it up in the local cache).
 */
export function looksLikeHubDatasetId(value: string): boolean {
  return (
    /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(value) && !value.includes('..') && !/\.(jsonl?|txt|parquet|csv|tsv|arrow|ya?ml)$/i.test(value)
  );
}

/** What a config's dataset value names: a path (absolute) and, when nothing is there and the value reads as an id, that hub id. */
export function datasetTarget(value: string, configDir: string): { path: string; hubId?: string } {
  const target = path.resolve(configDir, value);
  return !fs.existsSync(target) && looksLikeHubDatasetId(value) ? { path: target, hubId: value } : { path: target };
}
