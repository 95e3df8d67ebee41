/**
 * The feature page: statistics, trust figures, activation histograms (version 3), logit effects, and the top activating contexts in base and
 * in the fine-tune as token heat maps (version 2: each token shaded by the feature's activation there), each
 * with its prompt on demand. Version-1 contexts (text before, token, text after) are shown as they were.
 */
import type { ActivatingContext, LogitEffectEntry, ShiftedFeature } from '../../src/shared/reportTypes';
import { tooltip } from '../../src/shared/glossary';
import { h } from '../dom';
import { formatStat } from '../format';
import type { FeatureHistograms } from '../../src/shared/featureHistograms';
import { renderFeatureHistogram } from './featureHistogram';
import { renderFeatureTrust } from './featureTrust';

export interface DetailContext {
  sftName: string;
  baseName: string;
  fdr?: number;
  /** The prompts the contexts come from (report.prompts). */
  prompts?: Record<string, string>;
}

export function renderFeatureDetail(
  feature: ShiftedFeature | undefined,
  sftName: string,
  baseName: string,
  fdr?: number,
  prompts?: Record<string, string>,
  histograms?: FeatureHistograms,
): HTMLElement {
  if (!feature) {
    return h(
      'section',
      { class: 'feature-detail empty', attrs: { 'aria-label': 'Feature detail' } },
      'Select a feature (click a row or a point, or focus a row and press Enter) to see where it fires.',
    );
  }
  const contexts = feature.contexts ?? { base: [], sft: [] };
  // One scale for both columns, so bar lengths and shades compare across models.
  const maxActivation = Math.max(1e-12, ...[...contexts.base, ...contexts.sft].flatMap((c) => [c.activation, ...(c.activations ?? [])]));
  return h(
    'section',
    { class: 'feature-detail', attrs: { 'aria-label': `Feature ${feature.id} detail`, 'data-feature-id': feature.id } },
    h(
      'h3',
      {},
      `Feature ${feature.id}`,
      feature.label ? h('span', { class: 'feature-label' }, ` — ${feature.label}`) : null,
      ' ',
      h(
        'span',
        {
          class: `category category-${String(feature.category).replace(/[^a-z]/gi, '_')}`,
          attrs: { title: tooltip('feature category', feature.category) },
        },
        feature.category,
      ),
    ),
    h(
      'p',
      { class: 'feature-stats' },
      `fires on ${formatStat(feature.freq_base * 100)}% → ${formatStat(feature.freq_sft * 100)}% of tokens; `,
      `mean activation ${formatStat(feature.mean_base)} → ${formatStat(feature.mean_sft)}; mean |Δ| ${formatStat(feature.mean_abs_diff)}`,
    ),
    neuronpediaLink(feature.neuronpedia_url),
    renderFeatureTrust(feature, fdr),
    renderFeatureHistogram(feature.id, histograms),
    feature.logit_effects ? logitEffects(feature.logit_effects) : null,
    h(
      'div',
      { class: 'context-columns' },
      contextColumn(`Base: ${baseName}`, 'base', contexts.base, maxActivation, prompts),
      contextColumn(`Fine-tune: ${sftName}`, 'sft', contexts.sft, maxActivation, prompts),
    ),
  );
}

/** Only https://www.neuronpedia.org/ links become anchors; anything else in the file is shown as text. */
function neuronpediaLink(url: string | undefined): HTMLElement | null {
  if (!url) return null;
  const safe = /^https:\/\/www\.neuronpedia\.org\/[\w./-]+$/.test(url);
  return h(
    'p',
    { class: 'neuronpedia' },
    safe ? h('a', { attrs: { href: url, 'data-testid': 'neuronpedia' } }, 'Open on Neuronpedia') : `Neuronpedia: ${url}`,
  );
}

function logitEffects(effects: { promoted: LogitEffectEntry[]; suppressed: LogitEffectEntry[] }): HTMLElement {
  const list = (title: string, side: string, entries: LogitEffectEntry[]) =>
    h(
      'div',
      { class: 'logit-list', attrs: { 'data-side': side } },
      h('h4', {}, title),
      h(
        'ol',
        {},
        ...entries.map((e) =>
          h(
            'li',
            { attrs: { title: `token id ${e.id}: ${e.value}` } },
            h('code', { class: 'logit-token' }, visibleWhitespace(e.token) || '∅'),
            ' ',
            h('span', { class: 'logit-value' }, formatStat(e.value)),
          ),
        ),
      ),
    );
  return h(
    'div',
    { class: 'logit-effects', attrs: { 'data-testid': 'logit-effects', title: tooltip('feature detail', 'logit_effects') } },
    list('Promotes', 'promoted', effects.promoted),
    list('Suppresses', 'suppressed', effects.suppressed),
  );
}

function contextColumn(
  title: string,
  side: 'base' | 'sft',
  contexts: ActivatingContext[],
  maxActivation: number,
  prompts: Record<string, string> | undefined,
): HTMLElement {
  return h(
    'div',
    { class: 'context-column', attrs: { 'data-side': side } },
    h('h4', {}, title),
    contexts.length === 0
      ? h('p', { class: 'empty' }, noContextsText(side))
      : h(
          'ol',
          { class: 'contexts' },
          ...contexts
            .filter((c) => c.duplicate_of === undefined)
            .map((context) => contextItem(context, maxActivation, prompts, similar(contexts, context))),
        ),
  );
}

/** How many other contexts of the list have the same near text as this one. */
function similar(contexts: ActivatingContext[], context: ActivatingContext): number {
  const index = contexts.indexOf(context);
  return contexts.filter((c) => c.duplicate_of === index).length;
}

function noContextsText(side: 'base' | 'sft'): string {
  return side === 'base'
    ? 'No activating context in base (or none recorded).'
    : 'No activating context in the fine-tune (or none recorded).';
}

function contextItem(
  context: ActivatingContext,
  maxActivation: number,
  prompts: Record<string, string> | undefined,
  repeats = 0,
): HTMLElement {
  const bar = h('span', { class: 'activation-bar' });
  // CSSOM writes are allowed under the CSP (only inline style attributes are not).
  bar.style.width = `${Math.max(2, (100 * context.activation) / maxActivation)}%`;
  const prompt = prompts?.[String(context.sample)];
  return h(
    'li',
    { class: 'context' },
    h(
      'div',
      { class: 'context-meta' },
      h('span', { class: 'activation', attrs: { title: String(context.activation) } }, formatStat(context.activation)),
      h('span', { class: 'activation-track' }, bar),
      h(
        'span',
        { class: 'position' },
        `prompt ${context.sample}, token ${context.position}`,
        repeats > 0
          ? h(
              'span',
              { class: 'repeats', attrs: { 'data-testid': 'repeats' } },
              ` · same text in ${repeats} more prompt${repeats === 1 ? '' : 's'}`,
            )
          : null,
      ),
    ),
    context.tokens && context.activations
      ? heatMap(context, maxActivation)
      : h(
          'div',
          { class: 'context-text' },
          h('span', { class: 'before' }, visibleWhitespace(context.before)),
          h('mark', { class: 'token', attrs: { title: `activation ${context.activation}` } }, visibleWhitespace(context.token) || '∅'),
          h('span', { class: 'after' }, visibleWhitespace(context.after)),
        ),
    prompt !== undefined
      ? h(
          'details',
          { class: 'prompt', attrs: { 'data-sample': context.sample } },
          h('summary', {}, `Prompt ${context.sample}`),
          h('pre', { class: 'prompt-text' }, prompt),
        )
      : null,
  );
}

/** The window's tokens, each shaded by the feature's activation there; the firing token is marked. */
function heatMap(context: ActivatingContext, maxActivation: number): HTMLElement {
  return h(
    'div',
    { class: 'context-text heat-map' },
    ...context.tokens!.map((token, i) => {
      const activation = context.activations![i] ?? 0;
      const span = h(
        i === context.focus ? 'mark' : 'span',
        {
          class: i === context.focus ? 'token focus' : 'token-cell',
          attrs: { title: `activation ${activation}`, 'data-activation': activation },
        },
        visibleWhitespace(token) || '∅',
      );
      if (activation > 0) span.style.setProperty('--heat', String(Math.min(1, activation / maxActivation)));
      return span;
    }),
  );
}

/** Newlines and tabs would vanish or break the layout; show them as symbols. */
function visibleWhitespace(text: string): string {
  return String(text ?? '')
    .replace(/\r?\n/g, '↵')
    .replace(/\t/g, '⇥');
}
