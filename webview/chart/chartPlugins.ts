/**
 * Canvas decorations Chart.js has no built-in for: a themed background (so the PNG export is not
 * transparent), bands and codes on flagged / selected layers, and dashed threshold lines.
 */
import type { Chart, Plugin } from 'chart.js';
import type { ChartTheme } from './themeColors';

export interface ThresholdLine {
  value: number;
  text: string;
  color: string;
}

export interface LayerBand {
  index: number;
  codes: string[];
  selected: boolean;
}

export interface ChartDecorations {
  theme: ChartTheme;
  thresholds: ThresholdLine[];
  bands: LayerBand[];
}

export function decorationPlugins(decorations: () => ChartDecorations): Plugin<'line'>[] {
  return [
    {
      id: 'saeBackground',
      beforeDraw(chart) {
        const { ctx, width, height } = chart;
        ctx.save();
        ctx.fillStyle = decorations().theme.background;
        ctx.fillRect(0, 0, width, height);
        ctx.restore();
      },
    },
    {
      id: 'saeLayerBands',
      beforeDatasetsDraw(chart) {
        drawBands(chart, decorations());
      },
    },
    {
      id: 'saeThresholds',
      afterDatasetsDraw(chart) {
        drawThresholds(chart, decorations());
      },
    },
  ];
}

function columnWidth(chart: Chart): number {
  const count = Math.max(1, chart.data.labels?.length ?? 1);
  return chart.chartArea.width / count;
}

function drawBands(chart: Chart, { theme, bands }: ChartDecorations): void {
  const { ctx, chartArea, scales } = chart;
  const width = columnWidth(chart);
  ctx.save();
  for (const band of bands) {
    const x = scales.x.getPixelForValue(band.index);
    if (band.selected || band.codes.length > 0) {
      ctx.fillStyle = band.selected ? theme.selectedBand : theme.flagBand;
      ctx.fillRect(x - width / 2, chartArea.top, width, chartArea.bottom - chartArea.top);
    }
    if (band.codes.length > 0) {
      ctx.fillStyle = theme.foreground;
      ctx.font = `${theme.highContrast ? 'bold ' : ''}10px sans-serif`;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'bottom';
      // One line per fine-tune, stacked upwards above the plot area (the chart's top padding makes room).
      band.codes.forEach((line, i) => ctx.fillText(line, x, chartArea.top - 3 - 12 * (band.codes.length - 1 - i), width));
    }
  }
  ctx.restore();
}

function drawThresholds(chart: Chart, { theme, thresholds }: ChartDecorations): void {
  const { ctx, chartArea, scales } = chart;
  // Thresholds that share a value share one line and one label.
  const byValue = new Map<number, ThresholdLine[]>();
  for (const line of thresholds) byValue.set(line.value, [...(byValue.get(line.value) ?? []), line]);
  ctx.save();
  // Labels are placed top to bottom, each at least one text line below the previous: close thresholds never overlap.
  let lastLabel = -Infinity;
  const placed = [...byValue]
    .map(([value, lines]) => ({ value, lines, y: scales.y.getPixelForValue(value) }))
    .filter(({ y }) => y >= chartArea.top && y <= chartArea.bottom)
    .sort((a, b) => a.y - b.y);
  for (const { value, lines, y } of placed) {
    ctx.setLineDash([6, 4]);
    ctx.lineWidth = theme.highContrast ? 2 : 1.25;
    ctx.strokeStyle = lines[0].color;
    ctx.beginPath();
    ctx.moveTo(chartArea.left, y);
    ctx.lineTo(chartArea.right, y);
    ctx.stroke();
    ctx.font = '10px sans-serif';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'bottom';
    ctx.fillStyle = theme.muted;
    const labelY = Math.max(y - 2, lastLabel + 12);
    lastLabel = labelY;
    ctx.fillText(`${lines.map((l) => l.text).join(' · ')} = ${value}`, chartArea.right - 4, labelY);
  }
  ctx.restore();
}
