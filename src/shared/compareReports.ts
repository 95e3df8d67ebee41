/**
 * Several reports side by side (checkpoints of one training run, seeds, datasets): their layer profiles,
 * which shifted features they share or differ in, and, for a checkpoint series, each metric over training
 * steps. Each report contributes its first fine-tune (a report per checkpoint is the common case); a report
 * with several fine-tunes contributes one entry per fine-tune. No DOM or vscode imports.
 */
import type { LayerReport, SaeDiffReport } from './reportTypes';
import { allShiftedFeatures } from './featureColumns';

export interface CompareEntry {
  /** "file name" or "file name: fine-tune". */
  name: string;
  /** Training step read from the fine-tune's path or name (checkpoint-500, step_1000, ...), when there is one. */
  step?: number;
  layers: LayerReport[];
}

export interface LayerOverlap {
  layer: number;
  /** Shifted features per entry, in entry order. */
  counts: number[];
  /** Shifted in every entry. */
  shared: number;
  /** Shifted in this entry only. */
  unique: number[];
  /** Jaccard index of the shifted sets, per pair (i < j). */
  pairs: { a: number; b: number; jaccard: number }[];
}

/** A training step in a path or name: checkpoint-500, checkpoint_500, step500, step-1000, global_step2000. */
export function trainingStep(text: string): number | undefined {
  const match = /(?:checkpoint|step)[-_]?(\d+)(?!.*(?:checkpoint|step)[-_]?\d)/i.exec(text);
  return match ? Number(match[1]) : undefined;
}

export function compareEntries(reports: { file: string; report: SaeDiffReport }[]): CompareEntry[] {
  return reports.flatMap(({ file, report }) =>
    report.comparisons.map((comparison) => ({
      name: report.comparisons.length > 1 ? `${file}: ${comparison.sft.name}` : file,
      step: trainingStep(comparison.sft.path ?? '') ?? trainingStep(comparison.sft.name) ?? trainingStep(file),
      layers: comparison.layers,
    })),
  );
}

/** Is this a checkpoint series (every entry has a distinct step)? Then entries are ordered by step. */
export function checkpointSeries(entries: CompareEntry[]): CompareEntry[] | undefined {
  if (entries.length < 2 || entries.some((e) => e.step === undefined)) return undefined;
  if (new Set(entries.map((e) => e.step)).size !== entries.length) return undefined;
  return [...entries].sort((a, b) => a.step! - b.step!);
}

export function layerOverlaps(entries: CompareEntry[]): LayerOverlap[] {
  const layers = [...new Set(entries.flatMap((e) => e.layers.map((l) => l.layer)))].sort((a, b) => a - b);
  return layers.map((layer) => {
    const sets = entries.map((e) => {
      const l = e.layers.find((x) => x.layer === layer);
      return new Set(l ? allShiftedFeatures(l).map((f) => f.id) : []);
    });
    const shared = [...(sets[0] ?? [])].filter((id) => sets.every((s) => s.has(id))).length;
    const unique = sets.map((s, i) => [...s].filter((id) => sets.every((other, j) => j === i || !other.has(id))).length);
    const pairs: LayerOverlap['pairs'] = [];
    for (let a = 0; a < sets.length; a++) {
      for (let b = a + 1; b < sets.length; b++) {
        const both = [...sets[a]].filter((id) => sets[b].has(id)).length;
        const union = sets[a].size + sets[b].size - both;
        pairs.push({ a, b, jaccard: union === 0 ? 1 : both / union });
      }
    }
    return { layer, counts: sets.map((s) => s.size), shared, unique, pairs };
  });
}
