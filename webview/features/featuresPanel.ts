/**
 * The "Shifted features" section: controls, table and detail. Re-renders only the part a state change
 * affects, so typing in the filter keeps focus and selecting a row keeps the table's scroll position.
 */
import type { LayerReport, SaeDiffReport, ShiftedFeature } from '../../src/engine/report/types';
import type { FeatureColumn } from '../../src/shared/reportMessages';
import { hasSignificance } from '../../src/shared/reportTrust';
import { h, replaceChildren } from '../dom';
import { renderLayerTrust } from '../layerTrust';
import type { ViewState } from '../viewState';
import { renderFeatureControls } from './featureControls';
import { renderFeatureDetail } from './featureDetail';
import { selectRows } from './featureRows';
import { renderFeatureTable } from './featureTable';

export class FeaturesPanel {
  readonly element: HTMLElement;
  private readonly controlsHost = h('div');
  private readonly layerTrustHost = h('div');
  private readonly tableHost = h('div', { class: 'table-host' });
  private readonly detailHost = h('div', { class: 'detail-host' });
  private report: SaeDiffReport | undefined;
  private significance = false;

  constructor(private readonly change: (change: Partial<ViewState>) => void) {
    this.element = h('section', { class: 'features', attrs: { 'aria-labelledby': 'features-heading' } },
      h('h2', { attrs: { id: 'features-heading' } }, 'Shifted features'),
      this.controlsHost,
      this.layerTrustHost,
      h('div', { class: 'features-body' }, this.tableHost, this.detailHost));
  }

  /** Everything: new report, fine-tune or layer. */
  renderAll(report: SaeDiffReport, state: ViewState): void {
    this.report = report;
    this.significance = hasSignificance(report);
    replaceChildren(this.controlsHost, renderFeatureControls({ report, layer: this.layer(state), state, significance: this.significance, change: this.change }));
    replaceChildren(this.layerTrustHost, renderLayerTrust(this.layer(state)));
    this.renderTable(state);
    this.renderDetail(state);
  }

  renderTable(state: ViewState): void {
    const features = this.layer(state)?.shifted_features ?? [];
    replaceChildren(this.tableHost, renderFeatureTable({
      rows: selectRows(features, state),
      total: features.length,
      sort: state.sort,
      selectedFeature: state.selectedFeature,
      showSignificance: this.significance,
      onSort: (column: FeatureColumn) => this.change({
        // Numbers read best largest first; text A→Z.
        sort: { column, descending: state.sort.column === column ? !state.sort.descending : column !== 'label' && column !== 'category' },
      }),
      onSelect: (feature: ShiftedFeature) => this.change({ selectedFeature: feature.id }),
    }));
  }

  renderSelection(state: ViewState): void {
    for (const row of this.tableHost.querySelectorAll<HTMLElement>('tr[data-feature-id]')) {
      const selected = Number(row.dataset.featureId) === state.selectedFeature;
      row.classList.toggle('selected', selected);
      row.setAttribute('aria-selected', String(selected));
    }
    this.renderDetail(state);
  }

  private renderDetail(state: ViewState): void {
    const feature = this.layer(state)?.shifted_features.find((f) => f.id === state.selectedFeature);
    const sftName = this.report?.comparisons[state.comparison]?.sft.name ?? 'fine-tune';
    replaceChildren(this.detailHost, renderFeatureDetail(feature, sftName, this.report?.base.name ?? 'base', this.report?.run.fdr));
  }

  private layer(state: ViewState): LayerReport | undefined {
    return this.report?.comparisons[state.comparison]?.layers.find((layer) => layer.layer === state.layer);
  }
}
