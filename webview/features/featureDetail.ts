/** A selected feature's statistics and its top activating contexts in base and in the fine-tune. */
import type { ActivatingContext, ShiftedFeature } from '../../src/engine/report/types';
import { h } from '../dom';
import { formatStat } from '../format';
import { renderFeatureTrust } from './featureTrust';

export function renderFeatureDetail(feature: ShiftedFeature | undefined, sftName: string, baseName: string, fdr?: number): HTMLElement {
  if (!feature) {
    return h('section', { class: 'feature-detail empty', attrs: { 'aria-label': 'Feature detail' } }, 'Select a feature (click, or focus a row and press Enter) to see where it fires.');
  }
  const contexts = feature.contexts ?? { base: [], sft: [] };
  // One scale for both columns, so bar lengths compare across models.
  const maxActivation = Math.max(1e-12, ...contexts.base.map((c) => c.activation), ...contexts.sft.map((c) => c.activation));
  return h(
    'section',
    { class: 'feature-detail', attrs: { 'aria-label': `Feature ${feature.id} detail`, 'data-feature-id': feature.id } },
    h('h3', {}, `Feature ${feature.id}`, feature.label ? h('span', { class: 'feature-label' }, ` — ${feature.label}`) : null, ' ',
      h('span', { class: `category category-${feature.category}` }, feature.category)),
    h('p', { class: 'feature-stats' },
      `fires on ${formatStat(feature.freq_base * 100)}% → ${formatStat(feature.freq_sft * 100)}% of tokens; `,
      `mean activation ${formatStat(feature.mean_base)} → ${formatStat(feature.mean_sft)}; mean |Δ| ${formatStat(feature.mean_abs_diff)}`),
    renderFeatureTrust(feature, fdr),
    h('div', { class: 'context-columns' },
      contextColumn(`Base: ${baseName}`, 'base', contexts.base, maxActivation),
      contextColumn(`Fine-tune: ${sftName}`, 'sft', contexts.sft, maxActivation)),
  );
}

function contextColumn(title: string, side: 'base' | 'sft', contexts: ActivatingContext[], maxActivation: number): HTMLElement {
  return h(
    'div',
    { class: 'context-column', attrs: { 'data-side': side } },
    h('h4', {}, title),
    contexts.length === 0
      ? h('p', { class: 'empty' }, noContextsText(side))
      : h('ol', { class: 'contexts' }, ...contexts.map((context) => contextItem(context, maxActivation))),
  );
}

function noContextsText(side: 'base' | 'sft'): string {
  return side === 'base' ? 'No activating context in base (or none recorded).' : 'No activating context in the fine-tune (or none recorded).';
}

function contextItem(context: ActivatingContext, maxActivation: number): HTMLElement {
  const bar = h('span', { class: 'activation-bar' });
  // CSSOM writes are allowed under the CSP (only inline style attributes are not).
  bar.style.width = `${Math.max(2, (100 * context.activation) / maxActivation)}%`;
  return h(
    'li',
    { class: 'context' },
    h('div', { class: 'context-meta' },
      h('span', { class: 'activation', attrs: { title: String(context.activation) } }, formatStat(context.activation)),
      h('span', { class: 'activation-track' }, bar),
      h('span', { class: 'position' }, `sample ${context.sample}, token ${context.position}`)),
    h('div', { class: 'context-text' },
      h('span', { class: 'before' }, visibleWhitespace(context.before)),
      h('mark', { class: 'token', attrs: { title: `activation ${context.activation}` } }, visibleWhitespace(context.token) || '∅'),
      h('span', { class: 'after' }, visibleWhitespace(context.after))),
  );
}

/** Newlines and tabs would vanish or break the layout; show them as symbols. */
function visibleWhitespace(text: string): string {
  return text.replace(/\r?\n/g, '↵').replace(/\t/g, '⇥');
}
