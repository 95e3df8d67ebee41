import * as fs from 'fs';
import * as path from 'path';
import { loadTokenizer } from '../data/tokenizer';
import { SaeDiffError } from '../core/errors';
import { LayerAccumulator } from '../metrics/layerAccumulator';
import type { NeighbourFit } from '../metrics/selfCheck';
import { accumulatorFromJson, SerializedAccumulator } from '../metrics/serialize';
import { buildReport, RunDescription } from '../report/buildReport';
import type { SaeDiffReport } from '../../shared/reportTypes';
import type { MetricsConfig } from '../config/types';
import { writeFileAtomic } from '../report/writeReport';
import { reportJson } from '../report/reportJson';
import { readTextBounded } from '../io/boundedRead';
import { checkPartContent, checkProvenance, checkShard } from './mergeChecks';

/** A partial report is at most this big (V8 strings stop at ~512 MB). */
const MAX_PARTIAL_BYTES = 512 * 1024 * 1024;

function readPartial(file: string): SaeDiffReport {
  let r: SaeDiffReport;
  try {
    r = JSON.parse(readTextBounded(file, MAX_PARTIAL_BYTES));
  } catch (e) {
    throw new SaeDiffError(`Cannot read the partial report: ${(e as Error).message}`, { location: { file } });
  }
  if (
    r?.format !== 'sae-diff-report' ||
    !r.partial ||
    typeof r.partial !== 'object' ||
    !r.shard ||
    typeof r.shard !== 'object' ||
    !('index' in r.shard) ||
    !r.run ||
    !Array.isArray(r.comparisons)
  ) {
    throw new SaeDiffError('Not a partial report of a sharded run', {
      location: { file },
      hint: 'Give the files written by `sae-diff run <config> --shard i/n`.',
    });
  }
  return r;
}

/** The config that decides the numbers; paths and the shard itself may differ between machines. */
function comparableConfig(r: SaeDiffReport): string {
  const c = r.run.config ?? {};
  return JSON.stringify({
    layers: c.layers?.target_indices,
    hook: c.layers?.hook_point,
    k: c.sae?.k,
    metrics: c.metrics,
    dataset: { max_samples: c.dataset?.max_samples, exclude_bos: c.dataset?.exclude_bos },
    max_tokens: c.runtime?.max_tokens,
    sfts: r.comparisons.map((x) => x.sft.name),
  });
}

/**
 * Combines the partial reports of `run --shard i/n` into the report a single run would give: the
 * accumulators are sums (and top-k lists), so every docs/metrics.md number is the same up to float order.
 */
export function mergePartialReports(files: string[], options: { tokenizer?: string } = {}): SaeDiffReport {
  if (files.length === 0)
    throw new SaeDiffError('Nothing to merge', {
      hint: 'Give the partial reports: sae-diff merge part1.json part2.json … --out report.json',
    });
  const parts = files.map(readPartial);
  const shards = parts.map((p, i) => checkShard(p, files[i]));
  const count = shards[0].count;
  const seen = new Map<number, string>();
  parts.forEach((p, i) => {
    const s = shards[i];
    if (s.count !== count)
      throw new SaeDiffError(`This part is shard ${s.index + 1} of ${s.count}, the first is of ${count}`, { location: { file: files[i] } });
    if (seen.has(s.index))
      throw new SaeDiffError(`Shard ${s.index + 1} of ${count} is given twice (also ${seen.get(s.index)})`, {
        location: { file: files[i] },
      });
    if (comparableConfig(p) !== comparableConfig(parts[0]))
      throw new SaeDiffError('This part was run with a different configuration than the first', {
        location: { file: files[i] },
        hint: 'Run every shard from the same config.',
      });
    seen.set(s.index, files[i]);
  });
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length > 0)
    throw new SaeDiffError(
      `Shards ${missing
        .slice(0, 20)
        .map((i) => i + 1)
        .join(', ')}${missing.length > 20 ? ', …' : ''} of ${count} are missing`,
      { hint: 'Merge every shard of the run.' },
    );
  checkProvenance(parts, files);

  const first = parts[0];
  const config = first.run.config ?? {};
  const expect = {
    samplesTotal: first.partial!.samples_total,
    layers: config.layers?.target_indices as number[],
    models: first.comparisons.length + (config.models?.reference ? 1 : 0),
    excludeBos: config.dataset?.exclude_bos !== false,
    topContexts: config.metrics?.top_contexts as number,
    shapes: new Map((first.run.saes ?? []).map((s) => [s.layer, { width: s.d_sae, hidden: s.d_in }])),
  };
  if (!isSafeCount(expect.samplesTotal))
    throw new SaeDiffError(`The dataset size ${JSON.stringify(expect.samplesTotal)} is not a count of prompts`, {
      location: { file: files[0] },
    });
  if (!Array.isArray(expect.layers) || expect.layers.some((l) => !expect.shapes.has(l)))
    throw new SaeDiffError('The partial report does not describe the SAE of each target layer (run.saes)', {
      location: { file: files[0] },
    });
  parts.forEach((p, i) => checkPartContent(p, files[i], shards[i], expect));
  // checked above: the layers are an array, each with its SAE; the rest is this engine's own config (configToJson)
  const run: RunDescription = {
    configJson: config,
    targets: expect.layers,
    metrics: config.metrics as unknown as MetricsConfig,
    hookPoint: config.layers!.hook_point,
    base: first.base,
    sfts: first.comparisons.map((c) => c.sft),
  };
  // one per fine-tune, then models.reference's when the run had one
  const accumulators: Map<number, LayerAccumulator>[] = first.partial!.accumulators.map(() => new Map());
  const reference = config.models?.reference;
  const sequences: number[][] = [];
  for (const p of parts) {
    p.partial!.accumulators.forEach((perLayer, si) => {
      for (const [layer, s] of Object.entries(perLayer)) {
        const acc = accumulatorFromJson(s as SerializedAccumulator);
        const existing = accumulators[si].get(Number(layer));
        if (existing) existing.mergeFrom(acc);
        else accumulators[si].set(Number(layer), acc);
      }
    });
    for (const [i, ids] of Object.entries(p.partial!.sequences)) sequences[Number(i)] = ids;
  }
  const tokenizerPath = options.tokenizer ?? first.partial!.tokenizer;
  if (!fs.existsSync(tokenizerPath)) {
    throw new SaeDiffError(`The base tokenizer ${tokenizerPath} is needed to render the top activating contexts`, {
      hint: "Pass --tokenizer <path to the base model's tokenizer.json>.",
    });
  }
  const configPath = options.tokenizer
    ? path.join(path.dirname(options.tokenizer), 'tokenizer_config.json')
    : first.partial!.tokenizer_config;
  const tokenizer = loadTokenizer(tokenizerPath, configPath && fs.existsSync(configPath) ? configPath : undefined);
  const labels = new Map(
    Object.entries(first.partial!.labels).map(([l, m]) => [Number(l), new Map(Object.entries(m).map(([k, v]) => [Number(k), v]))]),
  );
  const timings: Record<string, number> = {};
  for (const p of parts) for (const [k, v] of Object.entries(p.run.timings ?? {})) timings[k] = (timings[k] ?? 0) + v;
  const report = buildReport({
    run,
    provider: first.run.execution_provider,
    providerReason: first.run.execution_provider_reason ?? '',
    warnings: [...new Set(parts.flatMap((p) => p.run.warnings))],
    sequences,
    samples: parts.reduce((s, p) => s + p.run.samples, 0),
    decode: tokenizer.decode,
    saes: first.run.saes,
    labels,
    accumulators: accumulators.slice(0, run.sfts.length),
    referenceAccumulators: reference ? accumulators[run.sfts.length] : undefined,
    reference: reference ? { name: reference.name, path: reference.path } : undefined,
    selfCheck: mergedSelfCheck(parts),
    baseHooks: new Map(first.comparisons[0].layers.map((l) => [l.layer, l.hook_tensor?.base ?? ''])),
    sftHooks: first.comparisons.map((c) => new Map(c.layers.map((l) => [l.layer, l.hook_tensor?.sft ?? '']))),
    started: new Date(Math.min(...parts.map((p) => Date.parse(p.run.started_at)))),
    durationS: parts.reduce((s, p) => s + p.run.duration_s, 0),
    timings,
    complete: true,
    shard: { merged: count },
  });
  return report;
}

function isSafeCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 1e8;
}

/** The first shard that ran the self-check gives the neighbouring fits; declared values are the same in all. */
function mergedSelfCheck(parts: SaeDiffReport[]) {
  const withCheck =
    parts.find((p) => p.partial?.self_check && Object.keys(p.partial.self_check.fits).length > 0) ??
    parts.find((p) => p.partial?.self_check);
  const sc = withCheck?.partial?.self_check;
  if (!sc) return undefined;
  return {
    fits: new Map(Object.entries(sc.fits).map(([l, f]) => [Number(l), f as NeighbourFit[]])),
    declared: new Map(Object.entries(sc.declared).map(([l, d]) => [Number(l), d])),
  };
}

export function mergeToFile(files: string[], out: string, options: { tokenizer?: string } = {}): SaeDiffReport {
  const part = files.find((f) => path.resolve(f) === path.resolve(out));
  if (part)
    throw new SaeDiffError('--out is one of the partial reports: merging would overwrite it', {
      location: { file: part },
      hint: 'Give another --out.',
    });
  const report = mergePartialReports(files, options);
  writeFileAtomic(out, reportJson(report));
  return report;
}
