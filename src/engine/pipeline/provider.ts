import type { ProviderRequest, ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { ProviderChoice, selectProvider } from '../runtime/providers';
import { probeEnvironment } from '../runtime/session';

/**
 * The execution provider of a run: the caller's request (CLI --provider, editor setting) or
 * runtime.execution_provider. An unavailable provider named in the file is located at its key; one the
 * caller asked for is not (it is not in the file). Probes are cached per process, so the worker can ask
 * before the run to show the provider early and the run gets the same answer.
 */
export async function chooseProvider(config: ResolvedConfig, fromCaller: ProviderRequest | undefined): Promise<ProviderChoice> {
  try {
    return await selectProvider(fromCaller ?? config.runtime.execution_provider, probeEnvironment(), config.runtime.fallback);
  } catch (e) {
    if (e instanceof SaeDiffError && fromCaller === undefined) {
      throw new SaeDiffError(e.message, { location: config.locate('runtime.execution_provider'), hint: e.hint });
    }
    throw e;
  }
}
