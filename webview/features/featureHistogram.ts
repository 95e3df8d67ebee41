/**
 * The feature page's activation histograms (report version 3): one inline SVG over the layer's octave bins,
 * base as filled bars in the theme's foreground, each fine-tune as outlined bars in its series colour (the
 * layer chart's) with its own dash, so the overlay reads without colour. Only the bins from the first to the
 * last non-empty one are drawn. Each bar carries its count (title on hover, data-count for tests).
 */
import type { FeatureHistograms, HistogramSeries } from '../../src/shared/featureHistograms';
import { tooltip } from '../../src/shared/glossary';
import { SERIES_COLORS } from '../chart/palette';
import { h } from '../dom';
import { formatStat } from '../format';

const SVG_NS = 'http://www.w3.org/2000/svg';
const DASHES = ['', '6 3', '2 2', '8 3 2 3'];
const W = 560,
  H = 190,
  M = { left: 52, right: 10, top: 10, bottom: 40 };

function svg(tag: string, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElement {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

/** An edge as written exactly: the octaves below 1 as fractions (1/8), the others as numbers. */
export function edgeLabel(e: number): string {
  const inverse = 1 / e;
  return e < 1 && Number.isInteger(inverse) ? `1/${inverse}` : formatStat(e);
}

/** The range of bin j: (0, e0], (e(j-1), e(j)], or above the last edge. */
export function binLabel(edges: number[], j: number): string {
  if (j === 0) return `(0, ${edgeLabel(edges[0])}]`;
  if (j >= edges.length) return `> ${edgeLabel(edges[edges.length - 1])}`;
  return `(${edgeLabel(edges[j - 1])}, ${edgeLabel(edges[j])}]`;
}

const seriesColor = (s: HistogramSeries) =>
  s.role === 'base' ? 'currentColor' : SERIES_COLORS[(s.comparison ?? 0) % SERIES_COLORS.length];
const seriesLabel = (s: HistogramSeries) => (s.role === 'base' ? `Base: ${s.name}` : `Fine-tune: ${s.name}`);

export function renderFeatureHistogram(featureId: number, histograms: FeatureHistograms | undefined): HTMLElement | null {
  if (!histograms) return null;
  const { edges, series } = histograms;
  const bins = edges.length + 1;
  const used = Array.from({ length: bins }, (_, j) => j).filter((j) => series.some((s) => (s.counts[j] ?? 0) > 0));
  const totals = series.map((s) => s.counts.reduce((a, b) => a + b, 0));
  const legend = h(
    'ul',
    { class: 'histogram-legend' },
    ...series.map((s, i) => {
      const swatch = h('span', { class: `swatch swatch-${s.role}`, attrs: { 'aria-hidden': 'true' } });
      swatch.style.setProperty('--swatch', seriesColor(s));
      return h('li', { attrs: { 'data-series': i } }, swatch, `${seriesLabel(s)}: fires ${totals[i]} times`);
    }),
  );
  const figure = h(
    'figure',
    {
      class: 'feature-histogram',
      attrs: { 'data-testid': 'activation-histogram', title: tooltip('feature detail', 'activation_histogram') },
    },
    h('figcaption', {}, 'Activation when firing (octave bins, counts of tokens)'),
  );
  if (used.length === 0) {
    figure.append(h('p', { class: 'empty' }, 'The feature does not fire in any model on these prompts.'), legend);
    return figure;
  }
  const first = used[0],
    last = used[used.length - 1],
    shown = last - first + 1;
  const max = Math.max(1, ...series.flatMap((s) => s.counts.slice(first, last + 1)));
  const plotW = W - M.left - M.right,
    plotH = H - M.top - M.bottom,
    bw = plotW / shown;
  const x = (j: number) => M.left + (j - first) * bw;
  const y = (count: number) => M.top + plotH - (count / max) * plotH;
  const summary = series.map((s, i) => `${seriesLabel(s)} fires ${totals[i]} times`).join('; ');
  const chart = svg(
    'svg',
    {
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': `Activation histogram of feature ${featureId}: ${summary}`,
      class: 'histogram-svg',
    },
    svg('title', {}, `Activation histogram of feature ${featureId}`),
  );
  // axes: the count scale on the left, bin edges below
  for (const tick of [0, max / 2, max]) {
    chart.append(
      svg('line', { x1: M.left, x2: W - M.right, y1: y(tick), y2: y(tick), class: 'histogram-grid' }),
      svg('text', { x: M.left - 4, y: y(tick) + 3, 'text-anchor': 'end', class: 'histogram-tick' }, formatStat(Math.round(tick))),
    );
  }
  const step = Math.ceil(shown / 10);
  for (let j = first; j <= last + 1 && j <= edges.length; j++) {
    if (j === 0 || (j - first) % step !== 0) continue;
    chart.append(svg('text', { x: x(j), y: H - M.bottom + 14, 'text-anchor': 'middle', class: 'histogram-tick' }, edgeLabel(edges[j - 1])));
  }
  chart.append(
    svg(
      'text',
      { x: M.left + plotW / 2, y: H - 6, 'text-anchor': 'middle', class: 'histogram-axis' },
      'activation when firing (bin edges, octaves)',
    ),
  );
  series.forEach((s, si) => {
    const group = svg('g', { class: `histogram-series histogram-${s.role}`, 'data-series': si, 'data-name': s.name });
    for (let j = first; j <= last; j++) {
      const count = s.counts[j] ?? 0;
      const attrs: Record<string, string | number> = {
        x: x(j) + 1,
        y: y(count),
        width: Math.max(1, bw - 2),
        height: M.top + plotH - y(count),
        'data-bin': j,
        'data-count': count,
      };
      if (s.role === 'sft')
        Object.assign(attrs, { stroke: seriesColor(s), 'stroke-dasharray': DASHES[(s.comparison ?? 0) % DASHES.length] });
      group.append(svg('rect', attrs, svg('title', {}, `${seriesLabel(s)}: ${count} in ${binLabel(edges, j)}`)));
    }
    chart.append(group);
  });
  figure.append(chart, legend);
  return figure;
}
