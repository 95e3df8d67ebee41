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
