/** The chart's numbers as a collapsible table: exact values, and the chart's accessible alternative. */
import type { ComparisonReport } from '../src/engine/report/types';
import { h } from './dom';
import { formatMetric } from './format';
import { LAYER_SERIES } from './chart/layerSeries';

export function renderMetricsTable(comparison: ComparisonReport | undefined): HTMLElement {
  const layers = comparison?.layers ?? [];
  return h('details', { class: 'metrics-details' },
    h('summary', {}, `Layer metrics as a table${comparison ? ` (${comparison.sft.name})` : ''}`),
    h('div', { class: 'table-scroll' }, h('table', { class: 'metrics-table' },
      h('thead', {}, h('tr', {}, h('th', { attrs: { scope: 'col' } }, 'layer'),
        ...LAYER_SERIES.map((s) => h('th', { class: 'numeric', attrs: { scope: 'col' } }, s.label)),
        h('th', { attrs: { scope: 'col' } }, 'flags'))),
      h('tbody', {}, ...layers.map((layer) => h('tr', {},
        h('th', { attrs: { scope: 'row' } }, layer.layer),
        ...LAYER_SERIES.map((s) => h('td', { class: 'numeric', attrs: { title: String(s.value(layer)) } }, formatMetric(s.value(layer)))),
        h('td', {}, layer.flags.join(', '))))))));
}
