/**
 * The shifted-feature table over every shifted feature of a layer: sortable headers with the glossary's
 * definitions, keyboard-focusable rows, and virtual scrolling (only the rows in view exist in the DOM,
 * with spacer rows above and below), so a layer with tens of thousands of features scrolls smoothly.
 */
import type { ShiftedFeature } from '../../src/shared/reportTypes';
import type { FeatureColumn } from '../../src/shared/reportMessages';
import { tooltip } from '../../src/shared/glossary';
import { h, replaceChildren } from '../dom';
import { formatStat } from '../format';
import type { RowQuery } from './featureRows';

/** Fixed row height (px, styles.css .feature-table tbody tr): what makes the row ↔ scroll offset arithmetic exact. */
export const ROW_HEIGHT = 26;
/** Rows rendered beyond the visible ones, above and below. */
const OVERSCAN = 12;
/** Rows assumed visible before the table is laid out. */
const FALLBACK_VISIBLE = 24;

interface Column {
  key: FeatureColumn;
  title: string;
  numeric: boolean;
  description: string;
}

const stat = (key: string) => tooltip('feature statistic', key);
const COLUMNS: Column[] = [
  { key: 'id', title: 'ID', numeric: true, description: 'SAE feature index' },
  {
    key: 'category',
    title: 'Category',
    numeric: false,
    description: 'emerged, vanished, amplified or suppressed (see the glossary for each rule)',
  },
  { key: 'mean_abs_diff', title: 'Mean |Δ|', numeric: true, description: stat('mean_abs_diff') },
  // Shown only for reports with significance (run.fdr); see visibleColumns.
  { key: 'significant', title: 'sig.', numeric: false, description: tooltip('trust figure', 'significant') },
  { key: 'freq_base', title: 'Freq base', numeric: true, description: stat('freq_base') },
  { key: 'freq_sft', title: 'Freq SFT', numeric: true, description: stat('freq_sft') },
  { key: 'mean_base', title: 'Mean base', numeric: true, description: stat('mean_base') },
  { key: 'mean_sft', title: 'Mean SFT', numeric: true, description: stat('mean_sft') },
  // Last and only when some feature has one: an empty label column wasted the width the numbers need.
  { key: 'label', title: 'Label', numeric: false, description: 'Feature label, if the SAE has labels' },
];
const NUMBER_CELLS = ['mean_abs_diff', 'freq_base', 'freq_sft', 'mean_base', 'mean_sft'] as const;

export interface FeatureTableInput {
  rows: ShiftedFeature[];
  /** How many shifted features the layer has before filtering, for the "n of m" line. */
  total: number;
  sort: RowQuery['sort'];
  selectedFeature: number | undefined;
  /** The report carries significance: show the sig. column. */
  showSignificance: boolean;
  onSort(column: FeatureColumn): void;
  onSelect(feature: ShiftedFeature): void;
}

export class FeatureTable {
  readonly element: HTMLElement;
  private readonly body = h('tbody');
  private readonly scroller: HTMLElement;
  private readonly columns: Column[];
  private rendered = { start: -1, end: -1 };
  private focusIndex = -1;

  constructor(private readonly input: FeatureTableInput) {
    const hasLabels = input.rows.some((f) => f.label);
    this.columns = COLUMNS.filter((c) => (c.key !== 'significant' || input.showSignificance) && (c.key !== 'label' || hasLabels));
    const table = h(
      'table',
      { class: 'feature-table', attrs: { 'aria-label': 'Shifted features', 'aria-rowcount': input.rows.length + 1 } },
      h('thead', {}, h('tr', {}, ...this.columns.map((column) => this.headerCell(column)))),
      this.body,
    );
    this.scroller = h('div', { class: 'table-scroll virtual-scroll', attrs: { 'data-testid': 'feature-scroll' } }, table);
    this.scroller.addEventListener('scroll', () => this.renderWindow());
    this.body.addEventListener('keydown', (event) => this.onKey(event));
    const status = h('p', { class: 'table-status', attrs: { role: 'status' } }, `${input.rows.length} of ${input.total} shifted features`);
    const empty =
      input.rows.length === 0
        ? h('p', { class: 'empty' }, input.total === 0 ? 'This layer has no shifted features.' : 'No feature matches the filter.')
        : null;
    this.element = h('div', { class: 'feature-table-wrap' }, status, this.scroller, empty);
    this.renderWindow();
    // Once laid out, the real viewport height is known.
    requestAnimationFrame(() => this.renderWindow(true));
  }

  /** Scrolls a feature's row into view (the scatter or volcano picked it). */
  reveal(id: number): void {
    const index = this.input.rows.findIndex((f) => f.id === id);
    if (index < 0) return;
    const top = index * ROW_HEIGHT;
    if (top < this.scroller.scrollTop || top + ROW_HEIGHT > this.scroller.scrollTop + this.scroller.clientHeight) {
      this.scroller.scrollTop = Math.max(0, top - this.scroller.clientHeight / 2);
    }
    this.renderWindow(true);
  }

  /** Marks the selected row without re-rendering (keeps scroll and focus). */
  select(id: number | undefined): void {
    this.input.selectedFeature = id;
    for (const row of this.body.querySelectorAll<HTMLElement>('tr[data-feature-id]')) {
      const selected = Number(row.dataset.featureId) === id;
      row.classList.toggle('selected', selected);
      row.setAttribute('aria-selected', String(selected));
    }
  }

  private renderWindow(force = false): void {
    const count = this.input.rows.length;
    const visible = this.scroller.clientHeight > 0 ? Math.ceil(this.scroller.clientHeight / ROW_HEIGHT) : FALLBACK_VISIBLE;
    const first = Math.floor(this.scroller.scrollTop / ROW_HEIGHT);
    const start = Math.max(0, first - OVERSCAN);
    const end = Math.min(count, first + visible + OVERSCAN);
    if (!force && start === this.rendered.start && end === this.rendered.end) return;
    this.rendered = { start, end };
    const hadFocus = this.body.contains(document.activeElement);
    replaceChildren(
      this.body,
      spacer(start * ROW_HEIGHT, this.columns.length),
      ...this.input.rows.slice(start, end).map((feature, i) => this.row(feature, start + i)),
      spacer((count - end) * ROW_HEIGHT, this.columns.length),
    );
    if (hadFocus) this.focusRow(this.focusIndex);
  }

  private headerCell(column: Column): HTMLElement {
    const { sort } = this.input;
    const active = sort.column === column.key;
    const arrow = active ? (sort.descending ? ' ▼' : ' ▲') : '';
    return h(
      'th',
      {
        class: column.numeric ? 'numeric' : '',
        attrs: { scope: 'col', 'aria-sort': active ? (sort.descending ? 'descending' : 'ascending') : 'none', 'data-column': column.key },
      },
      h(
        'button',
        {
          class: 'sort-button',
          attrs: { type: 'button', title: `${column.description} Sort by ${column.title}.` },
          on: { click: () => this.input.onSort(column.key) },
        },
        column.title + arrow,
      ),
    );
  }

  private row(feature: ShiftedFeature, index: number): HTMLElement {
    const selected = feature.id === this.input.selectedFeature;
    const select = () => {
      this.focusIndex = index;
      this.input.onSelect(feature);
    };
    const cells: Record<string, () => HTMLElement> = {
      id: () => h('td', { class: 'numeric' }, feature.id),
      category: () =>
        h(
          'td',
          {},
          h(
            'span',
            { class: `category category-${safeClass(feature.category)}`, attrs: { title: tooltip('feature category', feature.category) } },
            feature.category,
          ),
          feature.near_threshold ? nearThresholdMarker() : null,
        ),
      significant: () => significanceCell(feature),
      label: () => h('td', { class: 'label', attrs: { title: feature.label ?? '' } }, feature.label ?? ''),
    };
    for (const key of NUMBER_CELLS)
      cells[key] = () =>
        h('td', { class: 'numeric', attrs: { title: String(feature[key]), 'data-column': key } }, formatStat(feature[key]));
    return h(
      'tr',
      {
        class: selected ? 'selected' : '',
        attrs: {
          tabindex: 0,
          'aria-selected': selected ? 'true' : 'false',
          'aria-rowindex': index + 2,
          'data-feature-id': feature.id,
          'data-index': index,
          title: 'Enter: open the feature',
        },
        on: {
          click: select,
          focus: () => {
            this.focusIndex = index;
          },
          keydown: (event: KeyboardEvent) => {
            if (event.key === 'Enter' || event.key === ' ') {
              event.preventDefault();
              select();
            }
          },
        },
      },
      ...this.columns.map((column) => cells[column.key]()),
    );
  }

  /** Arrow keys, Page Up/Down, Home and End move between rows (scrolling rows that are not rendered into view). */
  private onKey(event: KeyboardEvent): void {
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / ROW_HEIGHT) - 1);
    const last = this.input.rows.length - 1;
    const target = {
      ArrowDown: this.focusIndex + 1,
      ArrowUp: this.focusIndex - 1,
      PageDown: this.focusIndex + page,
      PageUp: this.focusIndex - page,
      Home: 0,
      End: last,
    }[event.key];
    if (target === undefined || this.focusIndex < 0 || last < 0) return;
    event.preventDefault();
    this.focusIndex = Math.min(last, Math.max(0, target));
    const top = this.focusIndex * ROW_HEIGHT;
    if (top < this.scroller.scrollTop) this.scroller.scrollTop = top;
    else if (top + ROW_HEIGHT > this.scroller.scrollTop + this.scroller.clientHeight)
      this.scroller.scrollTop = top + ROW_HEIGHT - this.scroller.clientHeight;
    this.renderWindow(true);
    this.focusRow(this.focusIndex);
  }

  private focusRow(index: number): void {
    (this.body.querySelector(`tr[data-index="${index}"]`) as HTMLElement | null)?.focus({ preventScroll: true });
  }
}

/** A category name from the file becomes part of a class name: keep it to safe characters. */
function safeClass(value: string): string {
  return String(value).replace(/[^a-z0-9_-]/gi, '_');
}

function spacer(height: number, columns: number): HTMLElement {
  const cell = h('td', { attrs: { colspan: columns } });
  const row = h('tr', { class: 'spacer', attrs: { 'aria-hidden': 'true' } }, cell);
  // CSSOM writes are allowed under the CSP (inline style attributes are not).
  row.style.height = `${height}px`;
  row.hidden = height === 0;
  return row;
}

function significanceCell(feature: ShiftedFeature): HTMLElement {
  const title = feature.q_value !== undefined ? `q = ${feature.q_value}` : feature.significant === undefined ? 'not tested' : undefined;
  const text = feature.significant === undefined ? '' : feature.significant ? '✓' : '–';
  return h(
    'td',
    {
      class: `sig sig-${feature.significant === undefined ? 'unknown' : feature.significant}`,
      attrs: { title, 'data-column': 'significant' },
    },
    text,
  );
}

function nearThresholdMarker(): HTMLElement {
  const text = tooltip('trust figure', 'near_threshold');
  return h('span', { class: 'near-threshold', attrs: { title: text, 'aria-label': text, 'data-testid': 'near-threshold' } }, ' ⚠');
}
