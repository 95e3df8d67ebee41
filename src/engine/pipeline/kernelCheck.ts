import type { ResolvedConfig } from '../config/types';
import { SaeDiffError } from '../core/errors';
import { accumulatorDifferences } from '../metrics/accumulatorAgreement';
import { LayerAccumulator } from '../metrics/layerAccumulator';
import type { Activations } from '../model/runner';
import type { ProviderChoice } from '../runtime/providers';
import { chooseReduction, type Reduction } from '../runtime/reduction';
import type { SessionSettings } from '../runtime/session';
import { createProjector } from '../sae/createProjector';
import { readSaeInfo } from '../sae/loadSae';
import type { EvaluatedRows, ProjectorOptions } from '../sae/projector';
import type { SaeWeights } from '../sae/types';
import { CHECK_CHUNK, checkActivations, checkRows, checkSae, EXACT_NORMALIZATIONS, type SaeGraphShape } from './kernelCheckData';

/**
 * The check's SAE width: the run's widest, up to 2304. Above 2048 the dense graph takes its top-k sets in
 * blocks, padded (sae/topKMembership.ts), so a run with wide SAEs has that path checked; the token-axis
 * sort of the 2250-token chunk is WebGPU's global-memory TopK. The cost grows with the width
 * (kernelCheckData.ts keeps features distinct up to 4096).
 */
const MAX_CHECK_WIDTH = 2304;

export interface KernelCheck {
  graphs: {
    /** What was compared, e.g. "standard SAE, dense path". */
    what: string;
    /** Where the provider disagreed with the CPU (metrics/accumulatorAgreement.ts); empty when it agreed. */
    differences: string[];
  }[];
  seconds: number;
}

/** Every difference of a check, each prefixed with what was compared. */
export function checkDifferences(check: KernelCheck): string[] {
  return check.graphs.flatMap((g) => g.differences.map((d) => `${g.what}: ${d}`));
}

/** The same call as sae/createProjector.ts (tests put a faulty provider in its place). */
export type MakeProjector = typeof createProjector;

/**
 * Runs the SAE graphs a run will use (its reduction path, each of its SAEs' shapes) on the provider and on
 * the CPU, over kernelCheckData.ts's exact synthetic SAE and activations, and compares the accumulators
 * (metrics/accumulatorAgreement.ts). A GPU kernel that computes a firing count, a top-k set, a histogram bin
 * or a sum wrongly would otherwise make a report that looks right and is not.
 */
export async function checkKernels(
  settings: SessionSettings,
  reduction: Reduction,
  shapes: SaeGraphShape[],
  width: number,
  options: Pick<ProjectorOptions, 'k' | 'contexts'>,
  make: MakeProjector = createProjector,
): Promise<KernelCheck> {
  const t0 = performance.now();
  const { base, fineTune } = checkActivations();
  const rows = checkRows();
  const cpu: SessionSettings = { provider: 'cpu', threads: settings.threads };
  const result: KernelCheck = { graphs: [], seconds: 0 };
  for (const shape of shapes) {
    const sae = checkSae(shape, width);
    const what = `${describeShape(shape)}, ${reduction} path`;
    const projectorOptions: ProjectorOptions = { k: Math.min(options.k, width), contexts: options.contexts };
    // the CPU's reference and the device's run at once: the device's work is mostly waiting for the GPU
    const [reference, device] = await Promise.all([
      accumulateOn(make, sae, cpu, reduction, projectorOptions, base, fineTune, rows),
      accumulateOn(make, sae, settings, reduction, projectorOptions, base, fineTune, rows).catch((e: Error) => e),
    ]);
    if (device instanceof Error) {
      // a provider that cannot build or run the graph fails the check like one that computes it wrongly
      result.graphs.push({ what, differences: [`the provider could not run it: ${device.message.split('\n')[0]}`] });
      continue;
    }
    const exactCounts = EXACT_NORMALIZATIONS.has(shape.normalization);
    result.graphs.push({ what, differences: accumulatorDifferences(reference, device, { exactCounts }) });
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

async function accumulateOn(
  make: MakeProjector,
  sae: SaeWeights,
  settings: SessionSettings,
  reduction: Reduction,
  options: ProjectorOptions,
  base: Activations,
  fineTune: Activations,
  rows: EvaluatedRows,
): Promise<LayerAccumulator> {
  const projector = await make(sae, settings, reduction, options);
  try {
    const acc = new LayerAccumulator(sae.dSae, sae.dIn, options.contexts);
    const n = rows.flat.length;
    for (let from = 0; from < n; from += CHECK_CHUNK)
      await projector.accumulate(acc, base, fineTune, rows, from, Math.min(n, from + CHECK_CHUNK));
    return acc;
  } finally {
    await projector.release();
  }
}

function describeShape(s: SaeGraphShape): string {
  const input = [
    s.normalization !== 'none' ? `${s.normalization} normalisation` : '',
    s.applyBDecToInput ? 'b_dec subtracted from the input' : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${s.architecture} SAE${input ? ` (${input})` : ''}`;
}

/**
 * The distinct graph shapes of the run's SAEs and the check's width, from their configs (no weights are
 * read). Undefined when an SAE cannot be read: the SAE step then reports that, naming the file.
 */
export function runShapes(config: ResolvedConfig): { shapes: SaeGraphShape[]; width: number } | undefined {
  const shapes = new Map<string, SaeGraphShape>();
  let widest = 0;
  try {
    for (const layer of config.layers.targets) {
      const info = readSaeInfo(config.sae.paths.get(layer)!, config.sae.format);
      const shape = { architecture: info.architecture, normalization: info.normalization, applyBDecToInput: info.applyBDecToInput };
      shapes.set(JSON.stringify(shape), shape);
      widest = Math.max(widest, info.dSae);
    }
  } catch {
    return undefined;
  }
  return { shapes: [...shapes.values()], width: Math.min(MAX_CHECK_WIDTH, widest) };
}

/** The check's differences in one sentence (the first three, and how many more). */
function disagreement(check: KernelCheck, provider: string): string {
  const differences = checkDifferences(check);
  const shown = differences.slice(0, 3).join('; ') + (differences.length > 3 ? `; and ${differences.length - 3} more` : '');
  return `The SAE graph gives different numbers on ${provider} than on the CPU: ${shown}`;
}

/** What a run does after the check: go on, or run on the CPU instead (with the warning to record). */
export interface KernelCheckOutcome {
  useCpu: boolean;
  /** For the log and the report's provider reason. */
  note: string;
  warning?: string;
}

/**
 * A provider whose kernels disagree is not used: `auto` and `runtime.fallback: true` run on the CPU with a
 * warning; a provider asked for by name stops the run, saying what differed.
 */
export function afterKernelCheck(
  check: KernelCheck,
  choice: Pick<ProviderChoice, 'provider' | 'requested'>,
  fallback: boolean,
): KernelCheckOutcome {
  const p = choice.provider;
  if (checkDifferences(check).length === 0) {
    const checked = check.graphs.map((g) => g.what).join('; ');
    return { useCpu: false, note: `SAE kernels on ${p} agree with the CPU (${checked}; ${check.seconds.toFixed(1)} s)` };
  }
  const what = disagreement(check, p);
  if (choice.requested === 'auto' || fallback) {
    return {
      useCpu: true,
      note: `fallback from ${p}: its SAE kernels disagree with the CPU's`,
      warning: `${what}. This run uses the CPU instead.`,
    };
  }
  throw new SaeDiffError(`${what}. A report computed with these kernels would be wrong.`, {
    hint: `Run on the CPU (--provider cpu), or set runtime.fallback: true to fall back to it. ONNX Runtime's ${p} kernels differ on this machine: worth reporting to ONNX Runtime with your GPU and driver.`,
  });
}

/**
 * SAE_DIFF_KERNEL_CHECK=report: a GPU whose kernels disagree is still used, for measuring its speed and
 * seeing its numbers (bench/gpu-session.sh). The disagreement is a warning in the report and its provider
 * reason, so the report never poses as checked.
 */
export function keepProviderForMeasuring(
  check: KernelCheck,
  choice: Pick<ProviderChoice, 'provider'>,
  env: Record<string, string | undefined>,
): KernelCheckOutcome | undefined {
  if (env.SAE_DIFF_KERNEL_CHECK !== 'report' || checkDifferences(check).length === 0) return undefined;
  const what = disagreement(check, choice.provider);
  return {
    useCpu: false,
    note: `SAE kernels on ${choice.provider} DISAGREE with the CPU; used anyway (SAE_DIFF_KERNEL_CHECK=report)`,
    warning: `${what}. Used anyway because SAE_DIFF_KERNEL_CHECK=report: this report's numbers are not trustworthy.`,
  };
}

/**
 * Step "provider", on a GPU provider: the check on the run's SAE shapes and reduction path, and what
 * follows from it (afterKernelCheck).
 */
export async function checkRunKernels(
  config: ResolvedConfig,
  settings: SessionSettings,
  choice: Pick<ProviderChoice, 'provider' | 'requested'>,
  log: (line: string) => void,
  env: Record<string, string | undefined> = process.env,
): Promise<KernelCheckOutcome> {
  const run = runShapes(config);
  if (!run) return { useCpu: false, note: 'SAE kernels not checked: an SAE could not be read' };
  const reduction = chooseReduction(settings.provider, config.runtime.reduction).reduction;
  log(
    `checking the SAE kernels on ${settings.provider} against the CPU (${run.shapes.length} graph${run.shapes.length > 1 ? 's' : ''}, width ${run.width})`,
  );
  const check = await checkKernels(settings, reduction, run.shapes, run.width, { k: config.sae.k, contexts: config.metrics.top_contexts });
  const outcome = keepProviderForMeasuring(check, choice, env) ?? afterKernelCheck(check, choice, config.runtime.fallback);
  log(outcome.warning ? `warning: ${outcome.warning}` : outcome.note);
  return outcome;
}
