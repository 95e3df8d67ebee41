import { configToJson } from '../config/load';
import type { ModelSpec, ResolvedConfig } from '../config/types';
import type { LayerAccumulator } from '../metrics/layerAccumulator';
import { layerFlags, layerMetrics, shiftedFeatures } from '../metrics/finalize';
import type { ExecutionProviderName } from '../config/types';
import { TOOL_VERSION } from '../version';
import { renderContext } from './contexts';
import { compareFineTunes } from './fineTuneComparison';
import type { ComparisonReport, SaeDiffReport, SaeInfo, ShiftedFeature } from './types';

export interface ReportInputs {
  config: ResolvedConfig;
  provider: ExecutionProviderName;
  providerReason: string;
  warnings: string[];
  sequences: number[][];
  decode: (ids: number[]) => string;
  saes: SaeInfo[];
  labels: Map<number, Map<number, string>>;
  /** One map layer -> accumulator per fine-tune, in config order. */
  accumulators: Map<number, LayerAccumulator>[];
  sftSpecs: ModelSpec[];
  baseHooks: Map<number, string>;
  sftHooks: Map<number, string>[];
  started: Date;
  durationS: number;
  timings: Record<string, number>;
  complete: boolean;
}

/** Finalizes the accumulators into the report of REPORT.md (plus labels, contexts and run details). */
export function buildReport(r: ReportInputs): SaeDiffReport {
  const { config } = r;
  const allShifted = r.sftSpecs.map(() => new Map<number, ShiftedFeature[]>());
  const comparisons: ComparisonReport[] = r.sftSpecs.map((spec, si) => ({
    sft: { name: spec.name, path: spec.path },
    layers: config.layers.targets.map((layer) => {
      const acc = r.accumulators[si].get(layer)!;
      const metrics = layerMetrics(acc);
      const list = shiftedFeatures(acc, config.metrics);
      allShifted[si].set(layer, list.all);
      const labels = r.labels.get(layer);
      return {
        layer,
        ...metrics,
        flags: layerFlags(metrics, config.metrics),
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
  const tokens = r.accumulators[0]?.get(config.layers.targets[0])?.sums.tokens ?? 0;
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
      config: configToJson(config),
      tokens,
      samples: r.sequences.length,
      hook_point: config.layers.hookPoint,
      saes: r.saes,
      warnings: r.warnings,
      timings: r.timings,
    },
    base: { name: config.models.base.name, path: config.models.base.path },
    comparisons,
    ...(comparisons.length >= 2 ? { fine_tune_comparison: compareFineTunes(comparisons, allShifted, r.labels, config.metrics.top_features) } : {}),
  };
}
