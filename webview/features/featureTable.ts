/**
 * The shifted-feature table: sortable headers, keyboard-focusable rows, and rows rendered a page at a
 * time ("Show more") so layers with thousands of features stay responsive.
 */
import type { ShiftedFeature } from '../../src/engine/report/types';
import type { FeatureColumn } from '../../src/shared/reportMessages';
import { h, replaceChildren } from '../dom';
import { formatStat } from '../format';
import type { RowQuery } from './featureRows';

export const PAGE_SIZE = 200;

const COLUMNS: { key: FeatureColumn; title: string; numeric: boolean; description: string }[] = [
  { key: 'id', title: 'ID', numeric: true, description: 'SAE feature index' },
  { key: 'label', title: 'Label', numeric: false, description: 'Feature label, if the SAE has labels' },
  { key: 'category', title: 'Category', numeric: false, description: 'emerged, vanished, amplified or suppressed' },
  // Shown only for reports with significance (run.fdr); see visibleColumns.
  { key: 'significant', title: 'sig.', numeric: false, description: 'Significant after Benjamini-Hochberg at the run\'s false discovery rate (✓) or not (–)' },
  { key: 'freq_base', title: 'Freq base', numeric: true, description: 'Fraction of tokens where the feature fires in base' },
  { key: 'freq_sft', title: 'Freq SFT', numeric: true, description: 'Fraction of tokens where the feature fires in the fine-tune' },
  { key: 'mean_base', title: 'Mean base', numeric: true, description: 'Mean activation in base (zeros included)' },
  { key: 'mean_sft', title: 'Mean SFT', numeric: true, description: 'Mean activation in the fine-tune (zeros included)' },
  { key: 'mean_abs_diff', title: 'Mean |Δ|', numeric: true, description: 'Mean absolute activation difference per token' },
];

export interface FeatureTableInput {
  rows: ShiftedFeature[];
  /** How many features the layer lists before filtering, for the "n of m" line. */
  total: number;
  sort: RowQuery['sort'];
  selectedFeature: number | undefined;
  /** The report carries significance: show the sig. column. */
  showSignificance: boolean;
  onSort(column: FeatureColumn): void;
  onSelect(feature: ShiftedFeature): void;
}

export function renderFeatureTable(input: FeatureTableInput): HTMLElement {
  const body = h('tbody');
  const status = h('p', { class: 'table-status', attrs: { role: 'status' } });
  const more = h('vscode-button', { attrs: { appearance: 'secondary' }, class: 'show-more' });
  let shown = 0;

  const showNextPage = () => {
    const next = input.rows.slice(shown, shown + PAGE_SIZE);
    for (const feature of next) body.appendChild(featureRow(feature, input));
    shown += next.length;
    const rest = input.rows.length - shown;
    replaceChildren(status, `${input.rows.length} of ${input.total} features${shown < input.rows.length ? ` (showing ${shown})` : ''}`);
    replaceChildren(more, `Show ${Math.min(PAGE_SIZE, rest)} more`);
    more.hidden = rest <= 0;
  };
  more.addEventListener('click', () => {
    const focusIndex = shown;
    showNextPage();
    (body.children[focusIndex] as HTMLElement | undefined)?.focus();
  });
  showNextPage();

  const table = h(
    'table',
    { class: 'feature-table', attrs: { 'aria-label': 'Shifted features' } },
    h('thead', {}, h('tr', {}, ...visibleColumns(input).map((column) => headerCell(column, input)))),
    body,
  );
  body.addEventListener('keydown', (event) => moveFocus(event, body));
  const empty = input.rows.length === 0 ? h('p', { class: 'empty' }, input.total === 0 ? 'This layer has no shifted features.' : 'No feature matches the filter.') : null;
  return h('div', { class: 'feature-table-wrap' }, status, h('div', { class: 'table-scroll' }, table), empty, more);
}

function visibleColumns(input: FeatureTableInput): typeof COLUMNS {
  return input.showSignificance ? COLUMNS : COLUMNS.filter((column) => column.key !== 'significant');
}

function headerCell(column: (typeof COLUMNS)[number], input: FeatureTableInput): HTMLElement {
  const active = input.sort.column === column.key;
  const arrow = active ? (input.sort.descending ? ' ▼' : ' ▲') : '';
  return h(
    'th',
    {
      class: column.numeric ? 'numeric' : '',
      attrs: { scope: 'col', 'aria-sort': active ? (input.sort.descending ? 'descending' : 'ascending') : 'none', 'data-column': column.key },
    },
    h('button', { class: 'sort-button', attrs: { type: 'button', title: `${column.description}. Sort by ${column.title}.` }, on: { click: () => input.onSort(column.key) } }, column.title + arrow),
  );
}

function featureRow(feature: ShiftedFeature, input: FeatureTableInput): HTMLElement {
  const selected = feature.id === input.selectedFeature;
  const select = () => input.onSelect(feature);
  return h(
    'tr',
    {
      class: selected ? 'selected' : '',
      attrs: { tabindex: 0, 'aria-selected': selected ? 'true' : 'false', 'data-feature-id': feature.id, title: 'Enter: show top activating contexts' },
      on: {
        click: select,
        keydown: (event: KeyboardEvent) => {
          if (event.key === 'Enter' || event.key === ' ') {
            event.preventDefault();
            select();
          }
        },
      },
    },
    h('td', { class: 'numeric' }, feature.id),
    h('td', { class: 'label' }, feature.label ?? ''),
    h('td', {}, h('span', { class: `category category-${feature.category}` }, feature.category), feature.near_threshold ? nearThresholdMarker() : null),
    input.showSignificance ? significanceCell(feature) : null,
    ...(['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'] as const).map((key) =>
      h('td', { class: 'numeric', attrs: { title: String(feature[key]) } }, formatStat(feature[key])),
    ),
  );
}

function significanceCell(feature: ShiftedFeature): HTMLElement {
  const title = feature.q_value !== undefined ? `q = ${feature.q_value}` : feature.significant === undefined ? 'not tested' : undefined;
  const text = feature.significant === undefined ? '' : feature.significant ? '✓' : '–';
  return h('td', { class: `sig sig-${feature.significant === undefined ? 'unknown' : feature.significant}`, attrs: { title, 'data-column': 'significant' } }, text);
}

function nearThresholdMarker(): HTMLElement {
  const text = 'Near threshold: the shift is within the activation threshold\'s margin (JumpReLU / TopK), so the category is likely an artefact';
  return h('span', { class: 'near-threshold', attrs: { title: text, 'aria-label': text, 'data-testid': 'near-threshold' } }, ' ⚠');
}

/** Arrow keys, Home and End move between rows, like a list. */
function moveFocus(event: KeyboardEvent, body: HTMLElement): void {
  const rows = Array.from(body.children) as HTMLElement[];
  const index = rows.indexOf(document.activeElement as HTMLElement);
  if (index < 0) return;
  const target = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: rows.length - 1 }[event.key];
  if (target === undefined || !rows[target]) return;
  event.preventDefault();
  rows[target].focus();
}
