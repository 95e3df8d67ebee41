import * as fs from 'fs';
import * as path from 'path';

/**
 * Memoises facts read from files, keyed by the files' path + mtime + size, so that re-validating
 * a config while typing costs a few stat calls. A changed file gives a new stamp and a fresh read.
 */
interface Entry {
  stamp: string;
  files: string[];
  value: unknown;
}

const entries = new Map<string, Entry>();

/** `mtime:size` of a path, `-` when it does not exist (so that creating it invalidates too). */
export function fileStamp(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.mtimeMs}:${st.size}`;
  } catch {
    return '-';
  }
}

/** Returns compute()'s cached value while none of `files` has changed since it was computed. */
export function cachedOnFiles<T>(kind: string, files: string[], compute: () => T): T {
  const key = `${kind}\0${files.join('\0')}`;
  const stamp = files.map(fileStamp).join('|');
  const hit = entries.get(key);
  if (hit && hit.stamp === stamp) return hit.value as T;
  const value = compute();
  entries.set(key, { stamp, files, value });
  return value;
}

/**
 * Drops cached facts that depend on `changed` (a file or folder; everything below a folder too),
 * or all of them. Stamps already catch most edits; this is for watchers and coarse mtimes.
 */
export function invalidateFileCache(changed?: string): void {
  if (changed === undefined) {
    entries.clear();
    return;
  }
  const target = path.resolve(changed);
  const touches = (f: string) => f === target || f.startsWith(target + path.sep) || target.startsWith(f + path.sep);
  for (const [key, entry] of entries) if (entry.files.some(touches)) entries.delete(key);
}
