import { configToJson } from '../config/load';
import type { ExecutionProviderName, HookPoint, MetricsConfig, ResolvedConfig } from '../config/types';
import type { LayerAccumulator } from '../metrics/layerAccumulator';
import { decomposition, layerFlags, LayerMetrics, layerMetrics, shiftedFeatures } from '../metrics/finalize';
import { TOOL_VERSION } from '../core/version';
import { NeighbourFit, selfCheck } from '../metrics/selfCheck';
import { renderContext } from './contexts';
import { compareFineTunes } from './fineTuneComparison';
import { addActivationHistograms } from './histograms';
import { toFeatureColumns } from '../../shared/featureColumns';
import type { ComparisonReport, LayerFlag, RunConfig, SaeDiffReport, SaeInfo, ShiftedFeature } from '../../shared/reportTypes';

/** What the report says about the run's setup: from a config, or from the partial reports being merged. */
export interface RunDescription {
  configJson: RunConfig;
  targets: number[];
  metrics: MetricsConfig;
  hookPoint: HookPoint;
  base: { name: string; path: string };
  sfts: { name: string; path: string }[];
}

export function describeRun(config: ResolvedConfig): RunDescription {
  return {
    configJson: configToJson(config),
    targets: config.layers.targets,
    metrics: config.metrics,
    hookPoint: config.layers.hookPoint,
    base: { name: config.models.base.name, path: config.models.base.path },
    sfts: config.models.sfts.map((s) => ({ name: s.name, path: s.path })),
  };
}

export interface ReportInputs {
  run: RunDescription;
  provider: ExecutionProviderName;
  providerReason: string;
  warnings: string[];
  /** Token ids per dataset index (sparse when only a shard was run). */
  sequences: number[][];
  /** How many prompts were evaluated. */
  samples: number;
  decode: (ids: number[]) => string;
  saes: SaeInfo[];
  labels: Map<number, Map<number, string>>;
  /** One map layer -> accumulator per fine-tune, in config order. */
  accumulators: Map<number, LayerAccumulator>[];
  /** Base vs models.reference: the noise floor. */
  referenceAccumulators?: Map<number, LayerAccumulator>;
  reference?: { name: string; path: string };
  baseHooks: Map<number, string>;
  sftHooks: Map<number, string>[];
  /** Per fine-tune, per layer: the mean pre-activation change of every feature (final reports only). */
  preActivationShift?: Map<number, Float32Array>[];
  /** Per layer: the SAE's activation rule, for the threshold margin. */
  saeRules?: Map<number, { architecture: string; threshold?: Float32Array }>;
  /** The SAE self-check: neighbouring-position fits from the first batch, and what each SAE declares. */
  selfCheck?: { fits: Map<number, NeighbourFit[]>; declared: Map<number, { l0?: number; explainedVariance?: number; maxL0?: number }> };
  started: Date;
  durationS: number;
  /** Tokenizer and template differences between base and the fine-tunes (final runs). */
  parityWarnings?: string[];
  /** The BOS dataset.prepend_bos put first, and in how many prompts. */
  bosPrepended?: { token: string; prompts: number };
  /** The prompts the feature details' contexts come from (featureDetails.ts; final runs). */
  prompts?: Record<string, string>;
  /** A shard's slice and the state merge needs (partial reports). */
  shard?: SaeDiffReport['shard'];
  partial?: SaeDiffReport['partial'];
  timings: Record<string, number>;
  complete: boolean;
}

/**
 * The noise floor of a layer (base vs a reference that should not differ: base quantised, or on another
 * provider): the fine-tune's numbers relative to it, and no divergence flag for a layer within it.
 */
function noiseFloor(sft: LayerMetrics, floor: LayerMetrics, flags: LayerFlag[]) {
  const within = sft.l1_divergence <= floor.l1_divergence && 1 - sft.feature_overlap <= 1 - floor.feature_overlap;
  const kept = within ? flags.filter((f) => f === 'low_fidelity') : flags;
  return {
    flags: kept,
    fields: {
      noise_floor: {
        dense_cosine: floor.dense_cosine,
        feature_overlap: floor.feature_overlap,
        l1_divergence: floor.l1_divergence,
        recon_cosine: floor.recon_cosine,
      },
      relative_to_floor: {
        l1_divergence: sft.l1_divergence - floor.l1_divergence,
        one_minus_overlap: floor.feature_overlap - sft.feature_overlap,
        one_minus_dense_cosine: floor.dense_cosine - sft.dense_cosine,
      },
      within_noise_floor: within,
      flags_suppressed_by_floor: flags.filter((f) => !kept.includes(f)),
    },
  };
}

/** The mean pre-activation change of a feature, and whether it is too small to trust a threshold crossing. */
function thresholdMargin(
  r: ReportInputs,
  si: number,
  layer: number,
  acc: LayerAccumulator,
  id: number,
): { pre_activation_shift?: number; near_threshold?: boolean } {
  const shift = r.preActivationShift?.[si]?.get(layer)?.[id];
  if (shift === undefined) return {};
  const rule = r.saeRules?.get(layer);
  if (!rule || (rule.architecture !== 'jumprelu' && rule.architecture !== 'topk')) return { pre_activation_shift: shift };
  // JumpReLU: relative to the feature's threshold; TopK (no threshold): to its mean activation when it fires
  const fires = acc.cntB[id] + acc.cntS[id];
  const scale =
    rule.architecture === 'jumprelu' && rule.threshold ? rule.threshold[id] : fires > 0 ? (acc.sumZb[id] + acc.sumZs[id]) / fires : 0;
  return { pre_activation_shift: shift, near_threshold: Math.abs(shift) < r.run.metrics.threshold_margin * Math.abs(scale) };
}

/** The report file's version (docs/report-format.md): 2 adds every shifted feature (all_shifted), 3 activation_histograms. */
export const REPORT_VERSION = 3 as const;

/** The per fine-tune comparisons, and every shifted feature of each (for the comparison across fine-tunes). */
export interface BuiltComparisons {
  comparisons: ComparisonReport[];
  allShifted: Map<number, ShiftedFeature[]>[];
}

/** Finalizes the accumulators into each fine-tune's layers (metrics, flags, shifted features, labels, contexts). */
export function buildComparisons(r: ReportInputs): BuiltComparisons {
  const { run } = r;
  const allShifted = run.sfts.map(() => new Map<number, ShiftedFeature[]>());
  const comparisons: ComparisonReport[] = run.sfts.map((spec, si) => ({
    sft: { name: spec.name, path: spec.path },
    layers: run.targets.map((layer) => {
      const acc = r.accumulators[si].get(layer)!;
      const metrics = layerMetrics(acc);
      const list = shiftedFeatures(acc, run.metrics);
      allShifted[si].set(layer, list.all);
      const check = r.selfCheck
        ? selfCheck(
            layer,
            run.hookPoint,
            metrics.l0_base,
            metrics.explained_variance_base,
            r.selfCheck.declared.get(layer) ?? {},
            r.selfCheck.fits.get(layer) ?? [],
            run.metrics.self_check_max_l0_ratio,
          )
        : undefined;
      const floorAcc = r.referenceAccumulators?.get(layer);
      const floor = floorAcc ? noiseFloor(metrics, layerMetrics(floorAcc), layerFlags(metrics, run.metrics)) : undefined;
      const labels = r.labels.get(layer);
      return {
        layer,
        ...metrics,
        flags: floor ? floor.flags : layerFlags(metrics, run.metrics),
        shifted_count: list.shiftedCount,
        category_counts: list.categoryCounts,
        significant_counts: list.significantCounts,
        decomposition: decomposition(acc),
        all_shifted: toFeatureColumns(
          list.all.map((f) => ({
            ...f,
            near_threshold: thresholdMargin(r, si, layer, acc, f.id).near_threshold,
            label: labels?.get(f.id),
          })),
        ),
        shifted_features: list.shifted.map((f) => ({
          ...f,
          ...thresholdMargin(r, si, layer, acc, f.id),
          ...(labels?.has(f.id) ? { label: labels.get(f.id) } : {}),
          contexts: {
            base: acc.ctxBase.list(f.id).map((e) => renderContext(r.sequences, r.decode, e)),
            sft: acc.ctxSft.list(f.id).map((e) => renderContext(r.sequences, r.decode, e)),
          },
        })),
        hook_tensor: { base: r.baseHooks.get(layer) ?? '', sft: r.sftHooks[si].get(layer) ?? '' },
        ...(floor ? floor.fields : {}),
        ...(check ? { self_check: check } : {}),
      };
    }),
  }));
  addActivationHistograms(comparisons, allShifted, r.accumulators);
  return { comparisons, allShifted };
}

/**
 * The report of docs/report-format.md, built once from everything the run produced. `built` is given when
 * the comparisons were finalized first to add their feature details (featureDetails.ts).
 */
export function buildReport(r: ReportInputs, built: BuiltComparisons = buildComparisons(r)): SaeDiffReport {
  const { run } = r;
  const { comparisons, allShifted } = built;
  const tokens = r.accumulators[0]?.get(run.targets[0])?.sums.tokens ?? 0;
  return {
    format: 'sae-diff-report',
    version: REPORT_VERSION,
    complete: r.complete,
    run: {
      tool_version: TOOL_VERSION,
      started_at: r.started.toISOString(),
      duration_s: r.durationS,
      execution_provider: r.provider,
      execution_provider_reason: r.providerReason,
      config: run.configJson,
      tokens,
      samples: r.samples,
      hook_point: run.hookPoint,
      saes: r.saes,
      warnings: r.warnings,
      timings: r.timings,
      fdr: run.metrics.fdr,
      ...(r.selfCheck ? { self_check_failed: selfCheckFailed(comparisons) } : {}),
      ...(r.parityWarnings ? { parity_warnings: r.parityWarnings } : {}),
      ...(r.bosPrepended ? { bos_prepended: r.bosPrepended } : {}),
    },
    base: run.base,
    comparisons,
    ...(r.reference ? { noise_floor: { reference: r.reference } } : {}),
    ...(comparisons.length >= 2
      ? { fine_tune_comparison: compareFineTunes(comparisons, allShifted, r.labels, run.metrics.top_features) }
      : {}),
    ...(r.prompts ? { prompts: r.prompts } : {}),
    ...(r.shard ? { shard: r.shard } : {}),
    ...(r.partial ? { partial: r.partial } : {}),
  };
}

const selfCheckFailed = (comparisons: ComparisonReport[]) =>
  comparisons.some((c) => c.layers.some((l) => l.self_check && !l.self_check.ok));

/** The failing self-check messages, once each: the check is on base, so the first fine-tune's layers hold them all. */
export function selfCheckFailureLines(comparisons: ComparisonReport[]): string[] {
  if (!selfCheckFailed(comparisons)) return [];
  return [...new Set(comparisons[0].layers.flatMap((l) => l.self_check?.messages ?? []))];
}
