/**
 * The report panel in a real browser: the extension's HTML and built bundle in headless Chromium, fed a
 * report the engine produced from the tiny-llama fixtures (plus a hostile label).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { SaeDiffReport, ShiftedFeature } from '../src/shared/reportTypes';
import { chromiumMissingReason, openPanel, type PanelPage, ensureWebviewBundle } from './helpers/browser';
import { TMP_DIR, refusalReport, twoFineTuneReport } from './helpers/engineReport';
import { withoutTrustFields } from './helpers/trustFields';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const requestAnimationFrame: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOSTILE_LABEL = '<img src=x onerror="window.__pwned = 1">';
const METRIC_SERIES = 8; // seven report metrics and the EV drop the coverage threshold applies to

let report: SaeDiffReport;
let twoSfts: SaeDiffReport;
let shownLayer: number;

before(() => {
  ensureWebviewBundle();
  mkdirSync(TMP_DIR, { recursive: true });
  // As an older engine wrote them: the panel must look exactly as before (webview-trust.test.ts covers the new fields).
  report = withLabels(withoutTrustFields(refusalReport()));
  twoSfts = withoutTrustFields(twoFineTuneReport());
  // The panel opens on the most divergent layer.
  shownLayer = [...report.comparisons[0].layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0].layer;
});

/** Labels are optional in reports; give some features labels, one of them an XSS attempt. */
function withLabels(original: SaeDiffReport): SaeDiffReport {
  const copy = structuredClone(original);
  for (const layer of copy.comparisons[0].layers) {
    const [first, second, third] = layer.shifted_features;
    first.label = HOSTILE_LABEL;
    if (second) second.label = 'Refusal phrasing';
    if (third) third.label = 'assistant turn, "quoted" & <b>bold</b>';
  }
  return copy;
}

function shownFeatures(): ShiftedFeature[] {
  return report.comparisons[0].layers.find((l) => l.layer === shownLayer)!.shifted_features;
}

/**
 * The table's rows in order. The table is virtual (only rows in view exist), so the order comes from the
 * view; the rows that are rendered must be exactly the matching run of it.
 */
async function rowIds(panel: PanelPage): Promise<number[]> {
  const model: number[] = await panel.page.evaluate(() => window.saeDiffView.rows());
  const rendered: number[] = await panel.page.$$eval('table.feature-table tbody tr[data-feature-id]', (rows: any[]) =>
    rows.map((row) => Number(row.dataset.featureId)),
  );
  const start = rendered.length ? model.indexOf(rendered[0]) : 0;
  assert.deepEqual(rendered, model.slice(start, start + rendered.length), 'rendered rows are a run of the table order');
  return model;
}

async function choose(panel: PanelPage, dropdownLabel: string, optionText: string): Promise<void> {
  await panel.page.locator(`vscode-dropdown[aria-label="${dropdownLabel}"]`).click();
  await panel.page.locator(`vscode-dropdown[aria-label="${dropdownLabel}"] vscode-option`, { hasText: optionText }).first().click();
}

async function chartPoints(panel: PanelPage): Promise<{ label: string; points: number; data: (number | null)[] }[]> {
  return panel.page.evaluate(() => {
    const chart = window.saeDiffView.chart;
    return chart.data.datasets.map((dataset: any, index: number) => ({
      label: dataset.label,
      points: chart.getDatasetMeta(index).data.length,
      data: dataset.data,
    }));
  });
}

const byFreqBaseDescending = (a: ShiftedFeature, b: ShiftedFeature) => b.freq_base - a.freq_base || a.id - b.id;

test('report panel in headless Chromium', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) {
    t.skip(missing);
    return;
  }
  const panel = await openPanel({ theme: 'dark' });
  try {
    await panel.send({ type: 'report', report, source: 'file:///reports/refusal.sae-report.json' });
    await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');

    await t.test('the chart has a point per layer, with the report values', async () => {
      const datasets = await chartPoints(panel);
      const layers = report.comparisons[0].layers;
      assert.equal(datasets.length, METRIC_SERIES);
      for (const dataset of datasets) assert.equal(dataset.points, layers.length, dataset.label);
      const dense = datasets.find((d) => d.label === 'dense cosine')!;
      assert.deepEqual(
        dense.data,
        layers.map((l) => l.dense_cosine),
      );
      const l1 = datasets.find((d) => d.label === 'L1 divergence')!;
      assert.deepEqual(
        l1.data,
        layers.map((l) => l.l1_divergence),
      );
    });

    await t.test('the summary names the most divergent layer', async () => {
      const summary = await panel.page.locator('.summary').textContent();
      assert.match(summary ?? '', new RegExp(`Diverges most at layer ${shownLayer} `));
    });

    await t.test('the table rows are the report shifted features, in report order', async () => {
      assert.deepEqual(
        await rowIds(panel),
        shownFeatures().map((f) => f.id),
      );
      const firstRowCells = await panel.page.$$eval(
        'table.feature-table tbody tr[data-feature-id]:not(.spacer) td[data-column]',
        (cells: any[]) => Object.fromEntries(cells.slice(0, 5).map((c) => [c.dataset.column, Number(c.title)])),
      );
      const first = shownFeatures()[0];
      assert.deepEqual(firstRowCells, {
        freq_base: first.freq_base,
        freq_sft: first.freq_sft,
        mean_base: first.mean_base,
        mean_sft: first.mean_sft,
        mean_abs_diff: first.mean_abs_diff,
      });
      const counts = await panel.page.locator('[data-testid="category-counts"]').textContent();
      const layer = report.comparisons[0].layers.find((l) => l.layer === shownLayer)!;
      for (const [category, count] of Object.entries(layer.category_counts)) assert.match(counts ?? '', new RegExp(`${category} ${count}`));
    });

    await t.test('a hostile label is shown as text and runs nothing', async () => {
      const labelCell = await panel.page.locator('table.feature-table tbody tr[data-feature-id] td.label').first().textContent();
      assert.equal(labelCell, HOSTILE_LABEL);
      assert.equal(await panel.page.locator('img').count(), 0);
      assert.equal(await panel.page.locator('table.feature-table b').count(), 0, 'markup inside a label must not become elements');
      assert.equal(await panel.page.evaluate(() => window.__pwned), undefined);
    });

    await t.test('sorting by a column reorders the rows, and again reverses them', async () => {
      await panel.page.locator('th[data-column="freq_base"] button').click();
      assert.deepEqual(
        await rowIds(panel),
        [...shownFeatures()].sort(byFreqBaseDescending).map((f) => f.id),
      );
      assert.equal(await panel.page.locator('th[data-column="freq_base"]').getAttribute('aria-sort'), 'descending');
      await panel.page.locator('th[data-column="freq_base"] button').click();
      assert.deepEqual(
        await rowIds(panel),
        [...shownFeatures()].sort((a, b) => a.freq_base - b.freq_base || a.id - b.id).map((f) => f.id),
      );
      await panel.page.locator('th[data-column="label"] button').click();
      assert.equal((await rowIds(panel))[0], shownFeatures()[0].id, "'<img…' sorts before letters");
      await panel.page.locator('th[data-column="mean_abs_diff"] button').click();
      assert.deepEqual(
        await rowIds(panel),
        shownFeatures().map((f) => f.id),
      );
    });

    await t.test('filtering by category and by text narrows the rows', async () => {
      const categories = [...new Set(shownFeatures().map((f) => f.category))];
      const category = categories.find((c) => c !== shownFeatures()[0].category) ?? categories[0];
      await choose(panel, 'Category filter', category);
      assert.deepEqual(
        await rowIds(panel),
        shownFeatures()
          .filter((f) => f.category === category)
          .map((f) => f.id),
      );
      await choose(panel, 'Category filter', 'All categories');
      await panel.page.locator('vscode-text-field.text-filter input').fill('refusal');
      assert.deepEqual(await rowIds(panel), [shownFeatures()[1].id]);
      const idText = String(shownFeatures()[4].id);
      await panel.page.locator('vscode-text-field.text-filter input').fill(idText);
      assert.deepEqual(
        await rowIds(panel),
        shownFeatures()
          .filter((f) => String(f.id).includes(idText))
          .map((f) => f.id),
      );
      await panel.page.locator('vscode-text-field.text-filter input').fill('');
      assert.equal((await rowIds(panel)).length, shownFeatures().length);
    });

    await t.test('Enter on a focused row shows its top activating contexts', async () => {
      const feature = shownFeatures().find((f) => (f.contexts?.base.length ?? 0) > 0 && (f.contexts?.sft.length ?? 0) > 0)!;
      await panel.page.locator(`tr[data-feature-id="${feature.id}"]`).focus();
      await panel.page.keyboard.press('Enter');
      await panel.page.waitForSelector(`.feature-detail[data-feature-id="${feature.id}"]`);
      assert.equal(await panel.page.locator(`tr[data-feature-id="${feature.id}"]`).getAttribute('aria-selected'), 'true');
      for (const side of ['base', 'sft'] as const) {
        const shown = await panel.page.$$eval(`.context-column[data-side="${side}"] li.context`, (items: any[]) =>
          items.map((item) => ({
            token: item.querySelector('mark.token').textContent,
            activation: Number(item.querySelector('.activation').title),
            text: item.querySelector('.context-text').textContent,
          })),
        );
        const expected = feature.contexts![side];
        assert.equal(shown.length, expected.length);
        const visible = (s: string) => s.replace(/\r?\n/g, '↵').replace(/\t/g, '⇥');
        shown.forEach((context, i) => {
          assert.equal(context.activation, expected[i].activation);
          assert.equal(context.token, visible(expected[i].token) || '∅');
          assert.equal(context.text, visible(expected[i].before) + (visible(expected[i].token) || '∅') + visible(expected[i].after));
        });
      }
      // Arrow keys move between rows.
      await panel.page.keyboard.press('ArrowDown');
      assert.equal(await panel.page.evaluate(() => document.activeElement.tagName), 'TR');
    });

    await t.test('choosing another layer shows its features and highlights it in the chart', async () => {
      const other = report.comparisons[0].layers.find((l) => l.layer !== shownLayer)!;
      await choose(panel, 'Layer', `Layer ${other.layer}`);
      assert.deepEqual(
        await rowIds(panel),
        other.shifted_features.map((f) => f.id),
      );
      const state = await panel.page.evaluate(() => window.__state);
      assert.equal(state.layer, other.layer);
      assert.equal(state.source, 'file:///reports/refusal.sae-report.json');
      await choose(panel, 'Layer', `Layer ${shownLayer}`);
    });

    await t.test('export buttons send typed messages to the extension', async () => {
      for (const kind of ['csv', 'markdown', 'svg', 'html', 'png'])
        await panel.page.locator(`vscode-button[data-export="${kind}"]`).click();
      // The PNG is drawn asynchronously (the SVG figure through a canvas).
      await panel.page.waitForFunction(() => window.__posted.filter((m: any) => m.type === 'export').length === 5);
      const exports = (await panel.posted()).filter((m: any) => m.type === 'export') as any[];
      assert.deepEqual(
        exports.map((m) => m.kind),
        ['csv', 'markdown', 'svg', 'html', 'png'],
      );
      assert.match(exports[4].dataUrl, /^data:image\/png;base64,/);
    });

    await t.test('screenshots in dark, light and high-contrast themes', async () => {
      await panel.page.locator(`tr[data-feature-id="${shownFeatures()[2].id}"]`).click();
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-dark.png'), fullPage: true });
      await panel.setTheme('light');
      const lightBackground = await panel.page.evaluate(() => {
        const canvas = document.querySelector('canvas');
        return Array.from(canvas.getContext('2d').getImageData(2, 2, 1, 1).data);
      });
      assert.deepEqual(lightBackground, [255, 255, 255, 255], 'the chart repaints with the light theme background');
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-light.png'), fullPage: true });
      await panel.setTheme('high-contrast');
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-high-contrast.png'), fullPage: true });
      await panel.setTheme('dark');
    });

    await t.test('a partial report shows the running banner and only the finished layers', async () => {
      const partial = structuredClone(report);
      partial.complete = false;
      partial.comparisons[0].layers = partial.comparisons[0].layers.slice(0, 2);
      await panel.send({ type: 'report', report: partial });
      await panel.page.waitForSelector('[data-testid="running-banner"]');
      for (const dataset of await chartPoints(panel)) assert.equal(dataset.points, 2);
      await panel.send({ type: 'report', report });
      await panel.page.waitForSelector('[data-testid="running-banner"]', { state: 'detached' });
    });

    await t.test('several fine-tunes are overlaid and can be toggled', async () => {
      await panel.send({ type: 'report', report: twoSfts });
      await panel.page.waitForSelector('vscode-checkbox[data-comparison="1"]');
      let datasets = await chartPoints(panel);
      assert.equal(datasets.length, 2 * METRIC_SERIES);
      assert.ok(datasets.some((d) => d.label === 'domain: dense cosine'));
      const summary = (await panel.page.locator('.summary').textContent()) ?? '';
      for (const profile of twoSfts.fine_tune_comparison!.profiles)
        assert.match(summary, new RegExp(`${profile.sft} peaks at layer ${profile.peak_layer}`));
      for (const dataset of datasets) assert.equal(dataset.points, twoSfts.comparisons[0].layers.length);
      await panel.page.locator('vscode-checkbox[data-comparison="1"]').click();
      datasets = await chartPoints(panel);
      assert.equal(datasets.length, METRIC_SERIES);
      assert.ok(datasets.every((d) => d.label.startsWith('refusal: ')));
      await choose(panel, 'Fine-tune', 'domain');
      const domainLayer = (await panel.page.evaluate(() => window.__state)).layer;
      const expected = twoSfts.comparisons[1].layers.find((l) => l.layer === domainLayer)!.shifted_features.map((f) => f.id);
      assert.deepEqual(await rowIds(panel), expected);
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-two-finetunes-dark.png'), fullPage: true });
    });

    await t.test('a restored panel reopens the saved view', async () => {
      const saved = await panel.page.evaluate(() => window.__state);
      const restored = await openPanel({ theme: 'light', savedState: saved });
      try {
        await restored.send({ type: 'report', report: twoSfts, source: saved.source });
        await restored.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
        assert.deepEqual(await rowIds(restored), await rowIds(panel));
        assert.equal(await restored.page.locator('vscode-dropdown[aria-label="Fine-tune"]').evaluate((d: any) => d.value), '1');
      } finally {
        await restored.close();
        assert.deepEqual(restored.problems, []);
      }
    });
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, [], 'no console errors, page errors, failed requests or CSP violations');
});

test('a large report (dozens of layers, thousands of features) stays responsive', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) {
    t.skip(missing);
    return;
  }
  const panel = await openPanel({ theme: 'dark' });
  try {
    // Built in the page from the real report (keeps 20 MB of JSON out of the test's IPC), then sent
    // through the same message path the extension uses.
    const timing: { transferMs: number; renderMs: number } = await panel.page.evaluate(
      ({ seed, layerCount, featureCount }) => {
        const big = structuredClone(seed);
        const template = big.comparisons[0].layers;
        big.comparisons[0].layers = Array.from({ length: layerCount }, (_, index) => {
          const from = template[index % template.length];
          const features = Array.from({ length: featureCount }, (_, i) => {
            const f = from.shifted_features[i % from.shifted_features.length];
            return {
              ...f,
              id: i,
              mean_abs_diff: f.mean_abs_diff / (1 + Math.floor(i / from.shifted_features.length)),
              contexts: i < 50 ? f.contexts : undefined,
            };
          });
          return { ...from, layer: index, shifted_features: features, shifted_count: featureCount };
        });
        const sent = performance.now();
        let received = 0;
        // A capture listener on window runs before the panel's own listener: it marks when cloning ends.
        window.addEventListener(
          'message',
          () => {
            received = performance.now();
          },
          { capture: true, once: true },
        );
        window.postMessage({ type: 'report', report: big }, '*');
        return new Promise((done) => {
          const check = () =>
            document.querySelector('table.feature-table tbody tr')
              ? done({ transferMs: received - sent, renderMs: performance.now() - received })
              : requestAnimationFrame(check);
          check();
        });
      },
      { seed: report, layerCount: 40, featureCount: 5000 },
    );
    t.diagnostic(
      `40 layers x 5000 features: message transfer ${Math.round(timing.transferMs)} ms, render ${Math.round(timing.renderMs)} ms`,
    );
    // Generous bound for a loaded 2-core CI box; the page-at-a-time check below is the structural one.
    assert.ok(timing.renderMs < 3000, `first render took ${timing.renderMs} ms`);
    assert.equal((await rowIds(panel)).length, 5000, 'the table holds every feature');
    const rendered = await panel.page.locator('table.feature-table tbody tr[data-feature-id]').count();
    assert.ok(rendered < 100, `only the rows in view are in the DOM (${rendered})`);
    for (const dataset of await chartPoints(panel)) assert.equal(dataset.points, 40);
    assert.match((await panel.page.locator('.table-status').textContent()) ?? '', /5000 of 5000 shifted features/);
    // Scrolled to the end, the last rows are rendered.
    await panel.page.locator('[data-testid="feature-scroll"]').evaluate((el: any) => {
      el.scrollTop = el.scrollHeight;
    });
    await panel.page.waitForFunction(() => document.querySelector('table.feature-table tbody tr[data-feature-id="4999"]'));
    const sortStart = Date.now();
    await panel.page.locator('th[data-column="id"] button').click();
    t.diagnostic(`sorting 5000 rows: ${Date.now() - sortStart} ms`);
    assert.ok(Date.now() - sortStart < 5000, 'sorting 5000 rows is quick');
    assert.deepEqual((await rowIds(panel)).slice(0, 3), [4999, 4998, 4997]);
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, []);
});
