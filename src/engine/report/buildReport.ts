import { configToJson } from '../config/load';
import type { ExecutionProviderName, HookPoint, MetricsConfig, ResolvedConfig } from '../config/types';
import type { LayerAccumulator } from '../metrics/layerAccumulator';
import { layerFlags, layerMetrics, shiftedFeatures } from '../metrics/finalize';
import { TOOL_VERSION } from '../version';
import { renderContext } from './contexts';
import { compareFineTunes } from './fineTuneComparison';
import type { ComparisonReport, SaeDiffReport, SaeInfo, ShiftedFeature } from './types';

/** What the report says about the run's setup: from a config, or from the partial reports being merged. */
export interface RunDescription {
  configJson: Record<string, unknown>;
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
  baseHooks: Map<number, string>;
  sftHooks: Map<number, string>[];
  started: Date;
  durationS: number;
  timings: Record<string, number>;
  complete: boolean;
}

/** Finalizes the accumulators into the report of REPORT.md (plus labels, contexts and run details). */
export function buildReport(r: ReportInputs): SaeDiffReport {
  const { run } = r;
  const allShifted = run.sfts.map(() => new Map<number, ShiftedFeature[]>());
  const comparisons: ComparisonReport[] = run.sfts.map((spec, si) => ({
    sft: { name: spec.name, path: spec.path },
    layers: run.targets.map((layer) => {
      const acc = r.accumulators[si].get(layer)!;
      const metrics = layerMetrics(acc);
      const list = shiftedFeatures(acc, run.metrics);
      allShifted[si].set(layer, list.all);
      const labels = r.labels.get(layer);
      return {
        layer,
        ...metrics,
        flags: layerFlags(metrics, run.metrics),
        shifted_count: list.shiftedCount,
        category_counts: list.categoryCounts,
        shifted_features: list.shifted.map((f) => ({
          ...f,
          ...(labels?.has(f.id) ? { label: labels.get(f.id) } : {}),
          contexts: {
            base: acc.ctxBase.list(f.id).map((e) => renderContext(r.sequences, r.decode, e)),
            sft: acc.ctxSft.list(f.id).map((e) => renderContext(r.sequences, r.decode, e)),
          },
        })),
        hook_tensor: { base: r.baseHooks.get(layer) ?? '', sft: r.sftHooks[si].get(layer) ?? '' },
      };
    }),
  }));
  const tokens = r.accumulators[0]?.get(run.targets[0])?.sums.tokens ?? 0;
  return {
    format: 'sae-diff-report',
    version: 1,
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
    },
    base: run.base,
    comparisons,
    ...(comparisons.length >= 2 ? { fine_tune_comparison: compareFineTunes(comparisons, allShifted, r.labels, run.metrics.top_features) } : {}),
  };
}
