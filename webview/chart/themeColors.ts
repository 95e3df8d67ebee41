/** Chart colours from the VS Code theme's CSS variables, so the chart follows light, dark and high contrast. */
import { LAYER_METRICS } from '../../src/shared/layerMetrics';

export interface ChartTheme {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  flagBand: string;
  selectedBand: string;
  highContrast: boolean;
  series: Record<string, string>;
}

export function readChartTheme(): ChartTheme {
  const style = getComputedStyle(document.documentElement);
  const read = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  const highContrast =
    document.body.classList.contains('vscode-high-contrast') || document.body.classList.contains('vscode-high-contrast-light');
  const foreground = read('--vscode-charts-foreground', read('--vscode-foreground', '#cccccc'));
  const series: Record<string, string> = {};
  const light = document.body.classList.contains('vscode-light') || document.body.classList.contains('vscode-high-contrast-light');
  // Okabe-Ito colours per metric, [light, dark], from the registry (src/shared/layerMetrics.ts)
  for (const {
    key,
    color: [onLight, onDark],
  } of LAYER_METRICS)
    series[key] = light ? onLight : onDark;
  series.fraction_inside = foreground;
  const flagColor = read('--vscode-charts-red', '#f14c4c');
  const focus = read('--vscode-focusBorder', '#007fd4');
  return {
    foreground,
    muted: read('--vscode-descriptionForeground', foreground),
    grid: read('--vscode-charts-lines', 'rgba(128, 128, 128, 0.3)'),
    background: read('--vscode-editor-background', '#1e1e1e'),
    flagBand: withAlpha(flagColor, highContrast ? 0.25 : 0.1),
    selectedBand: withAlpha(focus, highContrast ? 0.35 : 0.18),
    highContrast,
    series,
  };
}

/** Translucent version of a CSS colour (hex or rgb()); others are returned unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const hex = color.match(/^#([0-9a-f]{3}|[0-9a-f]{6})([0-9a-f]{2})?$/i);
  if (hex) {
    const digits =
      hex[1].length === 3
        ? hex[1]
            .split('')
            .map((d) => d + d)
            .join('')
        : hex[1];
    const [r, g, b] = [0, 2, 4].map((i) => parseInt(digits.slice(i, i + 2), 16));
    return `rgba(${r}, ${g}, ${b}, ${alpha})`;
  }
  const rgb = color.match(/^rgba?\(([^,]+),([^,]+),([^,)]+)/);
  return rgb ? `rgba(${rgb[1].trim()}, ${rgb[2].trim()}, ${rgb[3].trim()}, ${alpha})` : color;
}
