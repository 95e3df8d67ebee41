import * as os from 'os';
import * as fs from 'fs';
import * as path from 'path';
import type { ModelSpec, ResolvedConfig } from '../config/types';
import { evaluatedRows, planBatches, shardSamples } from '../data/batching';
import { compileTemplate, cutRecord, encodeCapped, PromptRecord, readPromptsAsync, renderPrompt } from '../data/dataset';
import { provenanceOf } from './provenance';
import { parityWarnings } from '../data/parity';
import { loadTokenizer, LoadedTokenizer } from '../data/tokenizer';
import { SaeDiffError, throwIfAborted } from '../core/errors';
import { LayerAccumulator } from '../metrics/layerAccumulator';
import { NeighbourFit, neighbourFits } from '../metrics/selfCheck';
import { hiddenSize, layerCount, ModelFiles, resolveModelFiles } from '../model/modelFolder';
import { Activations, HookedModel, releaseActivations } from '../model/runner';
import type { ProgressEvent, RunOptions } from './progress';
import { buildReport, describeRun } from '../report/buildReport';
import { addFeatureDetails } from '../report/featureDetails';
import { labelMismatches, readLabelSet } from '../report/labels';
import type { PartialState, SaeDiffReport, SaeInfo as ReportSaeInfo } from '../../shared/reportTypes';
import { accumulatorToJson } from '../metrics/serialize';
import { checkWritableTarget, writeFileAtomicAsync } from '../report/writeReport';
import { selectProvider } from '../runtime/providers';
import { probeEnvironment, SessionSettings } from '../runtime/session';
import { chooseBatching, deviceMemoryBudget } from '../runtime/deviceBatch';
import { chooseReduction, ReductionChoice } from '../runtime/reduction';
import { checkSaeFits, guaranteedMaxL0, loadSae, readSaeInfo } from '../sae/loadSae';
import { createProjector } from '../sae/createProjector';
import type { Projector } from '../sae/projector';

export type { RunOptions, ProgressEvent } from './progress';

export interface RunResult {
  report: SaeDiffReport;
  reportPath: string;
}

/** Everything a run needs, loaded and checked before the first forward pass. */
interface Prepared {
  settings: SessionSettings;
  providerReason: string;
  warnings: string[];
  baseFiles: ModelFiles;
  sftFiles: ModelFiles[];
  /** models.reference: run like a fine-tune; base vs reference is the noise floor. */
  referenceFiles?: ModelFiles;
  tokenizer: LoadedTokenizer;
  sequences: number[][];
  /** Dataset indices this run evaluates (all, or one shard's slice). */
  samples: number[];
  saes: ReportSaeInfo[];
  /** What each layer's SAE declares it achieves (self-check). */
  declared: Map<number, { l0?: number; explainedVariance?: number; maxL0?: number }>;
  labels: Map<number, Map<number, string>>;
  projectors: Map<number, Projector>;
  /** Sparse or dense reduction, and where the hooked activations live (by provider). */
  reduction: ReductionChoice;
}

/**
 * Runs a diagnostic: base once, each fine-tune against it, every target layer hooked in one forward
 * pass per batch, projected through the base SAEs, reduced to streaming accumulators, and written as
 * one report (atomically; a cancelled or failed run writes nothing).
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
  try {
    progress({ stage: 'load', message: 'Loading models and SAEs' });
    const prep = await prepare(config, options, log);
    prep.projectors.forEach((p) => toRelease.push(p));
    timings.tokenize = prep.tokenizeSeconds;
    const hookOptions = { targets: config.layers.targets, hookPoint: config.layers.hookPoint, tensorNames: config.layers.tensorNames, outputLocation: prep.reduction.activationLocation };
    const base = await HookedModel.load(prep.baseFiles.onnxPath, { ...hookOptions, probeNeighbours: true }, prep.settings);
    toRelease.push(base);
    // the fine-tunes, then the reference (if any): each is compared with base batch by batch
    const compared = [...prep.sftFiles, ...(prep.referenceFiles ? [prep.referenceFiles] : [])];
    const sfts: HookedModel[] = [];
    for (const f of compared) {
      const m = await HookedModel.load(f.onnxPath, hookOptions, prep.settings);
      toRelease.push(m);
      sfts.push(m);
    }
    for (const [layer, tensor] of base.hookTensors) log(`hook layer ${layer}: ${tensor}`);
    timings.load = (performance.now() - t0) / 1000 - timings.tokenize;
    throwIfAborted(options.signal);

    const { batchSize, chunkTokens } = batchSizes(config, options, prep, log);
    const batches = planBatches(prep.sequences, batchSize, prep.tokenizer.padId, prep.samples);
    const accumulators = compared.map(() => new Map(config.layers.targets.map((l) => {
      const p = prep.projectors.get(l)!;
      return [l, new LayerAccumulator(p.width, p.hidden, config.metrics.top_contexts)];
    })));
    let tokensDone = 0;
    const loopStart = performance.now();
    const runDescription = describeRun(config);
    const saeRules = new Map([...prep.projectors.entries()].map(([l, p]) => [l, { architecture: p.architecture, threshold: p.threshold }]));
    let preActivationShift: Map<number, Float32Array>[] | undefined;
    const selfCheckInputs = { fits: new Map<number, NeighbourFit[]>(), declared: prep.declared };
    const reportOf = (complete: boolean) => buildReport({
      preActivationShift, saeRules, selfCheck: selfCheckInputs,
      run: runDescription, samples: prep.samples.length, provider: prep.settings.provider, providerReason: prep.providerReason, warnings: prep.warnings,
      sequences: prep.sequences, decode: prep.tokenizer.decode, saes: prep.saes, labels: prep.labels,
      accumulators: accumulators.slice(0, prep.sftFiles.length), referenceAccumulators: prep.referenceFiles ? accumulators[prep.sftFiles.length] : undefined,
      reference: prep.referenceFiles ? { name: prep.referenceFiles.spec.name, path: prep.referenceFiles.spec.path } : undefined,
      baseHooks: base.hookTensors, sftHooks: sfts.map((m) => m.hookTensors),
      started, durationS: (performance.now() - t0) / 1000, timings, complete,
    });
    for (let bi = 0; bi < batches.length; bi++) {
      throwIfAborted(options.signal);
      const batch = batches[bi];
      const rows = evaluatedRows(batch, config.dataset.excludeBos);
      let t = performance.now();
      progress({ stage: 'forward', message: `Batch ${bi + 1}/${batches.length}: ${config.models.base.name}`, model: config.models.base.name, batchesDone: bi, batchesTotal: batches.length, tokensDone, tokensPerSecond: rate(tokensDone, loopStart) });
      const { layers: baseActs, outputs: baseOutputs } = await base.runWithProbes(batch);
      if (bi === 0) {
        // the self-check compares the SAE's fit at the hooked position with its neighbours, on one batch
        for (const [layer, probes] of base.probes) {
          selfCheckInputs.fits.set(layer, await neighbourFits(prep.projectors.get(layer)!, baseOutputs, probes, rows.flat.subarray(0, chunkTokens)));
        }
      }
      timings.forward += (performance.now() - t) / 1000;
      for (let si = 0; si < sfts.length; si++) {
        throwIfAborted(options.signal);
        t = performance.now();
        progress({ stage: 'forward', message: `Batch ${bi + 1}/${batches.length}: ${compared[si].spec.name}`, model: compared[si].spec.name, batchesDone: bi, batchesTotal: batches.length, tokensDone, tokensPerSecond: rate(tokensDone, loopStart) });
        const sftActs = await sfts[si].run(batch);
        timings.forward += (performance.now() - t) / 1000;
        for (const layer of config.layers.targets) {
          await projectLayer(config, prep.projectors.get(layer)!, accumulators[si].get(layer)!, baseActs.get(layer)!, sftActs.get(layer)!, rows, chunkTokens, timings);
        }
        releaseActivations(sftActs.values());
      }
      releaseActivations(baseOutputs.values());
      tokensDone += rows.flat.length;
      if (options.onPartialReport) options.onPartialReport(reportOf(false));
    }
    progress({ stage: 'report', message: 'Writing the report', batchesDone: batches.length, batchesTotal: batches.length, tokensDone, tokensPerSecond: rate(tokensDone, loopStart) });
    throwIfAborted(options.signal);
    const tr = performance.now();
    preActivationShift = await meanPreActivationShifts(accumulators, prep.projectors);
    const report = reportOf(options.shard === undefined);
    // Token-window contexts, logit effects, Neuronpedia links (report/featureDetails.ts); final runs only, not shards.
    if (!options.shard) await addFeatureDetails({ report, saeFolders: config.sae.paths, saeFormat: config.sae.format, base, sfts: sfts.slice(0, prep.sftFiles.length), sequences: prep.sequences, decode: prep.tokenizer.decode, padId: prep.tokenizer.padId, batchSize, baseOnnxPath: prep.baseFiles.onnxPath, settings: prep.settings, log });
    report.run.parity_warnings = prep.parity;
    if (report.run.self_check_failed && tokensDone > 0) {
      const lines = report.comparisons[0].layers.flatMap((l) => l.self_check?.messages ?? []);
      for (const line of [...new Set(lines)]) { log(`SELF-CHECK FAILED: ${line}`); report.run.warnings.push(`SAE self-check failed: ${line}`); }
    }
    if (options.shard) {
      report.shard = options.shard;
      report.partial = partialState(prep, accumulators, selfCheckInputs.fits);
      report.partial.provenance = await provenanceOf(config, prep.records, [
        { role: 'base', files: prep.baseFiles }, ...prep.sftFiles.map((files) => ({ role: 'sft' as const, files })),
        ...(prep.referenceFiles ? [{ role: 'reference' as const, files: prep.referenceFiles }] : []),
      ], options.signal);
    }
    timings.report = (performance.now() - tr) / 1000;
    report.run.duration_s = (performance.now() - t0) / 1000;
    await writeFileAtomicAsync(reportPath, JSON.stringify(report, null, 1) + '\n', options.signal);
    log(`timings (s): ${Object.entries(timings).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
    log(`report written: ${reportPath}`);
    progress({ stage: 'done', message: `Report written to ${reportPath}`, batchesDone: batches.length, batchesTotal: batches.length, tokensDone, tokensPerSecond: rate(tokensDone, loopStart) });
    return { report, reportPath };
  } finally {
    for (const r of toRelease) await r.release().catch(() => {});
  }
}

/** Per fine-tune and layer: (mean h_s - mean h_b) W_enc, through the SAE's session. */
async function meanPreActivationShifts(accumulators: Map<number, LayerAccumulator>[], projectors: Map<number, Projector>): Promise<Map<number, Float32Array>[]> {
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
  const inputs: [string, string][] = [[config.configPath, 'the config file'], [config.dataset.path, 'the dataset (dataset.path)'],
    ...[...config.sae.labels.values()].map((f): [string, string] => [f, 'a labels file (sae.labels)'])];
  for (const [input, what] of inputs) {
    if (sameFile(reportPath, input)) {
      throw new SaeDiffError(`The report path ${reportPath} is ${what}: writing the report would overwrite it`, { location, hint: fromFlag ? 'Give another --out.' : 'Set output.save_path to another file.' });
    }
  }
  try {
    checkWritableTarget(reportPath);
  } catch (e) {
    if (e instanceof SaeDiffError) throw new SaeDiffError(e.message, { location, hint: e.hint });
    throw e;
  }
}

function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a), sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** Where a shard's partial report goes by default: beside the report, named by its slice. */
export function partialPathFor(savePath: string, shard: { index: number; count: number }): string {
  return savePath.replace(/(\.sae-report)?\.json$/i, '') + `.shard-${shard.index + 1}-of-${shard.count}.sae-partial.json`;
}

function partialState(prep: Prepared, accumulators: Map<number, LayerAccumulator>[], selfCheckFits: Map<number, NeighbourFit[]>): PartialState {
  return {
    samples_total: prep.sequences.length,
    sequences: Object.fromEntries(prep.samples.map((i) => [String(i), prep.sequences[i]])),
    accumulators: accumulators.map((m) => Object.fromEntries([...m.entries()].map(([l, a]) => [String(l), accumulatorToJson(a)]))),
    tokenizer: prep.baseFiles.tokenizerJsonPath,
    tokenizer_config: prep.baseFiles.tokenizerConfigPath,
    self_check: {
      fits: Object.fromEntries([...selfCheckFits.entries()].map(([l, f]) => [String(l), f])),
      declared: Object.fromEntries([...prep.declared.entries()].map(([l, d]) => [String(l), d])),
    },
    labels: Object.fromEntries([...prep.labels.entries()].map(([l, m]) => [String(l), Object.fromEntries([...m.entries()].map(([k, v]) => [String(k), v]))])),
  };
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
  config: ResolvedConfig, projector: Projector, acc: LayerAccumulator, hb: Activations, hs: Activations,
  rows: ReturnType<typeof evaluatedRows>, chunk: number, timings: Record<string, number>,
): Promise<void> {
  if (hb.hidden !== projector.hidden) {
    throw new SaeDiffError(`The hooked tensor has ${hb.hidden} features per token but the SAE expects ${projector.hidden}`, { location: config.locate('layers.target_indices') });
  }
  for (let from = 0; from < rows.flat.length; from += chunk) {
    const t = await projector.accumulate(acc, hb, hs, rows, from, Math.min(rows.flat.length, from + chunk));
    timings.sae += t.sae;
    timings.metrics += t.metrics;
  }
}

/** Batching of this run: runtime/deviceBatch.ts's chooseBatching, logged when a GPU plan was made. */
function batchSizes(config: ResolvedConfig, options: RunOptions, prep: Prepared, log: (l: string) => void): { batchSize: number; chunkTokens: number } {
  const projectors = [...prep.projectors.values()];
  const choice = chooseBatching({
    gpuDense: prep.settings.provider !== 'cpu' && prep.reduction.reduction === 'dense',
    batchSize: config.runtime.batch_size, chunkTokens: config.runtime.sae_batch_tokens,
    keysSet: config.runtimeKeysSet ?? new Set(), optionBatchSize: options.batchSize,
    shape: { dModel: projectors[0].hidden, dSae: Math.max(...projectors.map((p) => p.width)), layers: projectors.length, maxTokens: config.runtime.max_tokens },
    budget: deviceMemoryBudget,
  });
  if (choice.plan) {
    log(`device batching: ${choice.batchSize} prompts per batch, ${choice.chunkTokens} tokens per SAE call (budget: ${choice.budgetSource}; `
      + `plan ${(choice.plan.bytes / 2 ** 20).toFixed(0)} MiB${choice.plan.fits ? '' : ', over budget even at 1 prompt'})`);
  }
  return choice;
}

async function prepare(config: ResolvedConfig, options: RunOptions, log: (l: string) => void): Promise<Prepared & { tokenizeSeconds: number; parity: string[]; records: PromptRecord[] }> {
  const warnings: string[] = [];
  const requested = options.provider ?? config.runtime.execution_provider;
  let choice;
  try {
    choice = await selectProvider(requested, probeEnvironment(), config.runtime.fallback);
  } catch (e) {
    if (e instanceof SaeDiffError && options.provider === undefined) {
      throw new SaeDiffError(e.message, { location: config.locate('runtime.execution_provider'), hint: e.hint });
    }
    throw e;
  }
  warnings.push(...choice.warnings);
  choice.warnings.forEach((w) => log(`warning: ${w}`));
  log(`execution provider: ${choice.provider} (${choice.reason})`);
  const settings: SessionSettings = { provider: choice.provider, threads: boundedThreads(options.threads ?? config.runtime.threads, warnings, log) };

  const baseFiles = resolveModelFiles(config.models.base, config);
  const sftFiles = config.models.sfts.map((s: ModelSpec) => resolveModelFiles(s, config));
  const referenceFiles = config.models.reference ? resolveModelFiles(config.models.reference, config) : undefined;
  const hidden = hiddenSize(baseFiles.configJson);
  for (const files of [baseFiles, ...sftFiles, ...(referenceFiles ? [referenceFiles] : [])]) {
    const count = layerCount(files.configJson);
    const h = hiddenSize(files.configJson);
    log(`model ${files.spec.name}: ${files.onnxPath} (${count ?? '?'} layers, hidden ${h ?? '?'})`);
    if (h !== undefined && hidden !== undefined && h !== hidden) {
      throw new SaeDiffError(`${files.spec.name} has hidden size ${h} but the base has ${hidden}`, { location: config.locate(files.spec.key), hint: 'A fine-tune must keep the base architecture.' });
    }
    for (const l of config.layers.targets) {
      if (count !== undefined && l >= count) {
        throw new SaeDiffError(`Layer ${l} is past the last layer of ${files.spec.name}, which has ${count} layers (0-${count - 1})`, {
          location: config.locate('layers.target_indices'), hint: `Remove ${l} from layers.target_indices.`,
        });
      }
    }
  }

  const saes: ReportSaeInfo[] = [];
  const declared = new Map<number, { l0?: number; explainedVariance?: number; maxL0?: number }>();
  const projectors = new Map<number, Projector>();
  const reduction = chooseReduction(settings.provider, config.runtime.reduction);
  log(`reduction: ${reduction.reduction} (${reduction.reason})`);
  const labels = new Map<number, Map<number, string>>();
  const settingsForSae = settings;
  try {
    for (const layer of config.layers.targets) {
      const folder = config.sae.paths.get(layer)!;
      const sae = readSaeInfo(folder, config.sae.format);
      // check the declared shape and hook before reading any weights
      checkSaeFits(sae, layer, hidden, config.sae.checkHookLayer, config.locate('sae.path'), config.layers.hookPoint);
      declared.set(layer, { l0: sae.declaredL0, explainedVariance: sae.declaredExplainedVariance, maxL0: guaranteedMaxL0(sae) });
      if (config.sae.k > sae.dSae) warnings.push(`sae.k ${config.sae.k} exceeds the SAE width ${sae.dSae} at layer ${layer}; all active features are compared.`);
      log(`SAE layer ${layer}: ${sae.format} ${sae.architecture}, d_in ${sae.dIn}, d_sae ${sae.dSae}, dtype ${sae.dtype}${sae.kSae ? `, k ${sae.kSae}` : ''} (${folder})`);
      saes.push({ layer, path: folder, format: sae.format, architecture: sae.architecture, d_in: sae.dIn, d_sae: sae.dSae, dtype: sae.dtype, hook_name: sae.hookName });
      // the weights are referenced by this call only: once ONNX Runtime holds its copy they are freed, not kept beside the next SAE's
      projectors.set(layer, await createProjector(loadSae(folder, config.sae.format), settingsForSae, reduction.reduction, { k: config.sae.k, contexts: config.metrics.top_contexts }));
      const labelsFile = config.sae.labels.get(layer);
      if (labelsFile && config.sae.labelsFromTemplate && !fs.existsSync(labelsFile)) warnings.push(`No labels file for layer ${layer} (${labelsFile}): its features show their ids.`);
      else if (labelsFile) {
        const set = readLabelSet(labelsFile);
        if (set.labels.size === 0) warnings.push(`The labels for layer ${layer} (${labelsFile}) are empty: its features show their ids.`);
        labels.set(layer, set.labels);
        warnings.push(...labelMismatches(set, layer, sae.modelName));
      }
    }
  } catch (e) {
    for (const p of projectors.values()) await p.release().catch(() => {});
    throw e;
  }

  const tt = performance.now();
  const tokenizer = loadTokenizer(baseFiles.tokenizerJsonPath, baseFiles.tokenizerConfigPath);
  const sftTokenizers = sftFiles.map((f) => loadTokenizer(f.tokenizerJsonPath, f.tokenizerConfigPath));
  const from = config.dataset.chatTemplateFrom;
  const templateOwner = from === 'base' ? tokenizer : from === 'sft' ? sftTokenizers[0] : [tokenizer, ...sftTokenizers].find((t) => t.chatTemplate);
  const template = templateOwner?.chatTemplate ? compileTemplate(templateOwner.chatTemplate, templateOwner.configFile ?? templateOwner.file) : undefined;
  const maxTokens = config.runtime.max_tokens;
  // streamed up to max_samples; each record cut to a character bound before it is encoded
  const records = (await readPromptsAsync(config.dataset.path, config.dataset.maxSamples, options.signal)).map((r) => cutRecord(r, maxTokens));
  const sequences = records.map((r) => encodeCapped(tokenizer.encode, renderPrompt(r, template, tokenizer.specialTokens, config.dataset.path), maxTokens));
  const parity = parityWarnings(tokenizer, sftTokenizers.map((t, i) => ({ name: sftFiles[i].spec.name, tokenizer: t })), sequences);
  for (const w of parity) { warnings.push(w); log(`warning: ${w}`); }
  const samples = shardSamples(sequences.length, options.shard);
  const evaluatedIn = (ids: number[]) => ids.reduce((a, i) => a + Math.max(0, sequences[i].length - (config.dataset.excludeBos ? 1 : 0)), 0);
  const evaluated = evaluatedIn(samples);
  // a shard past the last prompt (more shards than prompts) writes an empty partial report that merges
  if (evaluated === 0 && (!options.shard || evaluatedIn(sequences.map((_, i) => i)) === 0)) {
    throw new SaeDiffError('No token to evaluate: every prompt is empty after tokenization', { location: { file: config.dataset.path, key: 'dataset.path' }, hint: 'Give prompts with text.' });
  }
  if (template && records.some((r) => 'messages' in r)) log(`chat template from ${templateOwner!.configFile}`);
  log(`dataset: ${records.length} prompts${options.shard ? `, shard ${options.shard.index + 1}/${options.shard.count}: prompts ${samples[0] ?? '-'}-${samples[samples.length - 1] ?? '-'}` : ''}, ${evaluated} evaluated tokens (max_tokens ${maxTokens})`);
  const tokenizeSeconds = (performance.now() - tt) / 1000;
  return { records, settings, providerReason: `${choice.reason}; ${reduction.reduction} reduction (${reduction.reason})`, warnings, baseFiles, sftFiles, referenceFiles, tokenizer, sequences, samples, saes, declared, labels, projectors, reduction, tokenizeSeconds, parity };
}

