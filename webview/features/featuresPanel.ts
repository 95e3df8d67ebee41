/**
 * The "Shifted features" section: controls, the layer's overview plots, table and detail, over every
 * shifted feature of the layer. Re-renders only the part a state change affects, so typing in the filter
 * keeps focus and selecting a row keeps the table's scroll position.
 */
import type { LayerReport, SaeDiffReport, ShiftedFeature } from '../../src/shared/reportTypes';
import type { FeatureColumn } from '../../src/shared/reportMessages';
import { allShiftedFeatures, shiftedTotal } from '../../src/shared/featureColumns';
import { featureHistograms } from '../../src/shared/featureHistograms';
import { reportThresholds } from '../../src/shared/reportFindings';
import { hasSignificance } from '../../src/shared/reportTrust';
import { h, replaceChildren } from '../dom';
import { renderLayerTrust } from '../layerTrust';
import type { ViewState } from '../viewState';
import { renderFeatureControls } from './featureControls';
import { renderFeatureDetail } from './featureDetail';
import { selectRows } from './featureRows';
import { FeatureTable } from './featureTable';
import { FeaturePlots } from './featurePlots';

export class FeaturesPanel {
  readonly element: HTMLElement;
  private readonly controlsHost = h('div');
  private readonly layerTrustHost = h('div');
  private readonly tableHost = h('div', { class: 'table-host' });
  private readonly detailHost = h('div', { class: 'detail-host' });
  readonly plots: FeaturePlots;
  private report: SaeDiffReport | undefined;
  private significance = false;
  private table: FeatureTable | undefined;
  /** Rows of the shown table, in table order (tests and the plots read them). */
  rows: ShiftedFeature[] = [];
  private cache = new WeakMap<LayerReport, ShiftedFeature[]>();

  constructor(private readonly change: (change: Partial<ViewState>) => void) {
    this.plots = new FeaturePlots((id) => this.change({ selectedFeature: id }));
    this.element = h(
      'section',
      { class: 'features', attrs: { 'aria-labelledby': 'features-heading' } },
      h('h2', { attrs: { id: 'features-heading' } }, 'Shifted features'),
      this.controlsHost,
      this.layerTrustHost,
      this.plots.element,
      h('div', { class: 'features-body' }, this.tableHost, this.detailHost),
    );
  }

  /** Everything: new report, fine-tune or layer. */
  renderAll(report: SaeDiffReport, state: ViewState): void {
    this.report = report;
    this.cache = new WeakMap();
    this.significance = hasSignificance(report);
    const layer = this.layer(state);
    replaceChildren(
      this.controlsHost,
      renderFeatureControls({ report, layer, state, significance: this.significance, change: this.change }),
    );
    replaceChildren(this.layerTrustHost, renderLayerTrust(layer, reportThresholds(report)));
    this.plots.render(report, layer ? this.features(layer) : [], state);
    this.renderTable(state);
    this.renderDetail(state);
  }

  renderTable(state: ViewState): void {
    const layer = this.layer(state);
    const features = layer ? this.features(layer) : [];
    this.rows = selectRows(features, state);
    this.table = new FeatureTable({
      rows: this.rows,
      total: layer ? shiftedTotal(layer) : 0,
      sort: state.sort,
      selectedFeature: state.selectedFeature,
      showSignificance: this.significance,
      onSort: (column: FeatureColumn) =>
        this.change({
          // Numbers read best largest first; text A→Z.
          sort: { column, descending: state.sort.column === column ? !state.sort.descending : column !== 'label' && column !== 'category' },
        }),
      onSelect: (feature: ShiftedFeature) => this.change({ selectedFeature: feature.id }),
    });
    replaceChildren(this.tableHost, this.table.element);
  }

  renderSelection(state: ViewState): void {
    this.table?.select(state.selectedFeature);
    if (state.selectedFeature !== undefined) this.table?.reveal(state.selectedFeature);
    this.plots.highlight(state.selectedFeature);
    this.renderDetail(state);
  }

  private renderDetail(state: ViewState): void {
    const layer = this.layer(state);
    const feature = layer ? this.features(layer).find((f) => f.id === state.selectedFeature) : undefined;
    const sftName = this.report?.comparisons[state.comparison]?.sft.name ?? 'fine-tune';
    const histograms = feature && this.report ? featureHistograms(this.report, state.comparison, state.layer, feature.id) : undefined;
    replaceChildren(
      this.detailHost,
      renderFeatureDetail(feature, sftName, this.report?.base.name ?? 'base', this.report?.run.fdr, this.report?.prompts, histograms),
    );
  }

  private features(layer: LayerReport): ShiftedFeature[] {
    let rows = this.cache.get(layer);
    if (!rows) {
      rows = allShiftedFeatures(layer);
      this.cache.set(layer, rows);
    }
    return rows;
  }

  private layer(state: ViewState): LayerReport | undefined {
    return this.report?.comparisons[state.comparison]?.layers.find((layer) => layer.layer === state.layer);
  }
}
