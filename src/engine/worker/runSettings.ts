import type { ProviderRequest } from '../config/types';
import type { RunDefaults, RunOverrides } from './messages';

/** What the run takes from the editor: RunOptions fields plus runtime.fallback (which RunOptions lacks). */
export interface EffectiveRunSettings {
  provider?: ProviderRequest;
  batchSize?: number;
  threads?: number;
  outPath?: string;
  fallback?: boolean;
}

/**
 * Precedence: overrides > the config file's runtime section > editor defaults.
 * The engine lets RunOptions win over the file, so a default is passed only where the file is silent.
 */
export function effectiveRunSettings(
  fileRuntime: Record<string, unknown> | undefined,
  defaults: RunDefaults = {},
  overrides: RunOverrides = {},
): EffectiveRunSettings {
  const fileSets = (key: string) => fileRuntime !== undefined && fileRuntime[key] !== undefined && fileRuntime[key] !== null;
  const out: EffectiveRunSettings = {};
  if (overrides.provider !== undefined) out.provider = overrides.provider;
  else if (!fileSets('execution_provider') && defaults.provider !== undefined) out.provider = defaults.provider;
  if (!fileSets('batch_size') && defaults.batchSize !== undefined) out.batchSize = defaults.batchSize;
  // threads 0 means "all cores", the engine's default too
  if (!fileSets('threads') && defaults.threads !== undefined) out.threads = defaults.threads;
  if (!fileSets('fallback') && defaults.fallback !== undefined) out.fallback = defaults.fallback;
  if (overrides.outPath !== undefined) out.outPath = overrides.outPath;
  return out;
}

/** The `diagnostic_pipeline.runtime` mapping of a parsed config, if it is one. */
export function runtimeSectionOf(configData: unknown): Record<string, unknown> | undefined {
  const field = (v: unknown, key: string): unknown =>
    v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined;
  const runtime = field(field(configData, 'diagnostic_pipeline'), 'runtime');
  return runtime && typeof runtime === 'object' && !Array.isArray(runtime) ? (runtime as Record<string, unknown>) : undefined;
}
