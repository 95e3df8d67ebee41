import { READ_CAPS, readTextBounded } from '../io/boundedRead';
import { parse } from 'yaml';
import { loadRunConfig } from '../model/loadRunConfig';
import type { ResolvedConfig } from '../config/types';
import { CancelledError, SaeDiffError } from '../core/errors';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { RunOutline } from '../../shared/reportMessages';
import { runDiagnostic } from '../pipeline/pipeline';
import { chooseProvider } from '../pipeline/provider';
import { CUDA_INSTALL_HINT } from '../runtime/providers';
import type { ChildMessage, RunRequest, WorkerError } from './messages';
import { PartialReportThrottle } from './partialThrottle';
import { effectiveRunSettings, runtimeSectionOf } from './runSettings';
import { withoutContexts } from './slimPartialReport';

/** One run inside the worker: load, pick the provider, run the engine; every outcome becomes a message. */
export async function runJob(
  request: RunRequest,
  signal: AbortSignal,
  send: (m: ChildMessage) => void,
): Promise<'done' | 'error' | 'cancelled'> {
  const partials = new PartialReportThrottle((report) => send({ type: 'partial', report: withoutContexts(report as SaeDiffReport) }));
  try {
    const config = loadRunConfig(request.configPath);
    const settings = effectiveRunSettings(runtimeSectionOf(readYaml(config.configPath)), request.defaults, request.overrides);
    if (settings.fallback !== undefined) config.runtime.fallback = settings.fallback;
    const target = settings.outPath ?? config.output.savePath;
    send({ type: 'started', configPath: config.configPath, reportPath: target, outline: runOutline(config, target) });

    // Chosen here, once, so the editor can show the provider before the first batch; the engine uses this choice.
    const chosenProvider = await chooseProvider(config, settings.provider);
    send({ type: 'provider', ...chosenProvider });

    const { reportPath } = await runDiagnostic(config, {
      provider: settings.provider,
      chosenProvider,
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
    base: config.models.base.name,
    sfts: config.models.sfts.map((s) => s.name),
    reference: config.models.reference?.name,
    layers: config.layers.targets,
    hookPoint: config.layers.hookPoint,
    report: reportPath,
    maxSamples: config.dataset.maxSamples,
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
