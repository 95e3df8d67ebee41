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

/**
 * An SAE value read as a path inside a Hugging Face repo: `org/name` then an optional folder inside it
 * (`google/gemma-scope-2b-pt-res/layer_12/width_16k/average_l0_82`, `EleutherAI/sae-llama-3-8b-32x/layers.10`), with
 * no such path beside the config; model/hfCache.ts finds it in the local cache's snapshot of that repo.
 */
export function hubRepoPath(value: string, configDir: string): { id: string; subpath: string } | undefined {
  if (fs.existsSync(path.resolve(configDir, value))) return undefined;
  const parts = value.split('/');
  if (parts.length < 2 || parts.some((p) => p === '' || p === '.' || p === '..') || !/^[A-Za-z0-9][\w.-]*$/.test(parts[0]))
    return undefined;
  if (!/^[\w.-]+$/.test(parts[1]) || value.includes('\\')) return undefined;
  return { id: `${parts[0]}/${parts[1]}`, subpath: parts.slice(2).join('/') };
}
