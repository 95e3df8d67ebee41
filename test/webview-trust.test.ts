/**
 * The report panel's "trust" fields (significance, SAE self-check, noise floor, decomposition, parity) in
 * headless Chromium: a real engine report with synthetic trust values, and the same report without them.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { LayerReport, SaeDiffReport } from '../src/shared/reportTypes';
import { SELF_CHECK_FAILED_TEXT } from '../src/shared/reportTrust';
import { chromiumMissingReason, openPanel, type PanelPage, ensureWebviewBundle } from './helpers/browser';
import { TMP_DIR, refusalReport } from './helpers/engineReport';
import { FAILING_LAYER_MESSAGE, PARITY_WARNING, REFERENCE_NAME, withTrustFields, withoutTrustFields } from './helpers/trustFields';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const METRIC_SERIES = 8;

let trusted: SaeDiffReport;
let plain: SaeDiffReport;
let shown: LayerReport;
let failingLayer: number;
let floorLayer: number;

before(() => {
  ensureWebviewBundle();
  mkdirSync(TMP_DIR, { recursive: true });
  const engine = refusalReport();
  const layers = engine.comparisons[0].layers;
  // The panel opens on the most divergent layer; the self-check fails there, and another layer is within the floor.
  const top = [...layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0].layer;
  failingLayer = top;
  floorLayer = layers.find((l) => l.layer !== top)!.layer;
  trusted = withTrustFields(engine, { failingLayer, floorLayer });
  plain = withoutTrustFields(engine);
  shown = trusted.comparisons[0].layers.find((l) => l.layer === top)!;
});

async function rowIds(panel: PanelPage): Promise<number[]> {
  return panel.page.evaluate(() => window.saeDiffView.rows());
}

async function datasets(panel: PanelPage): Promise<{ label: string; data: (number | null)[]; dash: number[]; hidden: boolean }[]> {
  return panel.page.evaluate(() =>
    window.saeDiffView.chart.data.datasets.map((d: any) => ({
      label: d.label,
      data: d.data,
      dash: d.borderDash ?? [],
      hidden: !!d.hidden,
    })),
  );
}

test('report panel shows the trust fields, and an older report exactly as before', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) {
    t.skip(missing);
    return;
  }
  const panel = await openPanel({ theme: 'dark' });
  try {
    await panel.send({ type: 'report', report: trusted });
    await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');

    await t.test('a failed self-check is an alert above everything else, listing the failing layer', async () => {
      const first = await panel.page.evaluate(
        () => document.getElementById('app').querySelector(':scope > *:first-child > *')?.dataset.testid,
      );
      assert.equal(first, 'self-check-banner');
      const banner = (await panel.page.locator('[data-testid="self-check-banner"]').textContent()) ?? '';
      assert.ok(banner.includes(SELF_CHECK_FAILED_TEXT));
      assert.ok(banner.includes(`Layer ${failingLayer}: ${FAILING_LAYER_MESSAGE}`));
      assert.equal(await panel.page.locator('[data-testid="self-check-banner"]').getAttribute('role'), 'alert');
      const status = (await panel.page.locator('[data-testid="layer-trust"] tr[data-trust="self-check"]').textContent()) ?? '';
      assert.match(status, /✗ FAILED/);
      assert.match(
        (await panel.page.locator('.summary').textContent()) ?? '',
        new RegExp(`SAE self-check failed at layer ${failingLayer}`),
      );
    });

    await t.test('parity warnings are a banner, as text', async () => {
      const items = await panel.page.$$eval('[data-testid="parity-banner"] li', (lis: any[]) => lis.map((li) => li.textContent));
      assert.deepEqual(
        items,
        trusted.run.parity_warnings!.map((w) => `⚠ ${w}`),
      );
      assert.ok(items[0].includes(PARITY_WARNING));
      assert.equal(await panel.page.locator('[data-testid="parity-banner"] b b').count(), 0, 'markup in a warning stays text');
    });

    await t.test('the sig. column shows ✓ / –, sorts significant first, and the filter keeps only significant rows', async () => {
      const marks = await panel.page.$$eval('table.feature-table tbody td[data-column="significant"]', (cells: any[]) =>
        cells.map((c) => c.textContent),
      );
      assert.ok(marks.length > 10);
      assert.deepEqual(
        marks,
        shown.shifted_features.slice(0, marks.length).map((f) => (f.significant ? '✓' : '–')),
      );
      await panel.page.locator('th[data-column="significant"] button').click();
      const significantFirst = [...shown.shifted_features]
        .sort((a, b) => Number(b.significant) - Number(a.significant) || a.id - b.id)
        .map((f) => f.id);
      assert.deepEqual(await rowIds(panel), significantFirst);
      await panel.page.locator('th[data-column="mean_abs_diff"] button').click();
      assert.deepEqual(
        await rowIds(panel),
        shown.shifted_features.map((f) => f.id),
      );

      await panel.page.locator('vscode-checkbox.significant-only').click();
      assert.deepEqual(
        await rowIds(panel),
        shown.shifted_features.filter((f) => f.significant).map((f) => f.id),
      );
      assert.equal((await panel.page.evaluate(() => window.__state)).significantOnly, true);
      await panel.page.locator('vscode-checkbox.significant-only').click();
      assert.equal((await rowIds(panel)).length, shown.shifted_features.length);
    });

    await t.test('category counts show how many are significant', async () => {
      const counts = (await panel.page.locator('[data-testid="category-counts"]').textContent()) ?? '';
      for (const [category, n] of Object.entries(shown.significant_counts!)) {
        assert.ok(
          counts.includes(`${category} ${shown.category_counts[category as keyof typeof shown.category_counts]} (${n} sig.)`),
          counts,
        );
      }
    });

    await t.test('a near-threshold feature is marked, and its detail shows q and the Wilson intervals', async () => {
      const near = shown.shifted_features.find((f) => f.near_threshold)!;
      const marker = panel.page.locator(`tr[data-feature-id="${near.id}"] [data-testid="near-threshold"]`);
      assert.equal(await marker.textContent(), ' ⚠');
      assert.match((await marker.getAttribute('title')) ?? '', /artefact/);
      assert.equal(await panel.page.locator('[data-testid="near-threshold"]').count(), 1);
      await panel.page.locator(`tr[data-feature-id="${near.id}"]`).click();
      await panel.page.waitForSelector(`.feature-detail[data-feature-id="${near.id}"]`);
      const significance = (await panel.page.locator('[data-testid="significance"]').textContent()) ?? '';
      assert.match(significance, /^significant at FDR 0\.05 \(q = 2\.00e-5, p = 2\.00e-6\)$/);
      const ci = (await panel.page.locator('[data-testid="wilson-ci"]').textContent()) ?? '';
      assert.match(ci, /^95% interval of the firing rate \(Wilson\): base [\d.e-]+–[\d.e-]+% → fine-tune [\d.e-]+–[\d.e-]+%$/);
      assert.match((await panel.page.locator('[data-testid="near-threshold-note"]').textContent()) ?? '', /Near threshold/);
    });

    await t.test('the chart has dashed noise-floor lines and the inside-the-dictionary share; they toggle', async () => {
      const all = await datasets(panel);
      const layers = trusted.comparisons[0].layers;
      const l1Floor = all.find((d) => d.label === 'noise floor: L1 divergence')!;
      const overlapFloor = all.find((d) => d.label === 'noise floor: feature overlap')!;
      assert.deepEqual(
        l1Floor.data,
        layers.map((l) => l.noise_floor!.l1_divergence),
      );
      assert.deepEqual(
        overlapFloor.data,
        layers.map((l) => l.noise_floor!.feature_overlap),
      );
      assert.ok(l1Floor.dash.length > 0 && overlapFloor.dash.length > 0, 'floors are dashed');
      const inside = all.find((d) => d.label === 'inside dictionary (share of ‖Δh‖²)')!;
      assert.deepEqual(
        inside.data,
        layers.map((l) => l.decomposition!.fraction_inside),
      );
      assert.equal(all.length, METRIC_SERIES + 3);
      // The legend click handler, as Chart.js calls it.
      await panel.page.evaluate(() => {
        const chart = window.saeDiffView.chart;
        chart.options.plugins.legend.onClick({}, { text: 'noise floor: L1 divergence' }, chart.legend);
      });
      assert.equal((await datasets(panel)).find((d) => d.label === 'noise floor: L1 divergence')!.hidden, true);
      await panel.page.evaluate(() => {
        const chart = window.saeDiffView.chart;
        chart.options.plugins.legend.onClick({}, { text: 'noise floor: L1 divergence' }, chart.legend);
      });
      assert.equal((await datasets(panel)).find((d) => d.label === 'noise floor: L1 divergence')!.hidden, false);
    });

    await t.test('the layer detail shows the decomposition, and the summary the layer within the noise floor', async () => {
      const decomposition = (await panel.page.locator('[data-testid="layer-trust"] tr[data-trust="decomposition"]').textContent()) ?? '';
      assert.match(decomposition, /inside the dictionary: 63% of ‖Δh‖²/);
      assert.match(decomposition, /residual norm 3\.600 → 3\.500/);
      const summary = (await panel.page.locator('.summary').textContent()) ?? '';
      assert.ok(
        summary.includes(
          `Within the noise floor (base vs ${REFERENCE_NAME}), so not flagged: layer ${floorLayer} (suppressed: divergent).`,
        ),
        summary,
      );
      assert.match(summary, /shifted features are significant at a false discovery rate of 0\.05/);
      await panel.page.locator('vscode-dropdown[aria-label="Layer"]').click();
      await panel.page
        .locator('vscode-dropdown[aria-label="Layer"] vscode-option', { hasText: `Layer ${floorLayer}` })
        .first()
        .click();
      const floor = (await panel.page.locator('[data-testid="layer-trust"] tr[data-trust="noise-floor"]').textContent()) ?? '';
      assert.match(floor, /within the noise floor: not flagged \(suppressed: divergent\)/);
      await panel.page.locator('vscode-dropdown[aria-label="Layer"]').click();
      await panel.page
        .locator('vscode-dropdown[aria-label="Layer"] vscode-option', { hasText: `Layer ${shown.layer}` })
        .first()
        .click();
    });

    await t.test('screenshots with the trust fields', async () => {
      await panel.page.locator(`tr[data-feature-id="${shown.shifted_features[1].id}"]`).click();
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-trust-dark.png'), fullPage: true });
      await panel.setTheme('light');
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-trust-light.png'), fullPage: true });
      await panel.setTheme('high-contrast');
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-trust-high-contrast.png'), fullPage: true });
      await panel.setTheme('dark');
    });

    await t.test('a report without the fields has no banner, no sig. column, no floor and no trust rows', async () => {
      await panel.send({ type: 'report', report: plain });
      await panel.page.waitForSelector('[data-testid="self-check-banner"]', { state: 'detached' });
      await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
      for (const selector of [
        '[data-testid="parity-banner"]',
        'th[data-column="significant"]',
        'td[data-column="significant"]',
        'vscode-checkbox.significant-only',
        '.sig-count',
        '[data-testid="near-threshold"]',
        '.feature-trust',
        '.summary li.trust-line',
      ]) {
        assert.equal(await panel.page.locator(selector).count(), 0, selector);
      }
      // Only the flag reasons remain in the layer box: they need no trust field.
      assert.deepEqual(
        await panel.page.$$eval('[data-testid="layer-trust"] tr[data-trust]', (rows: any[]) => rows.map((r) => r.dataset.trust)),
        ['flags'],
      );
      const all = await datasets(panel);
      assert.equal(all.length, METRIC_SERIES);
      assert.ok(all.every((d) => !/noise floor|inside dictionary/.test(d.label)));
      const headers = await panel.page.$$eval('table.feature-table thead th', (ths: any[]) => ths.map((th) => th.dataset.column));
      assert.deepEqual(headers, ['id', 'category', 'mean_abs_diff', 'freq_base', 'freq_sft', 'mean_base', 'mean_sft']);
      const state = await panel.page.evaluate(() => window.__state);
      assert.equal(state.significantOnly, false);
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-without-trust-dark.png'), fullPage: true });
    });
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, [], 'no console errors, page errors, failed requests or CSP violations');
});
