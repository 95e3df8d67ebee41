/**
 * "Compare Reports": layer profiles of several reports together (one metric at a time), the shifted
 * features they share or differ in per layer, and for a checkpoint series each metric over training steps.
 */
import { CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import type { SaeDiffReport } from '../../src/shared/reportTypes';
import { checkpointSeries, compareEntries, layerOverlaps, type CompareEntry } from '../../src/shared/compareReports';
import { tooltip } from '../../src/shared/glossary';
import { formatMetric } from '../../src/shared/reportFindings';
import { LAYER_SERIES } from '../chart/layerSeries';
import { COMPARISON_DASHES } from '../chart/layerSeries';
import { SERIES_COLORS } from '../chart/palette';
import { readChartTheme } from '../chart/themeColors';
import { h, replaceChildren } from '../dom';
import { dropdown } from '../toolkit';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

export class CompareView {
  readonly element: HTMLElement;
  profile: Chart<'line'> | undefined;
  steps: Chart<'line'> | undefined;
  private metric = 'l1_divergence';
  private readonly charts = h('div');
  readonly entries: CompareEntry[];
  readonly series: CompareEntry[] | undefined;

  constructor(reports: { file: string; report: SaeDiffReport }[]) {
    this.entries = compareEntries(reports);
    this.series = checkpointSeries(this.entries);
    const picker = dropdown(
      'Compare metric',
      LAYER_SERIES.map((s) => ({ value: s.key, text: s.label })),
      this.metric,
      (value) => {
        this.metric = value;
        this.renderCharts();
      },
    );
    this.element = h(
      'section',
      { class: 'compare', attrs: { 'data-testid': 'compare' } },
      h('h1', {}, `Comparing ${this.entries.length} runs`),
      h(
        'ul',
        { class: 'compare-entries' },
        ...this.entries.map((e, i) =>
          h(
            'li',
            {},
            h('span', { class: `dash-sample dash-${i % COMPARISON_DASHES.length}` }),
            ` ${e.name}`,
            e.step !== undefined ? ` (step ${e.step})` : '',
          ),
        ),
      ),
      h('label', { class: 'control' }, h('span', { class: 'control-label' }, 'Metric'), picker),
      this.charts,
      this.overlapTable(),
    );
    this.renderCharts();
  }

  private renderCharts(): void {
    this.profile?.destroy();
    this.steps?.destroy();
    const series = LAYER_SERIES.find((s) => s.key === this.metric)!;
    const theme = readChartTheme();
    const layers = [...new Set(this.entries.flatMap((e) => e.layers.map((l) => l.layer)))].sort((a, b) => a - b);
    const profileCanvas = h('canvas', {
      attrs: { role: 'img', 'aria-label': `${series.label} by layer for each run` },
    }) as HTMLCanvasElement;
    const boxes = [
      h(
        'figure',
        {},
        h(
          'figcaption',
          {},
          `${series.label} by layer`,
          h('span', { class: 'metric-definition' }, ` — ${tooltip('layer metric', series.key)}`),
        ),
        h('div', { class: 'plot-box' }, profileCanvas),
      ),
    ];
    const axis = (title: string) => ({
      grid: { color: theme.grid },
      ticks: { color: theme.foreground },
      title: { display: true, text: title, color: theme.muted },
    });
    this.profile = new Chart(profileCanvas, {
      type: 'line',
      data: {
        labels: layers.map((l) => `L${l}`),
        datasets: this.entries.map((e, i) => ({
          label: e.name,
          data: layers.map((layer) => {
            const l = e.layers.find((x) => x.layer === layer);
            return l ? series.value(l) : null;
          }),
          borderColor: SERIES_COLORS[i % SERIES_COLORS.length],
          backgroundColor: SERIES_COLORS[i % SERIES_COLORS.length],
          borderDash: COMPARISON_DASHES[i % COMPARISON_DASHES.length],
          spanGaps: true,
          tension: 0,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: axis('layer'), y: axis(series.label) },
        plugins: {
          legend: { position: 'bottom', labels: { color: theme.foreground } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatMetric(item.parsed.y ?? NaN)}` } },
        },
      },
    });
    if (this.series) {
      const stepsCanvas = h('canvas', {
        attrs: { role: 'img', 'aria-label': `${series.label} over training steps, one line per layer` },
      }) as HTMLCanvasElement;
      boxes.push(
        h(
          'figure',
          {},
          h('figcaption', {}, `${series.label} over training steps (one line per layer)`),
          h('div', { class: 'plot-box' }, stepsCanvas),
        ),
      );
      const ordered = this.series;
      this.steps = new Chart(stepsCanvas, {
        type: 'line',
        data: {
          datasets: layers.map((layer, i) => ({
            label: `layer ${layer}`,
            data: ordered.map((e) => {
              const l = e.layers.find((x) => x.layer === layer);
              return { x: e.step!, y: l ? series.value(l) : NaN };
            }),
            borderColor: SERIES_COLORS[i % SERIES_COLORS.length],
            backgroundColor: SERIES_COLORS[i % SERIES_COLORS.length],
            tension: 0,
          })),
        },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          parsing: false,
          scales: { x: { ...axis('training step'), type: 'linear' }, y: axis(series.label) },
          plugins: { legend: { position: 'bottom', labels: { color: theme.foreground } } },
        },
      });
    } else {
      this.steps = undefined;
    }
    replaceChildren(this.charts, h('div', { class: 'plot-row' }, ...boxes));
    // Chart.js sized the canvases before they were attached: resize now that they are.
    requestAnimationFrame(() => {
      this.profile?.resize();
      this.steps?.resize();
    });
  }

  private overlapTable(): HTMLElement {
    const overlaps = layerOverlaps(this.entries);
    const pairs = overlaps[0]?.pairs ?? [];
    return h(
      'details',
      { class: 'compare-overlap', attrs: { open: true } },
      h('summary', {}, 'Shifted features shared and different, per layer'),
      h(
        'div',
        { class: 'table-scroll' },
        h(
          'table',
          { class: 'overlap-table', attrs: { 'data-testid': 'overlap-table' } },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { attrs: { scope: 'col' } }, 'layer'),
              ...this.entries.map((e) =>
                h('th', { class: 'numeric', attrs: { scope: 'col', title: 'shifted features (of which only in this run)' } }, e.name),
              ),
              h('th', { class: 'numeric', attrs: { scope: 'col', title: 'shifted in every run' } }, 'shared by all'),
              ...pairs.map((p) =>
                h(
                  'th',
                  { class: 'numeric', attrs: { scope: 'col', title: 'Jaccard index of the two sets of shifted features' } },
                  `J(${p.a + 1}, ${p.b + 1})`,
                ),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            ...overlaps.map((o) =>
              h(
                'tr',
                { attrs: { 'data-layer': o.layer } },
                h('th', { attrs: { scope: 'row' } }, o.layer),
                ...o.counts.map((count, i) =>
                  h('td', { class: 'numeric', attrs: { 'data-entry': i } }, `${count} (${o.unique[i]} only here)`),
                ),
                h('td', { class: 'numeric', attrs: { 'data-shared': '' } }, o.shared),
                ...o.pairs.map((p) => h('td', { class: 'numeric' }, formatMetric(p.jaccard))),
              ),
            ),
          ),
        ),
      ),
    );
  }
}
