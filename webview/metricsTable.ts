/** The chart's numbers as a collapsible table: exact values, and the chart's accessible alternative. */
import type { ComparisonReport, LayerReport } from '../src/shared/reportTypes';
import { formatPercent, sumCounts } from '../src/shared/reportTrust';
import { h } from './dom';
import { formatMetric } from './format';
import { LAYER_SERIES } from './chart/layerSeries';

/** Optional columns, shown only when some layer has the field (older reports lack them). */
const TRUST_COLUMNS: { label: string; text(layer: LayerReport): string | undefined }[] = [
  { label: 'significant', text: (l) => sumCounts(l.significant_counts)?.toString() },
  { label: 'inside dictionary', text: (l) => (l.decomposition ? formatPercent(l.decomposition.fraction_inside) : undefined) },
  {
    label: 'noise floor',
    text: (l) => (l.within_noise_floor === undefined && !l.noise_floor ? undefined : l.within_noise_floor ? 'within' : 'above'),
  },
  { label: 'self-check', text: (l) => (l.self_check ? (l.self_check.ok ? '✓ ok' : '✗ failed') : undefined) },
];

export function renderMetricsTable(comparison: ComparisonReport | undefined): HTMLElement {
  const layers = comparison?.layers ?? [];
  const trust = TRUST_COLUMNS.filter((column) => layers.some((layer) => column.text(layer) !== undefined));
  return h(
    'details',
    { class: 'metrics-details' },
    h('summary', {}, `Layer metrics as a table${comparison ? ` (${comparison.sft.name})` : ''}`),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { class: 'metrics-table' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { attrs: { scope: 'col' } }, 'layer'),
            ...LAYER_SERIES.map((s) => h('th', { class: 'numeric', attrs: { scope: 'col' } }, s.label)),
            h('th', { attrs: { scope: 'col' } }, 'flags'),
            ...trust.map((column) => h('th', { attrs: { scope: 'col' } }, column.label)),
          ),
        ),
        h(
          'tbody',
          {},
          ...layers.map((layer) =>
            h(
              'tr',
              {},
              h('th', { attrs: { scope: 'row' } }, layer.layer),
              ...LAYER_SERIES.map((s) =>
                h('td', { class: 'numeric', attrs: { title: String(s.value(layer)) } }, formatMetric(s.value(layer))),
              ),
              h('td', {}, layer.flags.join(', ')),
              ...trust.map((column) => h('td', {}, column.text(layer) ?? '')),
            ),
          ),
        ),
      ),
    ),
  );
}
