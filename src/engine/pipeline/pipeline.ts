import * as os from 'os';
import type { ExecutionProviderName, ResolvedConfig } from '../config/types';
import { evaluatedRows, evaluatedTokenCount, PlannedBatch, planBatches } from '../data/batching';
import { provenanceOf } from './provenance';
import { SaeDiffError, throwIfAborted } from '../core/errors';
import { LayerAccumulator } from '../metrics/layerAccumulator';
import { NeighbourFit, neighbourFits, SELF_CHECK_TOKENS } from '../metrics/selfCheck';
import { Activations, HookedModel, releaseActivations } from '../model/runner';
import type { ProgressEvent, RunOptions } from './progress';
import { buildComparisons, buildReport, describeRun, ReportInputs, selfCheckFailureLines } from '../report/buildReport';
import { addFeatureDetails } from '../report/featureDetails';
import { KeptActivations, keepActivationsBytes, keptBytes } from '../report/keptActivations';
import type { PartialState, SaeDiffReport } from '../../shared/reportTypes';
import { accumulatorToJson } from '../metrics/serialize';
import { checkWritableTarget, writeFileAtomicAsync } from '../report/writeReport';
import type { SessionSettings } from '../runtime/session';
import { reportJson } from '../report/reportJson';
import { bufferLimit, limitMiB } from '../runtime/bufferLimit';
import { chooseBatching, deviceMemoryBudget } from '../runtime/deviceBatch';
import { chooseReduction, ReductionChoice } from '../runtime/reduction';
import { contextChunkCap } from '../sae/contextCandidates';
import type { Projector } from '../sae/projector';
import { checkRunKernels } from './kernelCheck';
import { chooseProvider } from './provider';
import { checkSameProcessing, processingNotes } from './modelProcessing';
import { everyModel, loadModels, resolveModels, RunModels } from './models';
import { loadSaes, RunSaes } from './saes';
import { datasetSourceOf, tokenise, Tokenised } from './tokenise';
import { hookedWidth, type ModelFiles } from '../model/modelFolder';
import { sameFile } from '../io/sameFile';

export type { RunOptions, ProgressEvent } from './progress';

export interface RunResult {
  report: SaeDiffReport;
  reportPath: string;
}

/** One layer -> accumulator map per compared model. */
type Accumulators = Map<number, LayerAccumulator>;
/** The models compared with base: base itself is never accumulated. */
type Compared<T> = Omit<RunModels<T>, 'base'>;

/**
 * Runs a diagnostic: base once, each fine-tune against it, every target layer hooked in one forward
 * pass per batch, projected through the base SAEs, reduced to streaming accumulators, and written as
 * one report (atomically; a cancelled or failed run writes nothing). Named steps, in order: choose the
 * provider, resolve the models, load the SAEs, tokenise, load the hooked models, run the batches, build
 * the report (once), write it.
 */
export async function runDiagnostic(config: ResolvedConfig, options: RunOptions = {}): Promise<RunResult> {
  const started = new Date();
  const t0 = performance.now();
  const log = options.onLog ?? (() => {});
  const progress = (e: ProgressEvent) => options.onProgress?.(e);
  const timings: Record<string, number> = { load: 0, tokenize: 0, forward: 0, sae: 0, metrics: 0, report: 0 };
  const toRelease: { release(): Promise<void> }[] = [];
  const reportPath = options.outPath ?? (options.shard ? partialPathFor(config.output.savePath, options.shard) : config.output.savePath);
  checkReportPath(config, reportPath, options.outPath !== undefined);
  const dataSource = datasetSourceOf(config);
  try {
    progress({ stage: 'load', message: 'Loading models and SAEs' });
    const warnings: string[] = [];
    const { settings, providerReason: chosenBecause } = await provider(config, options, warnings, log);
    const { files } = resolveModels(config, log, warnings);
    const reduction = chooseReduction(settings.provider, config.runtime.reduction);
    log(`reduction: ${reduction.reduction} (${reduction.reason})`);
    const providerReason = `${chosenBecause}; ${reduction.reduction} reduction (${reduction.reason})`;
    const since = (t: number) => ((performance.now() - t) / 1000).toFixed(2);
    const tSaes = performance.now();
    const saes = await loadSaes(
      config,
      hookedWidth(files.base.configJson, config.layers.hookPoint),
      settings,
      reduction.reduction,
      warnings,
      log,
    );
    saes.projectors.forEach((p) => toRelease.push(p));
    log(`loaded: ${saes.projectors.size} SAE session(s) in ${since(tSaes)} s`);
    const data = await tokenise(config, dataSource, files, options.shard, options.signal, warnings, log, saes.bosFirst);
    timings.tokenize = data.seconds;
    const hooks = {
      targets: config.layers.targets,
      hookPoint: config.layers.hookPoint,
      tensorNames: config.layers.tensorNames,
      outputLocation: reduction.activationLocation,
      centred: new Set([...saes.processing].filter(([, c]) => c?.centre).map(([l]) => l)),
      foldValueBiases: new Set([...saes.processing].filter(([, c]) => c?.foldValueBiases).map(([l]) => l)),
    };
    const tModels = performance.now();
    const models = await loadModels(files, hooks, settings, (m) => toRelease.push(m));
    log(`loaded: ${everyModel(files).length} model session(s) in ${since(tModels)} s`);
    for (const [layer, tensor] of models.base.hookTensors) log(`hook layer ${layer}: ${tensor}`);
    checkSameProcessing(models.base, [...models.fineTunes, ...(models.reference ? [models.reference] : [])]);
    const processing = processingNotes(saes.processing, models.base, config.layers.hookPoint, files.base.spec.name);
    processing.logs.forEach((line) => log(line));
    for (const w of processing.warnings) {
      warnings.push(w);
      log(`warning: ${w}`);
    }
    for (const info of saes.infos) {
      if (models.base.centred.has(info.layer)) info.centred = true;
      if (models.base.valueBiasesFolded.has(info.layer)) info.value_biases_folded = true;
    }
    if (models.base.tablesOnCpu.length)
      log(`embedding lookups on the CPU, their tables above the buffer limit: ${models.base.tablesOnCpu.join(', ')}`);
    timings.load = (performance.now() - t0) / 1000 - timings.tokenize;
    throwIfAborted(options.signal);

    const { batchSize, chunkTokens } = batchSizes(config, options, settings, reduction, saes.projectors, log);
    const newAccumulators = (): Accumulators =>
      new Map(
        config.layers.targets.map((l) => {
          const p = saes.projectors.get(l)!;
          return [l, new LayerAccumulator(p.width, p.hidden, config.metrics.top_contexts)];
        }),
      );
    const accumulators: Compared<Accumulators> = {
      fineTunes: files.fineTunes.map(newAccumulators),
      reference: files.reference ? newAccumulators() : undefined,
    };
    const selfCheckFits = new Map<number, NeighbourFit[]>();
    const runDescription = describeRun(config);
    const reportInputs = (complete: boolean, preActivationShift?: Map<number, Float32Array>[]): ReportInputs => ({
      preActivationShift,
      saeRules: saeRules(saes.projectors),
      selfCheck: { fits: selfCheckFits, declared: saes.declared },
      run: runDescription,
      samples: data.samples.length,
      bosPrepended: data.bosPrepended,
      provider: settings.provider,
      providerReason,
      warnings,
      sequences: data.sequences,
      decode: data.tokenizer.decode,
      saes: saes.infos,
      labels: saes.labels,
      accumulators: accumulators.fineTunes,
      referenceAccumulators: accumulators.reference,
      reference: files.reference ? { name: files.reference.spec.name, path: files.reference.spec.path } : undefined,
      baseHooks: models.base.hookTensors,
      sftHooks: models.fineTunes.map((m) => m.hookTensors),
      started,
      durationS: (performance.now() - t0) / 1000,
      timings,
      complete,
    });

    const batches = planBatches(data.sequences, batchSize, data.tokenizer.padId, data.samples);
    const kept = keepActivations(config, options, reduction, saes.projectors, files.fineTunes.length, data.sequences, log);
    const loop = await runBatches({
      config,
      options,
      models,
      names: { base: files.base.spec.name, fineTunes: files.fineTunes.map((f) => f.spec.name), reference: files.reference?.spec.name },
      accumulators,
      projectors: saes.projectors,
      batches,
      chunkTokens,
      selfCheckFits,
      kept,
      timings,
      progress,
      onBatch: options.onPartialReport ? () => options.onPartialReport!(buildReport(reportInputs(false))) : undefined,
    });

    progress({ stage: 'report', message: 'Writing the report', ...loop.progress() });
    throwIfAborted(options.signal);
    const tr = performance.now();
    const compared = [...accumulators.fineTunes, ...(accumulators.reference ? [accumulators.reference] : [])];
    const shifts = await meanPreActivationShifts(compared, saes.projectors);
    const inputs = reportInputs(options.shard === undefined, shifts);
    const built = buildComparisons(inputs);
    // Token-window contexts, logit effects, Neuronpedia links (report/featureDetails.ts); final runs only, not shards.
    const details = options.shard
      ? undefined
      : await addFeatureDetails({
          comparisons: built.comparisons,
          warnings,
          saeFolders: config.sae.paths,
          saeFormat: config.sae.format,
          base: models.base,
          sfts: models.fineTunes,
          sequences: data.sequences,
          decode: data.tokenizer.decode,
          padId: data.tokenizer.padId,
          batchSize,
          baseModel: files.base.source,
          hookPoint: config.layers.hookPoint,
          settings,
          loadedSaes: saes.loaded,
          kept,
          log,
        });
    if (details) timings.details = details.seconds;
    if (loop.tokensDone > 0) {
      for (const line of selfCheckFailureLines(built.comparisons)) {
        log(`SELF-CHECK FAILED: ${line}`);
        warnings.push(`SAE self-check failed: ${line}`);
      }
    }
    const partial = options.shard ? await shardState(config, files, data, saes, accumulators, selfCheckFits, options.signal) : undefined;
    timings.report = (performance.now() - tr) / 1000;
    const report = buildReport(
      {
        ...inputs,
        durationS: (performance.now() - t0) / 1000,
        parityWarnings: data.parity,
        prompts: details?.prompts,
        shard: options.shard,
        partial,
      },
      built,
    );
    await writeFileAtomicAsync(reportPath, reportJson(report), options.signal);
    log(
      `timings (s): ${Object.entries(timings)
        .map(([k, v]) => `${k} ${v.toFixed(3)}`)
        .join(', ')}`,
    );
    log(`report written: ${reportPath}`);
    progress({ stage: 'done', message: `Report written to ${reportPath}`, ...loop.progress() });
    return { report, reportPath };
  } finally {
    for (const r of toRelease) await r.release().catch(() => {});
  }
}

/** Step "provider": chosen once (pipeline/provider.ts), or taken from the caller that already chose it (the worker). */
async function provider(
  config: ResolvedConfig,
  options: RunOptions,
  warnings: string[],
  log: (l: string) => void,
): Promise<{ settings: SessionSettings; providerReason: string }> {
  const choice = options.chosenProvider ?? (await chooseProvider(config, options.provider));
  warnings.push(...choice.warnings);
  choice.warnings.forEach((w) => log(`warning: ${w}`));
  log(`execution provider: ${choice.provider} (${choice.reason})`);
  const threads = boundedThreads(options.threads ?? config.runtime.threads, warnings, log);
  const settingsOn = (provider: ExecutionProviderName): SessionSettings => ({
    provider,
    threads,
    maxBufferBytes: bufferLimit(provider).bytes,
  });
  let settings = settingsOn(choice.provider);
  let providerReason = choice.reason;
  if (choice.provider !== 'cpu') {
    // GPU kernels are checked against the CPU's before they compute a report (pipeline/kernelCheck.ts)
    const checked = await checkRunKernels(config, settings, choice, log);
    if (checked.warning) warnings.push(checked.warning);
    if (checked.useCpu) settings = settingsOn('cpu');
    providerReason = checked.useCpu ? checked.note : `${providerReason}; ${checked.note}`;
  }
  const limit = bufferLimit(settings.provider);
  if (limit.bytes !== undefined) log(`buffer limit: ${limitMiB(limit.bytes)} MiB per tensor (${limit.source})`);
  return { settings, providerReason };
}

/** Per layer: the SAE's activation rule, for the threshold margin. */
function saeRules(projectors: Map<number, Projector>): Map<number, { architecture: string; threshold?: Float32Array }> {
  return new Map([...projectors.entries()].map(([l, p]) => [l, { architecture: p.architecture, threshold: p.threshold }]));
}

interface BatchLoop {
  config: ResolvedConfig;
  options: RunOptions;
  models: RunModels<HookedModel>;
  names: RunModels<string>;
  accumulators: Compared<Accumulators>;
  projectors: Map<number, Projector>;
  batches: PlannedBatch[];
  chunkTokens: number;
  selfCheckFits: Map<number, NeighbourFit[]>;
  /** Where the feature details take their activations from, when the run keeps them. */
  kept?: KeptActivations;
  timings: Record<string, number>;
  progress(e: ProgressEvent): void;
  /** After each batch (live partial reports). */
  onBatch?(): void;
}

/**
 * Step "run": each batch through base once (with the self-check's neighbouring positions on the first
 * batch), then through each fine-tune and the reference, every layer projected and accumulated against base.
 */
async function runBatches(
  b: BatchLoop,
): Promise<{ tokensDone: number; progress(): Pick<ProgressEvent, 'batchesDone' | 'batchesTotal' | 'tokensDone' | 'tokensPerSecond'> }> {
  const { config, options, models, batches, timings } = b;
  let tokensDone = 0;
  const tokensTotal = batches.reduce((n, batch) => n + evaluatedTokenCount(batch, config.dataset.excludeBos), 0);
  const loopStart = performance.now();
  const counters = (batchesDone: number) => {
    const tokensPerSecond = rate(tokensDone, loopStart);
    const left = tokensTotal - tokensDone;
    return {
      batchesDone,
      batchesTotal: batches.length,
      tokensDone,
      tokensPerSecond,
      ...(tokensDone > 0 && left > 0 && tokensPerSecond > 0 ? { secondsLeft: left / tokensPerSecond } : {}),
    };
  };
  // the fine-tunes, then the reference (if any): each compared with base batch by batch
  const compared: { name: string; model: HookedModel; accumulators: Accumulators }[] = [
    ...models.fineTunes.map((model, i) => ({ name: b.names.fineTunes[i], model, accumulators: b.accumulators.fineTunes[i] })),
    ...(models.reference ? [{ name: b.names.reference!, model: models.reference, accumulators: b.accumulators.reference! }] : []),
  ];
  for (let bi = 0; bi < batches.length; bi++) {
    throwIfAborted(options.signal);
    const batch = batches[bi];
    const rows = evaluatedRows(batch, config.dataset.excludeBos);
    let t = performance.now();
    b.progress({
      stage: 'forward',
      message: `Batch ${bi + 1}/${batches.length}: ${config.models.base.name}`,
      model: config.models.base.name,
      ...counters(bi),
    });
    const { layers: baseActs, outputs: baseOutputs } = await models.base.runWithProbes(batch, bi === 0);
    timings.forward += (performance.now() - t) / 1000;
    if (bi === 0) {
      // the self-check compares the SAE's fit at the hooked position with its neighbours, on one batch (SAE work)
      t = performance.now();
      for (const [layer, probes] of models.base.probes) {
        b.selfCheckFits.set(
          layer,
          await neighbourFits(
            b.projectors.get(layer)!,
            baseOutputs,
            probes,
            rows.flat.subarray(0, Math.min(b.chunkTokens, SELF_CHECK_TOKENS)),
          ),
        );
      }
      timings.sae += (performance.now() - t) / 1000;
    }
    b.kept?.keep(models.base, batch, baseActs);
    for (const c of compared) {
      throwIfAborted(options.signal);
      t = performance.now();
      b.progress({ stage: 'forward', message: `Batch ${bi + 1}/${batches.length}: ${c.name}`, model: c.name, ...counters(bi) });
      const sftActs = await c.model.run(batch);
      timings.forward += (performance.now() - t) / 1000;
      if (models.fineTunes.includes(c.model)) b.kept?.keep(c.model, batch, sftActs);
      for (const layer of config.layers.targets) {
        await projectLayer(
          config,
          b.projectors.get(layer)!,
          c.accumulators.get(layer)!,
          baseActs.get(layer)!,
          sftActs.get(layer)!,
          rows,
          b.chunkTokens,
          timings,
        );
      }
      releaseActivations(sftActs.values());
    }
    releaseActivations(baseOutputs.values());
    tokensDone += rows.flat.length;
    b.onBatch?.();
  }
  return { tokensDone, progress: () => counters(batches.length) };
}

/**
 * The run's hooked activations kept for the feature details (report/keptActivations.ts), when the details
 * will be made (not a shard) and the activations are on the host: all of them when base's and the fine-tunes'
 * fit the bound, else the prompts that do.
 */
function keepActivations(
  config: ResolvedConfig,
  options: RunOptions,
  reduction: ReductionChoice,
  projectors: Map<number, Projector>,
  fineTunes: number,
  sequences: number[][],
  log: (l: string) => void,
): KeptActivations | undefined {
  const bytes = keepActivationsBytes();
  if (options.shard || reduction.activationLocation || bytes === 0) return undefined;
  const tokens = sequences.reduce((n, s) => n + s.length, 0);
  const hidden = Math.max(...[...projectors.values()].map((p) => p.hidden));
  const need = keptBytes(1 + fineTunes, config.layers.targets.length, tokens, hidden);
  log(
    need <= bytes
      ? `feature details: token windows cut from this pass's activations (${limitMiB(need)} MiB kept)`
      : `feature details: token windows cut from this pass's activations for the prompts that fit in ${limitMiB(bytes)} MiB (of ${limitMiB(need)} MiB); the others replay`,
  );
  return new KeptActivations(bytes, 1 + fineTunes);
}

/** Per fine-tune and layer: (mean h_s - mean h_b) W_enc, through the SAE's session. */
async function meanPreActivationShifts(
  accumulators: Map<number, LayerAccumulator>[],
  projectors: Map<number, Projector>,
): Promise<Map<number, Float32Array>[]> {
  const out: Map<number, Float32Array>[] = [];
  for (const perLayer of accumulators) {
    const m = new Map<number, Float32Array>();
    for (const [layer, acc] of perLayer) {
      if (!projectors.get(layer)!.linearPreActivation) continue;
      const n = acc.sums.tokens || 1;
      m.set(layer, await projectors.get(layer)!.preActivationShift(Float32Array.from(acc.sumHs, (v, i) => (v - acc.sumHb[i]) / n)));
    }
    out.push(m);
  }
  return out;
}

/**
 * Before any work: the report path must be a regular file or new (a device or FIFO is left alone),
 * and never one of the run's inputs (the config, the dataset, a labels file).
 */
function checkReportPath(config: ResolvedConfig, reportPath: string, fromFlag: boolean): void {
  const location = fromFlag ? { file: reportPath } : config.locate('output.save_path');
  const inputs: [string, string][] = [
    [config.configPath, 'the config file'],
    [config.dataset.path, 'the dataset (dataset.path)'],
    ...[...config.sae.labels.values()].map((f): [string, string] => [f, 'a labels file (sae.labels)']),
  ];
  for (const [input, what] of inputs) {
    if (sameFile(reportPath, input)) {
      throw new SaeDiffError(`The report path ${reportPath} is ${what}: writing the report would overwrite it`, {
        location,
        hint: fromFlag ? 'Give another --out.' : 'Set output.save_path to another file.',
      });
    }
  }
  try {
    checkWritableTarget(reportPath);
  } catch (e) {
    if (e instanceof SaeDiffError) throw new SaeDiffError(e.message, { location, hint: e.hint });
    throw e;
  }
}

/** Where a shard's partial report goes by default: beside the report, named by its slice. */
export function partialPathFor(savePath: string, shard: { index: number; count: number }): string {
  return savePath.replace(/(\.sae-report)?\.json$/i, '') + `.shard-${shard.index + 1}-of-${shard.count}.sae-partial.json`;
}

/** A shard's additive state (merge/merge.ts combines them) and what it ran on, by path and sha256. */
async function shardState(
  config: ResolvedConfig,
  files: RunModels<ModelFiles>,
  data: Tokenised,
  saes: RunSaes,
  { fineTunes, reference }: Compared<Accumulators>,
  selfCheckFits: Map<number, NeighbourFit[]>,
  signal: AbortSignal | undefined,
): Promise<PartialState> {
  const state: PartialState = {
    samples_total: data.sequences.length,
    sequences: Object.fromEntries(data.samples.map((i) => [String(i), data.sequences[i]])),
    accumulators: [...fineTunes, ...(reference ? [reference] : [])].map((m) =>
      Object.fromEntries([...m.entries()].map(([l, a]) => [String(l), accumulatorToJson(a)])),
    ),
    tokenizer: files.base.tokenizerJsonPath,
    tokenizer_config: files.base.tokenizerConfigPath,
    self_check: {
      fits: Object.fromEntries([...selfCheckFits.entries()].map(([l, f]) => [String(l), f])),
      declared: Object.fromEntries([...saes.declared.entries()].map(([l, d]) => [String(l), d])),
    },
    labels: Object.fromEntries(
      [...saes.labels.entries()].map(([l, m]) => [String(l), Object.fromEntries([...m.entries()].map(([k, v]) => [String(k), v]))]),
    ),
  };
  state.provenance = await provenanceOf(
    config,
    data.records,
    [
      { role: 'base', files: files.base },
      ...files.fineTunes.map((f) => ({ role: 'sft' as const, files: f })),
      ...(files.reference ? [{ role: 'reference' as const, files: files.reference }] : []),
    ],
    signal,
  );
  return state;
}

/**
 * runtime.threads / saeDiff.threads within reason: ONNX Runtime crashes on 100000 threads and crawls
 * on 1000; more than 4 per core (or 256) buys nothing, so it is capped with a warning.
 */
export function boundedThreads(requested: number, warnings: string[], log: (l: string) => void): number {
  if (!Number.isSafeInteger(requested) || requested < 0) {
    throw new SaeDiffError(`runtime.threads must be an integer from 0 to 256 (got ${requested})`, { hint: '0 uses every core.' });
  }
  const cap = Math.min(256, 4 * os.availableParallelism());
  if (requested <= cap) return requested;
  const w = `runtime.threads ${requested} is more than ${cap} (4 per core, at most 256): ${cap} threads are used.`;
  warnings.push(w);
  log(`warning: ${w}`);
  return cap;
}

function rate(tokens: number, since: number): number {
  const s = (performance.now() - since) / 1000;
  return s > 0 ? tokens / s : 0;
}

async function projectLayer(
  config: ResolvedConfig,
  projector: Projector,
  acc: LayerAccumulator,
  hb: Activations,
  hs: Activations,
  rows: ReturnType<typeof evaluatedRows>,
  chunk: number,
  timings: Record<string, number>,
): Promise<void> {
  if (hb.hidden !== projector.hidden) {
    throw new SaeDiffError(`The hooked tensor has ${hb.hidden} features per token but the SAE expects ${projector.hidden}`, {
      location: config.locate('layers.target_indices'),
    });
  }
  for (let from = 0; from < rows.flat.length; from += chunk) {
    const t = await projector.accumulate(acc, hb, hs, rows, from, Math.min(rows.flat.length, from + chunk));
    timings.sae += t.sae;
    timings.metrics += t.metrics;
  }
}

/** Batching of this run: runtime/deviceBatch.ts's chooseBatching, logged when a GPU plan was made. */
function batchSizes(
  config: ResolvedConfig,
  options: RunOptions,
  settings: SessionSettings,
  reduction: ReductionChoice,
  byLayer: Map<number, Projector>,
  log: (l: string) => void,
): { batchSize: number; chunkTokens: number } {
  const projectors = [...byLayer.values()];
  const choice = chooseBatching({
    gpuDense: settings.provider !== 'cpu' && reduction.reduction === 'dense',
    maxBufferBytes: settings.maxBufferBytes,
    batchSize: config.runtime.batch_size,
    chunkTokens: config.runtime.sae_batch_tokens,
    keysSet: config.runtimeKeysSet ?? new Set(),
    optionBatchSize: options.batchSize,
    shape: {
      dModel: projectors[0].hidden,
      dSae: Math.max(...projectors.map((p) => p.width)),
      layers: projectors.length,
      maxTokens: config.runtime.max_tokens,
      // the top contexts sort each chunk's tokens in blocks, then the blocks' candidates: on WebGPU at most a workgroup's sort
      maxChunk: settings.provider === 'webgpu' ? contextChunkCap(config.metrics.top_contexts) : undefined,
    },
    budget: deviceMemoryBudget,
  });
  if (choice.plan) {
    log(
      `device batching: ${choice.batchSize} prompts per batch, ${choice.chunkTokens} tokens per SAE call (budget: ${choice.budgetSource}; ` +
        `plan ${(choice.plan.bytes / 2 ** 20).toFixed(0)} MiB${choice.plan.fits ? '' : ', over budget even at 1 prompt'})`,
    );
  }
  if (choice.lowered) log(`buffer limit lowered the batching: ${choice.lowered}`);
  return choice;
}
