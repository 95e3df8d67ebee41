/**
 * The layer profile as a standalone SVG figure for papers and slides: one small panel per metric
 * (Okabe-Ito colour and dash per fine-tune), the configured threshold dashed, flagged layers marked,
 * a title with the model names, on a light background. Pure string building (every text escaped), so the
 * extension, the CLI and tests share it. No DOM or vscode imports.
 */
import type { SaeDiffReport } from './reportTypes';
import { LAYER_METRICS } from './layerMetrics';
import { reportThresholds } from './reportFindings';

const COLORS = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#D55E00', '#56B4E9', '#8a7d00', '#000000'];
const DASHES = ['', '8 4', '2 3', '12 3 2 3'];

/** One panel per layer metric of the registry (layerMetrics.ts). */
export const SVG_METRICS = LAYER_METRICS;

const PANEL_W = 300,
  PANEL_H = 190,
  COLS = 4,
  MARGIN = { left: 44, right: 12, top: 26, bottom: 30 };

export function escapeXml(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

export function layerProfileSvg(report: SaeDiffReport): string {
  const thresholds = reportThresholds(report);
  const layers = [...new Set(report.comparisons.flatMap((c) => c.layers.map((l) => l.layer)))].sort((a, b) => a - b);
  const rows = Math.ceil(SVG_METRICS.length / COLS);
  const legendH = 22 * report.comparisons.length;
  const width = COLS * PANEL_W + 20,
    height = 56 + rows * PANEL_H + legendH + 20;
  const title = `SAE Diff layer profile: ${report.base.name} → ${report.comparisons.map((c) => c.sft.name).join(', ') || '(no fine-tune)'}`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold" fill="#111">${escapeXml(title)}</text>`,
    `<text x="10" y="40" fill="#444">${escapeXml(`${report.run.tokens} tokens · ${report.run.hook_point ?? 'resid_post'} · flagged layers: filled markers`)}</text>`,
  ];
  SVG_METRICS.forEach((metric, m) => {
    const x0 = 10 + (m % COLS) * PANEL_W,
      y0 = 50 + Math.floor(m / COLS) * PANEL_H;
    const values = report.comparisons.flatMap((c) => c.layers.map(metric.value)).filter(Number.isFinite);
    const threshold = metric.threshold ? thresholds[metric.threshold.key] : undefined;
    let lo = Math.min(0, ...values, threshold ?? 0),
      hi = Math.max(...values, threshold ?? 0, lo + 1e-9);
    if (metric.key !== 'coverage_drop' && hi <= 1 && lo >= 0) hi = 1;
    const pad = (hi - lo) * 0.05;
    lo -= lo < 0 ? pad : 0;
    hi += pad;
    const plotW = PANEL_W - MARGIN.left - MARGIN.right,
      plotH = PANEL_H - MARGIN.top - MARGIN.bottom;
    const px = (i: number) => x0 + MARGIN.left + (layers.length <= 1 ? plotW / 2 : (i * plotW) / (layers.length - 1));
    const py = (v: number) => y0 + MARGIN.top + plotH - ((v - lo) / (hi - lo)) * plotH;
    out.push(
      `<g data-metric="${metric.key}">`,
      `<text x="${x0 + MARGIN.left}" y="${y0 + 16}" font-weight="bold" fill="#111">${escapeXml(metric.label)}</text>`,
      `<rect x="${x0 + MARGIN.left}" y="${y0 + MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#bbb"/>`,
    );
    for (const tick of [lo, (lo + hi) / 2, hi])
      out.push(`<text x="${x0 + MARGIN.left - 4}" y="${py(tick) + 3}" text-anchor="end" fill="#555">${fmt(tick)}</text>`);
    layers.forEach((layer, i) =>
      out.push(`<text x="${px(i)}" y="${y0 + PANEL_H - MARGIN.bottom + 14}" text-anchor="middle" fill="#555">L${layer}</text>`),
    );
    if (threshold !== undefined) {
      out.push(
        `<line x1="${x0 + MARGIN.left}" x2="${x0 + MARGIN.left + plotW}" y1="${py(threshold)}" y2="${py(threshold)}" stroke="#888" stroke-dasharray="5 3"/>`,
        `<text x="${x0 + MARGIN.left + plotW - 2}" y="${py(threshold) - 3}" text-anchor="end" fill="#666" font-size="9">threshold ${fmt(threshold)}</text>`,
      );
    }
    report.comparisons.forEach((comparison, c) => {
      const color = COLORS[c % COLORS.length];
      const points = layers
        .map((layer, i) => ({ i, l: comparison.layers.find((x) => x.layer === layer) }))
        .filter((p) => p.l && Number.isFinite(metric.value(p.l)));
      out.push(
        `<polyline data-sft="${escapeXml(comparison.sft.name)}" fill="none" stroke="${color}" stroke-width="2"${DASHES[c % DASHES.length] ? ` stroke-dasharray="${DASHES[c % DASHES.length]}"` : ''} points="${points.map((p) => `${px(p.i).toFixed(1)},${py(metric.value(p.l!)).toFixed(1)}`).join(' ')}"/>`,
      );
      for (const p of points) {
        const flagged = p.l!.flags.length > 0;
        out.push(
          `<circle cx="${px(p.i).toFixed(1)}" cy="${py(metric.value(p.l!)).toFixed(1)}" r="${flagged ? 4 : 2.5}" fill="${flagged ? color : '#fff'}" stroke="${color}"><title>${escapeXml(`${comparison.sft.name}, layer ${p.l!.layer}: ${metric.value(p.l!)}${flagged ? ` (flags: ${p.l!.flags.join(', ')})` : ''}`)}</title></circle>`,
        );
      }
    });
    out.push('</g>');
  });
  const legendY = 50 + rows * PANEL_H + 6;
  report.comparisons.forEach((comparison, c) => {
    const y = legendY + 22 * c;
    out.push(
      `<line x1="14" x2="44" y1="${y}" y2="${y}" stroke="${COLORS[c % COLORS.length]}" stroke-width="2"${DASHES[c % DASHES.length] ? ` stroke-dasharray="${DASHES[c % DASHES.length]}"` : ''}/>`,
      `<text x="50" y="${y + 4}" fill="#111">${escapeXml(comparison.sft.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}
