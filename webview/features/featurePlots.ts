/**
 * Overview plots over every shifted feature of the layer: firing frequency in base vs fine-tune (log-log,
 * coloured and shaped by category) and a volcano plot (mean activation change vs -log10 q). Clicking a point
 * opens that feature (whose page shows its activation histograms).
 */
import {
  Chart,
  Legend,
  LinearScale,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
  type ChartDataset,
  type Plugin,
  type PointStyle,
  type ScatterDataPoint,
} from 'chart.js';
import { drawPoint } from 'chart.js/helpers';
import type { SaeDiffReport, ShiftedFeature } from '../../src/shared/reportTypes';
import { h, replaceChildren } from '../dom';
import { formatStat } from '../format';
import { CATEGORY_STYLE, OTHER_CATEGORY } from '../chart/palette';
import { readChartTheme } from '../chart/themeColors';
import type { ViewState } from '../viewState';

Chart.register(ScatterController, PointElement, LinearScale, LogarithmicScale, Legend, Tooltip);

type Point = ScatterDataPoint & { id: number };
type PointSet = ChartDataset<'scatter', Point[]>;

/** Where a frequency of 0 is drawn on the log axis: half of one token's share. */
export function frequencyFloor(tokens: number): number {
  return tokens > 0 ? 0.5 / tokens : 1e-6;
}

/** -log10 q, capped where q underflows to 0. */
export function minusLog10(q: number): number {
  return q > 0 ? -Math.log10(q) : 320;
}

export class FeaturePlots {
  readonly element: HTMLElement;
  scatter: Chart<'scatter', Point[]> | undefined;
  volcano: Chart<'scatter', Point[]> | undefined;
  private readonly scatterBox = h('div', { class: 'plot-box' });
  private readonly volcanoBox = h('div', { class: 'plot-box' });
  private readonly note = h('p', { class: 'plot-note' });
  private selected: number | undefined;

  constructor(private readonly onSelect: (id: number) => void) {
    this.element = h(
      'details',
      { class: 'feature-plots', attrs: { open: true } },
      h('summary', {}, 'Overview of every shifted feature at this layer'),
      h(
        'div',
        { class: 'plot-row' },
        h('figure', {}, h('figcaption', {}, 'Firing frequency: base vs fine-tune (log-log)'), this.scatterBox),
        h('figure', {}, h('figcaption', {}, 'Volcano: mean activation change vs −log₁₀ q'), this.volcanoBox),
      ),
      this.note,
    );
  }

  render(report: SaeDiffReport, features: ShiftedFeature[], state: ViewState): void {
    this.selected = state.selectedFeature;
    this.scatter?.destroy();
    this.volcano?.destroy();
    const floor = frequencyFloor(report.run.tokens);
    const sftName = report.comparisons[state.comparison]?.sft.name ?? 'fine-tune';
    const zeros = features.filter((f) => f.freq_base === 0 || f.freq_sft === 0).length;
    this.scatter = this.chart(
      this.scatterBox,
      'Firing frequency scatter',
      byCategory(features, (f) => ({ x: Math.max(f.freq_base, floor), y: Math.max(f.freq_sft, floor), id: f.id })),
      {
        x: { type: 'logarithmic', title: `freq in ${report.base.name}` },
        y: { type: 'logarithmic', title: `freq in ${sftName}` },
      },
    );
    const tested = features.filter((f) => f.q_value !== undefined);
    if (features.length === 0) {
      // a run that has not finished a batch yet (the live panel), or a layer without shifted features
      this.volcano = undefined;
      replaceChildren(this.volcanoBox, h('p', { class: 'empty' }, 'No shifted feature at this layer (yet).'));
    } else if (tested.length > 0) {
      this.volcano = this.chart(
        this.volcanoBox,
        'Volcano plot',
        byCategory(tested, (f) => ({ x: f.mean_sft - f.mean_base, y: minusLog10(f.q_value!), id: f.id })),
        {
          x: { type: 'linear', title: 'mean activation change (SFT − base)' },
          y: { type: 'linear', title: '−log₁₀ q' },
        },
      );
    } else {
      this.volcano = undefined;
      replaceChildren(
        this.volcanoBox,
        h('p', { class: 'empty' }, 'This report has no q values (significance was not computed), so there is no volcano plot.'),
      );
    }
    replaceChildren(
      this.note,
      `${features.length} features. `,
      zeros > 0 ? `${zeros} with a frequency of 0 in one model are drawn at ${formatStat(floor)} (half a token's share). ` : '',
      'Click a point to open the feature.',
    );
  }

  /**
   * Rings the selected feature's point: drawn over the plot after its datasets (selectionRing), so a selection
   * only redraws the canvas. Options that differ per point (a bigger radius for one) would make Chart.js resolve
   * every point's options on each update: 1.2 s per click at 65,536 latents.
   */
  highlight(id: number | undefined): void {
    this.selected = id;
    for (const chart of [this.scatter, this.volcano]) chart?.draw();
  }

  /** The plugin that draws the selected point, bigger and outlined, on top of one chart. */
  private selectionRing(outline: string): Plugin<'scatter'> {
    return {
      id: 'selectionRing',
      afterDatasetsDraw: (chart) => {
        const id = this.selected;
        let drawn: number | undefined;
        chart.data.datasets.forEach((dataset, di) => {
          const index = id === undefined ? -1 : (dataset.data as Point[]).findIndex((p) => p.id === id);
          if (index < 0 || !chart.isDatasetVisible(di)) return;
          const point = chart.getDatasetMeta(di).data[index];
          const ctx = chart.ctx;
          ctx.save();
          ctx.fillStyle = dataset.backgroundColor as string;
          ctx.strokeStyle = outline;
          ctx.lineWidth = 2;
          drawPoint(
            ctx,
            { pointStyle: (dataset.pointStyle as PointStyle | undefined) ?? 'circle', radius: 7, borderWidth: 2 },
            point.x,
            point.y,
          );
          ctx.restore();
          drawn = id;
        });
        // what the ring shows, for tests and assistive tooling
        if (drawn === undefined) delete chart.canvas.dataset.selectedFeature;
        else chart.canvas.dataset.selectedFeature = String(drawn);
      },
    };
  }

  private chart(
    box: HTMLElement,
    label: string,
    datasets: PointSet[],
    axes: Record<'x' | 'y', { type: 'linear' | 'logarithmic'; title: string }>,
  ): Chart<'scatter', Point[]> {
    const theme = readChartTheme();
    const canvas = h('canvas', {
      attrs: { role: 'img', 'aria-label': `${label} of ${datasets.reduce((n, d) => n + d.data.length, 0)} features` },
    }) as HTMLCanvasElement;
    replaceChildren(box, canvas);
    const axis = (a: { type: 'linear' | 'logarithmic'; title: string }) => ({
      type: a.type,
      grid: { color: theme.grid },
      ticks: { color: theme.foreground, maxTicksLimit: 8 },
      title: { display: true, text: a.title, color: theme.muted },
    });
    return new Chart<'scatter', Point[]>(canvas, {
      type: 'scatter',
      data: { datasets },
      plugins: [this.selectionRing(theme.foreground)],
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { x: axis(axes.x), y: axis(axes.y) },
        // the same for every point (Chart.js then shares them instead of resolving each point's); the selected one
        // is drawn by selectionRing
        elements: { point: { radius: 3, borderWidth: 1 } },
        onClick: (_event, elements, chart) => {
          const hit = elements[0];
          if (!hit) return;
          const point = chart.data.datasets[hit.datasetIndex].data[hit.index] as Point;
          this.onSelect(point.id);
        },
        plugins: {
          legend: { position: 'bottom', labels: { color: theme.foreground, usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: (item) =>
                `feature ${(item.raw as Point).id}: (${formatStat(item.parsed.x ?? NaN)}, ${formatStat(item.parsed.y ?? NaN)})`,
            },
          },
        },
      },
    });
  }
}

function byCategory(features: ShiftedFeature[], point: (f: ShiftedFeature) => Point): PointSet[] {
  const groups = new Map<string, Point[]>();
  for (const f of features) {
    const key = String(f.category);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(point(f));
  }
  return [...groups].map(([category, data]) => {
    const style = CATEGORY_STYLE[category] ?? OTHER_CATEGORY;
    return { label: category, data, backgroundColor: style.color, borderColor: style.color, pointStyle: style.point };
  });
}
