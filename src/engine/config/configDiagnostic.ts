/** What every config check reports: a problem with the exact range of the offending node. */
import type { Range } from './yamlNodes';

export type Severity = 'error' | 'warning' | 'information';

/** One problem in a config file, with the exact range of the offending node. */
export interface ConfigDiagnostic {
  severity: Severity;
  message: string;
  range: Range;
  /** Stable identifier of the kind of problem, e.g. `unknown-key`. */
  code: string;
  /** Dotted path of the key concerned. */
  keyPath: string;
  /** Data a quick fix needs (e.g. the suggested key). */
  data?: Record<string, unknown>;
}

/** At most this many diagnostics are reported; the last one says how many more there are. */
export const MAX_DIAGNOSTICS = 100;

/** A number as the user wrote it: NaN and ±Infinity are not "null" (what JSON.stringify says). */
export function describeNumber(v: unknown): string {
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  return JSON.stringify(v);
}
