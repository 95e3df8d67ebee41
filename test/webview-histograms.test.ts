/**
 * The feature page's activation histograms in headless Chromium, on a real two-fine-tune report: one series
 * for base and one per fine-tune, each bar's count equal to the report's, bars to scale, every count of the
 * feature drawn (bins sum to its firing count); the standalone HTML draws the same under its CSP; a
 * version-2 report (no histograms) still opens its feature page.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { allShiftedFeatures } from '../src/shared/featureColumns';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { chromiumMissingReason, ensureWebviewBundle, openPanel, openStandaloneHtml } from './helpers/browser';
import { TMP_DIR, twoFineTuneReport } from './helpers/engineReport';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any

let report: SaeDiffReport;

before(() => {
  ensureWebviewBundle();
  report = twoFineTuneReport();
});

interface DrawnSeries {
  name: string;
  bars: { bin: number; count: number; height: number }[];
  label: string;
}

/** Opens the first feature of the table and reads its histogram as drawn. */
async function openFirstFeature(
  page: Page,
): Promise<{ id: number; layer: number; comparison: number; series: DrawnSeries[]; aria: string }> {
  await page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
  await page.locator('table.feature-table tbody tr[data-feature-id]').first().click();
  await page.waitForSelector('.feature-detail[data-feature-id] [data-testid="activation-histogram"]');
  return page.evaluate(() => {
    const state = window.__state ?? window.saeDiffView?.state?.();
    const figure = document.querySelector('[data-testid="activation-histogram"]');
    const series = Array.from(figure.querySelectorAll('g.histogram-series')).map((g: any) => ({
      name: g.dataset.name,
      bars: Array.from(g.querySelectorAll('rect')).map((r: any) => ({
        bin: Number(r.dataset.bin),
        count: Number(r.dataset.count),
        height: Number(r.getAttribute('height')),
      })),
      label: Array.from(figure.querySelectorAll('.histogram-legend li')).map((li: any) => li.textContent)[Number(g.dataset.series)],
    }));
    return {
      id: Number(document.querySelector('.feature-detail').dataset.featureId),
      layer: state?.layer,
      comparison: state?.comparison ?? 0,
      series,
      aria: figure.querySelector('svg').getAttribute('aria-label'),
    };
  });
}

/** The drawn series match the report: names, counts per bin, nothing left out, bars to one scale. */
function checkAgainstReport(r: SaeDiffReport, drawn: Awaited<ReturnType<typeof openFirstFeature>>): void {
  const layerOf = (ci: number) => r.comparisons[ci].layers.find((l) => l.layer === drawn.layer)!;
  const own = layerOf(drawn.comparison).activation_histograms!;
  const row = own.id.indexOf(drawn.id);
  assert.ok(row >= 0, `feature ${drawn.id} has histograms at layer ${drawn.layer}`);
  assert.deepEqual(
    drawn.series.map((s) => s.name),
    [r.base.name, ...r.comparisons.map((c) => c.sft.name)],
    'base, then every fine-tune',
  );
  const expected = [own.base[row], ...r.comparisons.map((_, ci) => layerOf(ci).activation_histograms!.sft[row])];
  const max = Math.max(...drawn.series.flatMap((s) => s.bars.map((b) => b.count)));
  const scale =
    drawn.series[0].bars.find((b) => b.count === max)?.height ?? drawn.series.flatMap((s) => s.bars).find((b) => b.count === max)!.height;
  drawn.series.forEach((s, si) => {
    const counts = expected[si];
    for (const bar of s.bars) {
      assert.equal(bar.count, counts[bar.bin], `${s.name}, bin ${bar.bin}`);
      assert.ok(Math.abs(bar.height - (scale * bar.count) / max) < 1e-6, `${s.name}, bin ${bar.bin}: height to scale`);
    }
    const drawnTotal = s.bars.reduce((a, b) => a + b.count, 0);
    assert.equal(
      drawnTotal,
      counts.reduce((a, b) => a + b, 0),
      `${s.name}: every non-empty bin is drawn`,
    );
    assert.match(s.label, new RegExp(`fires ${drawnTotal} times$`));
    assert.ok(drawn.aria.includes(`${s.name} fires ${drawnTotal} times`), 'the accessible label gives each count');
  });
  // bins sum to the firing counts of the feature's row (freq × tokens), in base and in the shown fine-tune
  const feature = allShiftedFeatures(layerOf(drawn.comparison)).find((f) => f.id === drawn.id)!;
  const total = (si: number) => drawn.series[si].bars.reduce((a, b) => a + b.count, 0);
  assert.equal(total(0), Math.round(feature.freq_base * r.run.tokens));
  assert.equal(total(1 + drawn.comparison), Math.round(feature.freq_sft * r.run.tokens));
  assert.ok(drawn.series[0].bars.length >= 2, 'the fixture feature spreads over several bins');
}

test('the feature page draws base and every fine-tune with the report counts', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) return t.skip(missing);
  assert.equal(report.version, 3);
  const panel = await openPanel({ theme: 'dark' });
  try {
    await panel.send({ type: 'report', report, source: 'file:///reports/two-sfts.sae-report.json' });
    const drawn = await openFirstFeature(panel.page);
    checkAgainstReport(report, drawn);
    await panel.page.screenshot({ path: join(TMP_DIR, 'report-feature-histogram-dark.png'), fullPage: true });

    await t.test('a version-2 report (no histograms) opens its feature page without one', async () => {
      const old = structuredClone(report);
      old.version = 2;
      for (const c of old.comparisons) for (const l of c.layers) delete l.activation_histograms;
      await panel.send({ type: 'report', report: old });
      await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
      await panel.page.locator('table.feature-table tbody tr[data-feature-id]').first().click();
      await panel.page.waitForSelector('.feature-detail[data-feature-id]');
      assert.equal(await panel.page.locator('[data-testid="activation-histogram"]').count(), 0);
      assert.equal(await panel.page.locator('.error-box').count(), 0);
    });
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, [], 'no console errors, page errors, failed requests or CSP violations');
});

test('the standalone HTML report draws the same histograms under its CSP', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) return t.skip(missing);
  const { page, problems, cspViolations, close } = await openStandaloneHtml(report);
  try {
    const drawn = await openFirstFeature(page);
    // the standalone page keeps no host state: its layer is the one the panel opens on (the most divergent)
    if (drawn.layer === undefined)
      drawn.layer = [...report.comparisons[0].layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0].layer;
    checkAgainstReport(report, drawn);
    assert.deepEqual(await cspViolations(), []);
  } finally {
    await close();
  }
  assert.deepEqual(problems, []);
});
