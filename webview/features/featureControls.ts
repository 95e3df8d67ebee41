/** Layer and fine-tune selectors, category and text filters, and the layer's category counts. */
import type { FeatureCategory, LayerReport, SaeDiffReport } from '../../src/shared/reportTypes';
import { h } from '../dom';
import { dropdown } from '../toolkit';
import type { ViewState } from '../viewState';

export const CATEGORIES: FeatureCategory[] = ['emerged', 'vanished', 'amplified', 'suppressed'];

export interface ControlsInput {
  report: SaeDiffReport;
  layer: LayerReport | undefined;
  state: ViewState;
  /** The report carries significance: offer the "significant only" filter. */
  significance?: boolean;
  change(change: Partial<ViewState>): void;
}

export function renderFeatureControls({ report, layer, state, significance, change }: ControlsInput): HTMLElement {
  const comparison = report.comparisons[state.comparison];
  const controls = h('div', { class: 'controls' });

  if (report.comparisons.length > 1) {
    controls.appendChild(
      labelled(
        'Fine-tune',
        dropdown(
          'Fine-tune',
          report.comparisons.map((c, i) => ({ value: String(i), text: c.sft.name })),
          String(state.comparison),
          (value) => change({ comparison: Number(value), selectedFeature: undefined }),
        ),
      ),
    );
  }
  controls.appendChild(
    labelled(
      'Layer',
      dropdown(
        'Layer',
        (comparison?.layers ?? []).map((l) => ({ value: String(l.layer), text: layerOptionText(l) })),
        String(state.layer),
        (value) => change({ layer: Number(value), selectedFeature: undefined }),
      ),
    ),
  );
  controls.appendChild(
    labelled(
      'Category',
      dropdown(
        'Category filter',
        [{ value: 'all', text: 'All categories' }, ...CATEGORIES.map((category) => ({ value: category, text: category }))],
        state.categoryFilter,
        (value) => change({ categoryFilter: value }),
      ),
    ),
  );

  const search = document.createElement('vscode-text-field') as HTMLElement & { value: string };
  search.setAttribute('placeholder', 'Label or ID');
  search.setAttribute('aria-label', 'Filter features by label or ID');
  search.className = 'text-filter';
  search.setAttribute('value', state.textFilter);
  search.addEventListener('input', () => change({ textFilter: search.value }));
  controls.appendChild(labelled('Filter', search));
  if (significance) controls.appendChild(significantOnlyBox(state, change, report.run.fdr));

  return h('div', { class: 'feature-controls' }, controls, layer ? categoryCounts(layer) : null);
}

function significantOnlyBox(state: ViewState, change: ControlsInput['change'], fdr: number | undefined): HTMLElement {
  const box = h(
    'vscode-checkbox',
    {
      class: 'significant-only',
      attrs: {
        checked: state.significantOnly === true,
        title: `Only features that pass Benjamini-Hochberg${fdr !== undefined ? ` at FDR ${fdr}` : ''}`,
      },
    },
    'Significant only',
  );
  box.addEventListener('change', () => change({ significantOnly: (box as HTMLElement & { checked: boolean }).checked }));
  return box;
}

function layerOptionText(layer: LayerReport): string {
  return `Layer ${layer.layer}${layer.flags.length ? ` · ${layer.flags.join(', ')}` : ''}`;
}

function labelled(text: string, control: HTMLElement): HTMLElement {
  return h('label', { class: 'control' }, h('span', { class: 'control-label' }, text), control);
}

/** Counts are over all features of the layer; the table lists only the top ones. */
function categoryCounts(layer: LayerReport): HTMLElement {
  const counts = layer.category_counts ?? countListed(layer);
  const total = layer.shifted_count ?? layer.shifted_features.length;
  return h(
    'p',
    { class: 'category-counts', attrs: { 'data-testid': 'category-counts' } },
    `${total} shifted feature${total === 1 ? '' : 's'} at layer ${layer.layer}`,
    layer.shifted_features.length < total ? `, top ${layer.shifted_features.length} listed` : '',
    ': ',
    ...CATEGORIES.flatMap((category, index) => [
      index > 0 ? ' · ' : null,
      h('span', { class: `category category-${category}` }, category),
      ' ',
      // A plain span: the toolkit's vscode-badge sets an inline style attribute, which the CSP blocks.
      h('span', { class: 'count-badge', attrs: { 'data-category': category } }, counts[category] ?? 0),
      layer.significant_counts
        ? h(
            'span',
            { class: 'sig-count', attrs: { 'data-category': category, title: 'of which significant (Benjamini-Hochberg)' } },
            ` (${layer.significant_counts[category] ?? 0} sig.)`,
          )
        : null,
    ]),
  );
}

function countListed(layer: LayerReport): Record<FeatureCategory, number> {
  const counts: Record<FeatureCategory, number> = { emerged: 0, vanished: 0, amplified: 0, suppressed: 0 };
  for (const feature of layer.shifted_features) counts[feature.category]++;
  return counts;
}
