/** The shown layer's trust facts: SAE self-check, inside/outside-the-dictionary split, noise floor. Nothing for older reports. */
import type { LayerReport } from '../src/engine/report/types';
import { decompositionText, noiseFloorText, selfCheckText } from '../src/shared/reportTrust';
import { h } from './dom';

export function renderLayerTrust(layer: LayerReport | undefined): HTMLElement | null {
  if (!layer) return null;
  const rows = [
    row('SAE self-check', selfCheckText(layer), 'self-check', layer.self_check ? (layer.self_check.ok ? 'ok' : 'failed') : undefined),
    row('Decomposition', decompositionText(layer), 'decomposition'),
    row('Noise floor', noiseFloorText(layer), 'noise-floor', layer.within_noise_floor ? 'within' : undefined),
  ].filter((r): r is HTMLElement => r !== null);
  if (rows.length === 0) return null;
  return h('table', { class: 'layer-trust', attrs: { 'aria-label': `Layer ${layer.layer}: how far to trust it`, 'data-testid': 'layer-trust' } },
    h('caption', {}, `Layer ${layer.layer}: how far to trust it`),
    h('tbody', {}, ...rows));
}

function row(name: string, text: string | undefined, key: string, status?: string): HTMLElement | null {
  if (text === undefined) return null;
  return h('tr', { class: status ? `trust-${status}` : '', attrs: { 'data-trust': key } },
    h('th', { attrs: { scope: 'row' } }, name),
    h('td', {}, status === 'failed' ? '✗ ' : status === 'ok' ? '✓ ' : '', text));
}
