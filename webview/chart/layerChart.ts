/**
 * The layer profile: every per-layer metric across layers, one line style per fine-tune (overlays can be
 * toggled), configured thresholds as dashed lines, flagged layers banded and coded. Clicking a layer
 * selects it in the feature table.
 */
import {
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartDataset,
  type LegendItem,
} from 'chart.js';
import type { ComparisonReport, LayerReport, SaeDiffReport } from '../../src/shared/reportTypes';
import { formatMetric, reportThresholds } from '../../src/shared/reportFindings';
import { h, replaceChildren } from '../dom';
import type { ViewState } from '../viewState';
import { decorationPlugins, type ChartDecorations } from './chartPlugins';
import { FLAGS, flagInfo } from '../../src/shared/layerMetrics';
import { COMPARISON_DASHES, FLOOR_DASH, LAYER_SERIES, TRUST_SERIES, type TrustSeries } from './layerSeries';
import { readChartTheme } from './themeColors';
import { SERIES_COLORS } from './palette';
import { dropdown } from '../toolkit';
import { tooltip } from '../../src/shared/glossary';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

type LineDataset = ChartDataset<'line', (number | null)[]> & { seriesKey: string; comparison: number };

export class LayerChart {
  readonly element: HTMLElement;
  readonly chart: Chart<'line', (number | null)[], string>;
  private readonly canvas: HTMLCanvasElement;
  private readonly overlayHost = h('div', { class: 'overlay-toggles' });
  private readonly pickerHost = h('div', { class: 'metric-picker' });
  private readonly hiddenSeries = new Set<string>();
  private decorations: ChartDecorations = { theme: readChartTheme(), thresholds: [], bands: [] };
  private report: SaeDiffReport | undefined;
  private state: ViewState | undefined;
  private layers: number[] = [];
  /** Trust series some layer has (noise floor, decomposition); none for older reports. */
  private trustSeries: TrustSeries[] = [];

  constructor(private readonly change: (change: Partial<ViewState>) => void) {
    this.canvas = h('canvas', { attrs: { role: 'img', 'aria-label': 'Layer profile chart' } }) as HTMLCanvasElement;
    this.element = h(
      'section',
      { class: 'layer-profile', attrs: { 'aria-labelledby': 'profile-heading' } },
      h('h2', { attrs: { id: 'profile-heading' } }, 'Layer profile'),
      this.pickerHost,
      this.overlayHost,
      h('div', { class: 'chart-box' }, this.canvas),
      h(
        'p',
        { class: 'flag-legend' },
        'Flags: ',
        ...FLAGS.map((f, i) => [i ? ' · ' : '', h('b', {}, f.code), ` ${f.text}`]).flat(),
        '. Dashed horizontal lines are the configured thresholds; the highlighted column is the layer shown below.',
      ),
    );
    this.chart = new Chart(this.canvas, {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: this.options(),
      plugins: decorationPlugins(() => this.decorations),
    });
  }

  render(report: SaeDiffReport, state: ViewState): void {
    this.report = report;
    this.state = state;
    this.layers = [...new Set(report.comparisons.flatMap((c) => c.layers.map((l) => l.layer)))].sort((a, b) => a - b);
    this.renderOverlayToggles(report, state);
    this.renderPicker(state);
    this.chart.data.labels = this.layers.map((layer) => `L${layer}`);
    const visible = this.visibleComparisons(report, state);
    const single = LAYER_SERIES.find((series) => series.key === state.chartMetric);
    this.trustSeries = single
      ? []
      : TRUST_SERIES.filter((series) => visible.some(({ comparison }) => comparison.layers.some((l) => series.value(l) !== undefined)));
    this.chart.data.datasets = single
      ? visible.map(({ comparison, index }) => this.singleMetricDataset(single, comparison, index))
      : [
          ...visible.flatMap(({ comparison, index }) => this.datasetsFor(comparison, index, report.comparisons.length > 1)),
          ...this.floorDatasets(report.comparisons[state.comparison]),
        ];
    const yScale = this.chart.options.scales?.y as { title?: { display?: boolean; text?: string } } | undefined;
    if (yScale) yScale.title = { ...yScale.title, display: true, text: single ? single.label : 'value (each metric: see the legend)' };
    this.decorations = this.buildDecorations(report, state);
    this.canvas.setAttribute(
      'aria-label',
      `Layer profile of ${this.layers.length} layers; the table below lists the same layers' shifted features.`,
    );
    this.chart.update();
  }

  /** Re-reads theme colours (VS Code changed theme). */
  refreshTheme(): void {
    this.decorations = { ...this.decorations, theme: readChartTheme() };
    this.chart.options = this.options();
    if (this.report && this.state) this.render(this.report, this.state);
  }

  toPngDataUrl(): string {
    return this.chart.toBase64Image('image/png', 1);
  }

  private visibleComparisons(report: SaeDiffReport, state: ViewState): { comparison: ComparisonReport; index: number }[] {
    return report.comparisons
      .map((comparison, index) => ({ comparison, index }))
      .filter(({ index }) => index === state.comparison || !state.hiddenComparisons.includes(index));
  }

  private datasetsFor(comparison: ComparisonReport, index: number, named: boolean): LineDataset[] {
    const { theme } = this.decorations;
    const metrics = LAYER_SERIES.map((series): LineDataset => ({
      ...this.metricLine(series, comparison, index, theme.series[series.key]),
      label: named ? `${comparison.sft.name}: ${series.label}` : series.label,
      hidden: this.hiddenSeries.has(series.key),
    }));
    return [...metrics, ...this.trustDatasetsFor(comparison, index, named)];
  }

  /** One metric, one line per fine-tune in its own colour (the picker's single-metric view). */
  private singleMetricDataset(series: (typeof LAYER_SERIES)[number], comparison: ComparisonReport, index: number): LineDataset {
    return { ...this.metricLine(series, comparison, index, SERIES_COLORS[index % SERIES_COLORS.length]), label: comparison.sft.name };
  }

  /** One metric of one fine-tune over the layers; flagged layers get a larger marker, per fine-tune. */
  private metricLine(
    series: (typeof LAYER_SERIES)[number],
    comparison: ComparisonReport,
    index: number,
    color: string,
  ): Omit<LineDataset, 'label'> {
    const byLayer = new Map(comparison.layers.map((layer) => [layer.layer, layer]));
    const flagged = this.layers.map((layer) => (byLayer.get(layer)?.flags.length ?? 0) > 0);
    return {
      seriesKey: series.key,
      comparison: index,
      data: this.layers.map((layer) => {
        const l = byLayer.get(layer);
        return l ? series.value(l) : null;
      }),
      borderColor: color,
      backgroundColor: color,
      borderWidth: this.decorations.theme.highContrast ? 3 : 2,
      borderDash: COMPARISON_DASHES[index % COMPARISON_DASHES.length],
      pointStyle: series.point,
      pointRadius: flagged.map((f) => (f ? 6 : 3)),
      pointHoverRadius: 7,
      spanGaps: true,
      tension: 0,
    };
  }

  private renderPicker(state: ViewState): void {
    const options = [{ value: 'all', text: 'All metrics' }, ...LAYER_SERIES.map((s) => ({ value: s.key, text: s.label }))];
    const picker = dropdown('Chart metric', options, state.chartMetric ?? 'all', (value) => this.change({ chartMetric: value }));
    const single = LAYER_SERIES.find((s) => s.key === state.chartMetric);
    replaceChildren(
      this.pickerHost,
      h('label', { class: 'control' }, h('span', { class: 'control-label' }, 'Metric'), picker),
      single ? h('span', { class: 'metric-definition' }, tooltip('layer metric', single.key)) : null,
    );
  }

  /** Per fine-tune series from the trust fields (the share of ‖Δh‖² inside the dictionary). */
  private trustDatasetsFor(comparison: ComparisonReport, index: number, named: boolean): LineDataset[] {
    const byLayer = new Map(comparison.layers.map((layer) => [layer.layer, layer]));
    return this.trustSeries
      .filter((series) => !series.floor)
      .map((series) =>
        this.trustDataset(
          series,
          byLayer,
          index,
          named ? `${comparison.sft.name}: ${series.label}` : series.label,
          COMPARISON_DASHES[index % COMPARISON_DASHES.length],
        ),
      );
  }

  /** The noise floor is base vs the reference model: the same for every fine-tune, drawn once. */
  private floorDatasets(primary: ComparisonReport | undefined): LineDataset[] {
    if (!primary) return [];
    const byLayer = new Map(primary.layers.map((layer) => [layer.layer, layer]));
    return this.trustSeries
      .filter((series) => series.floor)
      .map((series) => this.trustDataset(series, byLayer, -1, series.label, FLOOR_DASH));
  }

  private trustDataset(
    series: TrustSeries,
    byLayer: Map<number, LayerReport>,
    comparison: number,
    label: string,
    dash: number[],
  ): LineDataset {
    const { theme } = this.decorations;
    const color = theme.series[series.color];
    return {
      label,
      seriesKey: series.key,
      comparison,
      data: this.layers.map((layer) =>
        byLayer.get(layer) && series.value(byLayer.get(layer)!) !== undefined ? series.value(byLayer.get(layer)!)! : null,
      ),
      hidden: this.hiddenSeries.has(series.key),
      borderColor: color,
      backgroundColor: color,
      borderWidth: theme.highContrast ? 2.5 : 1.5,
      borderDash: dash,
      pointRadius: series.floor ? 0 : 2,
      pointHoverRadius: 5,
      spanGaps: true,
      tension: 0,
    };
  }

  private buildDecorations(report: SaeDiffReport, state: ViewState): ChartDecorations {
    const theme = this.decorations.theme;
    const thresholds = reportThresholds(report);
    const visible = this.visibleComparisons(report, state);
    const several = report.comparisons.length > 1;
    const single = state.chartMetric && state.chartMetric !== 'all' ? state.chartMetric : undefined;
    return {
      theme,
      thresholds: LAYER_SERIES.filter((s) => s.threshold && !this.hiddenSeries.has(s.key) && (!single || s.key === single)).map((s) => ({
        value: thresholds[s.threshold!.key],
        text: s.threshold!.text,
        color: theme.series[s.key],
      })),
      // Every shown fine-tune's flags: one line of codes each, prefixed with its name when there are several.
      bands: this.layers.map((layer, index) => ({
        index,
        codes: visible
          .map(({ comparison }) => {
            const flags = comparison.layers.find((l) => l.layer === layer)?.flags ?? [];
            return flags.length ? `${several ? `${comparison.sft.name}: ` : ''}${flags.map((flag) => flagInfo(flag).code).join(' ')}` : '';
          })
          .filter(Boolean),
        selected: layer === state.layer,
      })),
    };
  }

  private renderOverlayToggles(report: SaeDiffReport, state: ViewState): void {
    if (report.comparisons.length < 2) {
      replaceChildren(this.overlayHost);
      return;
    }
    replaceChildren(
      this.overlayHost,
      h('span', { class: 'control-label' }, 'Fine-tunes:'),
      ...report.comparisons.map((comparison, index) => {
        const box = h(
          'vscode-checkbox',
          {
            attrs: {
              checked: index === state.comparison || !state.hiddenComparisons.includes(index),
              disabled: index === state.comparison,
              'data-comparison': index,
            },
          },
          h('span', { class: `dash-sample dash-${index % COMPARISON_DASHES.length}` }),
          ` ${comparison.sft.name}`,
          index === state.comparison ? ' (selected)' : '',
        );
        box.addEventListener('change', () => {
          const checked = (box as HTMLElement & { checked: boolean }).checked;
          const hidden = new Set(state.hiddenComparisons);
          if (checked) hidden.delete(index);
          else hidden.add(index);
          this.change({ hiddenComparisons: [...hidden].sort() });
        });
        return box;
      }),
    );
  }

  private options(): Chart<'line'>['options'] {
    const theme = this.decorations.theme;
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'index', intersect: false },
      layout: { padding: { top: 16 + 12 * Math.max(0, (this.report?.comparisons.length ?? 1) - 1) } },
      color: theme.foreground,
      scales: {
        // offset: each layer gets a full column, so the first and last layers' bands and codes are not cut off.
        x: {
          offset: true,
          grid: { color: theme.grid },
          ticks: { color: theme.foreground },
          title: { display: true, text: 'layer', color: theme.muted },
        },
        y: { suggestedMin: 0, suggestedMax: 1, grid: { color: theme.grid }, ticks: { color: theme.foreground } },
      },
      onClick: (_event, _elements, chart) => {
        const active = chart.getActiveElements()[0];
        if (active) this.change({ layer: this.layers[active.index], selectedFeature: undefined });
      },
      plugins: {
        legend: {
          position: 'bottom',
          labels: {
            color: theme.foreground,
            usePointStyle: true,
            // One entry per metric (colour); fine-tunes are told apart by line style and the toggles above.
            generateLabels: (chart) =>
              this.legendSeries().map((series): LegendItem => ({
                text: series.label,
                fillStyle: this.decorations.theme.series[series.color],
                strokeStyle: this.decorations.theme.series[series.color],
                fontColor: this.decorations.theme.foreground,
                hidden: this.hiddenSeries.has(series.key),
                pointStyle: 'line',
                lineWidth: 3,
                lineDash: series.dash,
                datasetIndex: chart.data.datasets.findIndex((d) => (d as LineDataset).seriesKey === series.key),
              })),
          },
          onClick: (_event, item) => {
            const series = this.legendSeries().find((s) => s.label === item.text);
            if (!series) return;
            if (this.hiddenSeries.has(series.key)) this.hiddenSeries.delete(series.key);
            else this.hiddenSeries.add(series.key);
            if (this.report && this.state) this.render(this.report, this.state);
          },
        },
        tooltip: {
          callbacks: {
            label: (item) => `${item.dataset.label}: ${formatMetric(item.parsed.y ?? NaN)}`,
            footer: (items) => this.flagsText(items[0]?.dataIndex),
          },
        },
      },
    };
  }

  /** One legend entry per metric (and per trust series present), toggling all its datasets. */
  private legendSeries(): { key: string; label: string; color: string; dash?: number[] }[] {
    return [
      ...LAYER_SERIES.map((s) => ({ key: s.key, label: s.label, color: s.key })),
      ...this.trustSeries.map((s) => ({ key: s.key, label: s.label, color: s.color, dash: s.floor ? FLOOR_DASH : undefined })),
    ];
  }

  private flagsText(index: number | undefined): string {
    if (index === undefined || !this.report || !this.state) return '';
    const lines = this.visibleComparisons(this.report, this.state).map(({ comparison }) => {
      const flags = comparison.layers.find((l) => l.layer === this.layers[index])?.flags ?? [];
      return flags.length ? `${comparison.sft.name}: ${flags.map((f) => flagInfo(f).text).join(', ')}` : '';
    });
    return lines.filter(Boolean).join('\n');
  }
}
