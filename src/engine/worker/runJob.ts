import { READ_CAPS, readTextBounded } from '../io/boundedRead';
import { parse } from 'yaml';
import { loadConfigFile } from '../config/load';
import type { ProviderRequest, ResolvedConfig } from '../config/types';
import { CancelledError, SaeDiffError } from '../core/errors';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { RunOutline } from '../../shared/reportMessages';
import { runDiagnostic } from '../pipeline/pipeline';
import { CUDA_INSTALL_HINT, ProviderChoice, selectProvider } from '../runtime/providers';
import { probeEnvironment } from '../runtime/session';
import type { ChildMessage, RunRequest, WorkerError } from './messages';
import { PartialReportThrottle } from './partialThrottle';
import { effectiveRunSettings, runtimeSectionOf } from './runSettings';
import { withoutContexts } from './slimPartialReport';

/** One run inside the worker: load, pick the provider, run the engine; every outcome becomes a message. */
export async function runJob(request: RunRequest, signal: AbortSignal, send: (m: ChildMessage) => void): Promise<'done' | 'error' | 'cancelled'> {
  const partials = new PartialReportThrottle((report) => send({ type: 'partial', report: withoutContexts(report as SaeDiffReport) }));
  try {
    const config = loadConfigFile(request.configPath);
    const settings = effectiveRunSettings(runtimeSectionOf(readYaml(config.configPath)), request.defaults, request.overrides);
    if (settings.fallback !== undefined) config.runtime.fallback = settings.fallback;
    const target = settings.outPath ?? config.output.savePath;
    send({ type: 'started', configPath: config.configPath, reportPath: target, outline: runOutline(config, target) });

    // Chosen here too (probes are cached per process) so the editor can show the provider before the first batch.
    send({ type: 'provider', ...(await chooseProvider(config, settings.provider)) });

    const { reportPath } = await runDiagnostic(config, {
      provider: settings.provider,
      batchSize: settings.batchSize,
      threads: settings.threads,
      outPath: settings.outPath,
      signal,
      onProgress: (event) => send({ type: 'progress', event }),
      onLog: (line) => send({ type: 'log', line }),
      onPartialReport: (report) => partials.push(report),
    });
    partials.drop();
    send({ type: 'done', reportPath });
    return 'done';
  } catch (e) {
    partials.drop();
    if (e instanceof CancelledError || (signal.aborted && !(e instanceof SaeDiffError))) {
      send({ type: 'cancelled' });
      return 'cancelled';
    }
    // an unexpected failure (not a SaeDiffError) is a bug or a resource problem: keep its stack in the log
    if (!(e instanceof SaeDiffError) && e instanceof Error && e.stack) send({ type: 'log', line: e.stack });
    send({ type: 'error', error: toWorkerError(e) });
    return 'error';
  }
}

/** The models and layers the report will hold: the live panel shows them before the first batch. */
function runOutline(config: ResolvedConfig, reportPath: string): RunOutline {
  return {
    base: config.models.base.name, sfts: config.models.sfts.map((s) => s.name), reference: config.models.reference?.name,
    layers: config.layers.targets, hookPoint: config.layers.hookPoint, report: reportPath, maxSamples: config.dataset.maxSamples,
  };
}

function readYaml(file: string): unknown {
  try {
    return parse(readTextBounded(file, READ_CAPS.yaml), { maxAliasCount: 100 });
  } catch {
    return undefined; // loadConfigFile already parsed it; a race with an edit just means "no file keys"
  }
}

const OUT_OF_MEMORY = /out of memory|allocation failed|bad_alloc|ENOMEM|heap limit/i;

/** The provider the engine will pick; an unavailable one from the file is located at its key, as the engine does. */
async function chooseProvider(config: ResolvedConfig, fromEditor: ProviderRequest | undefined): Promise<ProviderChoice> {
  try {
    return await selectProvider(fromEditor ?? config.runtime.execution_provider, probeEnvironment(), config.runtime.fallback);
  } catch (e) {
    if (e instanceof SaeDiffError && fromEditor === undefined) {
      throw new SaeDiffError(e.message, { location: config.locate('runtime.execution_provider'), hint: e.hint });
    }
    throw e;
  }
}

export function toWorkerError(e: unknown): WorkerError {
  if (e instanceof SaeDiffError) {
    return { message: e.format(), location: e.location, cudaBinariesMissing: e.message.includes(CUDA_INSTALL_HINT) || undefined };
  }
  const message = e instanceof Error ? e.message : String(e);
  if (OUT_OF_MEMORY.test(message)) {
    return { message: `Out of memory: ${message}. Lower runtime.batch_size, runtime.max_tokens or dataset.max_samples.` };
  }
  return { message };
}
