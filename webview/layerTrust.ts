/** The shown layer's flags with the reason for each, and its trust facts: SAE self-check, inside/outside-the-dictionary split, noise floor. */
import type { LayerReport } from '../src/shared/reportTypes';
import { flagReasons } from '../src/shared/flagReasons';
import { glossaryEntry, tooltip } from '../src/shared/glossary';
import type { Thresholds } from '../src/shared/reportFindings';
import { decompositionText, noiseFloorText, selfCheckText } from '../src/shared/reportTrust';
import { h } from './dom';

export function renderLayerTrust(layer: LayerReport | undefined, thresholds: Thresholds): HTMLElement | null {
  if (!layer) return null;
  const rows = [
    flagsRow(layer, thresholds),
    row(
      'SAE self-check',
      selfCheckText(layer),
      'self-check',
      'self_check',
      layer.self_check ? (layer.self_check.ok ? 'ok' : 'failed') : undefined,
    ),
    row('Decomposition', decompositionText(layer), 'decomposition', 'fraction_inside'),
    row('Noise floor', noiseFloorText(layer), 'noise-floor', 'noise_floor', layer.within_noise_floor ? 'within' : undefined),
  ].filter((r): r is HTMLElement => r !== null);
  return h(
    'table',
    { class: 'layer-trust', attrs: { 'aria-label': `Layer ${layer.layer}: flags and how far to trust it`, 'data-testid': 'layer-trust' } },
    h('caption', {}, `Layer ${layer.layer}: flags and how far to trust it`),
    h('tbody', {}, ...rows),
  );
}

/** Each flag's rule applied to this layer: why it is raised or not. */
function flagsRow(layer: LayerReport, thresholds: Thresholds): HTMLElement {
  const reasons = flagReasons(layer, thresholds);
  return h(
    'tr',
    { attrs: { 'data-trust': 'flags' } },
    h('th', { attrs: { scope: 'row' } }, 'Flags'),
    h(
      'td',
      {},
      h(
        'ul',
        { class: 'flag-reasons' },
        ...reasons.map((reason) =>
          h(
            'li',
            {
              class: reason.raised ? 'flag-raised' : 'flag-clear',
              attrs: { 'data-flag': reason.flag, title: tooltip('layer flag', reason.flag) },
            },
            reason.raised ? '⚑ ' : '○ ',
            h('b', {}, glossaryEntry('layer flag', reason.flag)?.name ?? reason.flag),
            reason.raised ? ' raised: ' : ' not raised: ',
            reason.because,
          ),
        ),
      ),
    ),
  );
}

function row(name: string, text: string | undefined, key: string, glossaryKey: string, status?: string): HTMLElement | null {
  if (text === undefined) return null;
  return h(
    'tr',
    { class: status ? `trust-${status}` : '', attrs: { 'data-trust': key, title: tooltip('trust figure', glossaryKey) } },
    h('th', { attrs: { scope: 'row' } }, name),
    h('td', {}, status === 'failed' ? '✗ ' : status === 'ok' ? '✓ ' : '', text),
  );
}
