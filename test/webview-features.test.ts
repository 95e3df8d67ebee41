/**
 * The panel over every shifted feature of a version-3 report, in headless Chromium: the virtual table,
 * the scatter and volcano plots (point counts and positions), clicking a point, the metric picker and
 * per-fine-tune flag bands; a hostile report (markup in every string) stays text; malformed reports show
 * an error box instead of a half-drawn page.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { FeatureColumns, LayerReport, SaeDiffReport } from '../src/shared/reportTypes';
import { allShiftedFeatures } from '../src/shared/featureColumns';
import { chromiumMissingReason, openPanel, type PanelPage, ensureWebviewBundle } from './helpers/browser';
import { TMP_DIR, refusalReport, twoFineTuneReport } from './helpers/engineReport';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

let report: SaeDiffReport;
let twoSfts: SaeDiffReport;
let shown: LayerReport;

before(() => {
  ensureWebviewBundle();
  report = refusalReport();
  twoSfts = twoFineTuneReport();
  shown = [...report.comparisons[0].layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0];
});

async function rowIds(panel: PanelPage): Promise<number[]> {
  return panel.page.evaluate(() => window.saeDiffView.rows());
}

async function plotPoints(
  panel: PanelPage,
  which: 'scatter' | 'volcano',
): Promise<{ label: string; points: { x: number; y: number; id: number }[] }[]> {
  return panel.page.evaluate(
    (name: string) => window.saeDiffView.plots()[name].data.datasets.map((d: any) => ({ label: d.label, points: d.data })),
    which,
  );
}

test('every shifted feature: table, scatter, volcano, picker, flag bands', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) {
    t.skip(missing);
    return;
  }
  const panel = await openPanel({ theme: 'dark' });
  try {
    await panel.send({ type: 'report', report, source: 'file:///reports/refusal.sae-report.json' });
    await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
    const features = allShiftedFeatures(shown);

    await t.test('the table holds every shifted feature of the layer, not only the listed top ones', async () => {
      assert.equal(report.version, 3);
      assert.ok(shown.shifted_count > shown.shifted_features.length, 'the fixture layer has more shifted features than are listed in full');
      assert.deepEqual(await rowIds(panel), shown.all_shifted!.id);
      assert.match(
        (await panel.page.locator('.table-status').textContent()) ?? '',
        new RegExp(`^${shown.shifted_count} of ${shown.shifted_count} shifted features`),
      );
      // Sort and filter work over all of them.
      await panel.page.locator('th[data-column="freq_sft"] button').click();
      const byFreqSft = [...features].sort((a, b) => b.freq_sft - a.freq_sft || a.id - b.id).map((f) => f.id);
      assert.deepEqual(await rowIds(panel), byFreqSft);
      await panel.page.locator('th[data-column="mean_abs_diff"] button').click();
      const unlisted = features[features.length - 1];
      await panel.page.locator('vscode-text-field.text-filter input').fill(String(unlisted.id));
      assert.ok((await rowIds(panel)).includes(unlisted.id), 'a feature beyond top_features is found by search');
      await panel.page.locator('vscode-text-field.text-filter input').fill('');
    });

    await t.test('the scatter has one point per feature at its two firing frequencies', async () => {
      const sets = await plotPoints(panel, 'scatter');
      assert.equal(
        sets.reduce((n, s) => n + s.points.length, 0),
        features.length,
      );
      const floor = 0.5 / report.run.tokens;
      for (const set of sets) {
        for (const point of set.points) {
          const f = features.find((g) => g.id === point.id)!;
          assert.equal(set.label, f.category);
          assert.equal(point.x, Math.max(f.freq_base, floor));
          assert.equal(point.y, Math.max(f.freq_sft, floor));
        }
      }
      const categories = new Set(features.map((f) => f.category));
      assert.deepEqual(new Set(sets.map((s) => s.label)), categories);
    });

    await t.test('the volcano plots mean change against -log10 q for every tested feature', async () => {
      const sets = await plotPoints(panel, 'volcano');
      const tested = features.filter((f) => f.q_value !== undefined);
      assert.equal(tested.length, features.length);
      assert.equal(
        sets.reduce((n, s) => n + s.points.length, 0),
        tested.length,
      );
      for (const point of sets.flatMap((s) => s.points)) {
        const f = features.find((g) => g.id === point.id)!;
        assert.equal(point.x, f.mean_sft - f.mean_base);
        // The browser's log10 may differ from Node's in the last bit.
        assert.ok(Math.abs(point.y - (f.q_value! > 0 ? -Math.log10(f.q_value!) : 320)) < 1e-12, `feature ${f.id}`);
      }
    });

    await t.test('clicking a point in the scatter opens that feature', async () => {
      const target = await panel.page.evaluate(() => {
        const chart = window.saeDiffView.plots().scatter;
        // The last dataset's last point: take its pixel position from Chart.js's own layout.
        const di = chart.data.datasets.length - 1;
        const meta = chart.getDatasetMeta(di);
        const element = meta.data[meta.data.length - 1];
        const box = chart.canvas.getBoundingClientRect();
        return { id: chart.data.datasets[di].data[meta.data.length - 1].id, x: box.left + element.x, y: box.top + element.y };
      });
      await panel.page.mouse.click(target.x, target.y);
      await panel.page.waitForSelector('.feature-detail[data-feature-id]');
      const opened = Number(await panel.page.locator('.feature-detail').getAttribute('data-feature-id'));
      // Points may overlap: the opened feature is one drawn at that pixel.
      const sets = await plotPoints(panel, 'scatter');
      const at = sets.flatMap((s) => s.points).find((p) => p.id === target.id)!;
      const hit = sets.flatMap((s) => s.points).find((p) => p.id === opened)!;
      assert.ok(
        hit && Math.abs(Math.log10(hit.x / at.x)) < 0.1 && Math.abs(Math.log10(hit.y / at.y)) < 0.1,
        `opened ${opened}, clicked ${target.id}`,
      );
      assert.equal((await panel.page.evaluate(() => window.__state)).selectedFeature, opened);
      // both plots ring the opened feature's point (drawn over the plot, not by restyling every point)
      assert.deepEqual(
        await panel.page.evaluate(() => {
          const plots = window.saeDiffView.plots();
          return [plots.scatter.canvas.dataset.selectedFeature, plots.volcano.canvas.dataset.selectedFeature];
        }),
        [String(opened), String(opened)],
      );
      assert.equal(
        await panel.page.locator(`tr[data-feature-id="${opened}"]`).getAttribute('aria-selected'),
        'true',
        'the table scrolls the feature into view and selects it',
      );
    });

    await t.test('the feature page shows token heat maps with the report activations, logit effects and the prompt on demand', async () => {
      const feature = shown.shifted_features[0];
      await panel.page.locator('th[data-column="mean_abs_diff"] button').click(); // ascending
      await panel.page.locator('th[data-column="mean_abs_diff"] button').click(); // descending: the top feature first
      await panel.page.locator(`tr[data-feature-id="${feature.id}"]`).click();
      await panel.page.waitForSelector(`.feature-detail[data-feature-id="${feature.id}"]`);
      for (const side of ['base', 'sft'] as const) {
        const shownContexts = await panel.page.$$eval(`.context-column[data-side="${side}"] li.context`, (items: any[]) =>
          items.map((item) => ({
            tokens: Array.from(item.querySelectorAll('.heat-map > *')).map((t: any) => t.textContent),
            activations: Array.from(item.querySelectorAll('.heat-map > *')).map((t: any) => Number(t.dataset.activation)),
            focus: Array.from(item.querySelectorAll('.heat-map > *')).findIndex((t: any) => t.classList.contains('focus')),
            prompt: item.querySelector('details.prompt pre')?.textContent,
          })),
        );
        // Contexts with the same near text are shown once.
        const expected = feature.contexts![side].filter((c) => c.duplicate_of === undefined);
        assert.equal(shownContexts.length, expected.length);
        shownContexts.forEach((c, i) => {
          assert.deepEqual(
            c.tokens,
            expected[i].tokens!.map((t) => t.replace(/\r?\n/g, '↵').replace(/\t/g, '⇥') || '∅'),
          );
          assert.deepEqual(c.activations, expected[i].activations);
          assert.equal(c.focus, expected[i].focus);
          assert.equal(c.prompt, report.prompts![String(expected[i].sample)]);
        });
      }
      // The prompt opens on demand.
      const details = panel.page.locator('.context-column[data-side="sft"] details.prompt').first();
      assert.equal(await details.evaluate((d: any) => d.open), false);
      await details.locator('summary').click();
      assert.equal(await details.evaluate((d: any) => d.open), true);
      const logits = await panel.page.$$eval('[data-testid="logit-effects"] [data-side="promoted"] li', (lis: any[]) =>
        lis.map((li) => li.title.split(':')[0]),
      );
      assert.deepEqual(
        logits,
        feature.logit_effects!.promoted.map((e) => `token id ${e.id}`),
      );
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-feature-page-dark.png'), fullPage: true });
    });

    await t.test('the layer says why each flag is or is not raised', async () => {
      const items = await panel.page.$$eval('[data-testid="layer-trust"] [data-flag]', (lis: any[]) =>
        lis.map((li) => ({ flag: li.dataset.flag, text: li.textContent, title: li.title })),
      );
      assert.deepEqual(
        items.map((i) => i.flag),
        ['hidden_shift', 'divergent', 'low_fidelity', 'coverage_drop'],
      );
      for (const item of items) {
        assert.equal(item.text.startsWith('⚑'), shown.flags.includes(item.flag as never), item.text);
        assert.ok(item.title.length > 20, 'each flag has its rule on hover');
      }
      assert.equal((await panel.page.locator('[data-testid="glossary"] dt').count()) > 20, true);
    });

    await t.test('the metric picker shows one metric, one line per fine-tune, with flag codes of every fine-tune', async () => {
      await panel.send({ type: 'report', report: twoSfts });
      await panel.page.waitForSelector('vscode-checkbox[data-comparison="1"]');
      await panel.page.locator('vscode-dropdown[aria-label="Chart metric"]').click();
      await panel.page.locator('vscode-dropdown[aria-label="Chart metric"] vscode-option', { hasText: 'L1 divergence' }).first().click();
      const datasets = await panel.page.evaluate(() =>
        window.saeDiffView.chart.data.datasets.map((d: any) => ({ label: d.label, data: d.data, color: d.borderColor })),
      );
      assert.deepEqual(
        datasets.map((d: any) => d.label),
        twoSfts.comparisons.map((c) => c.sft.name),
      );
      twoSfts.comparisons.forEach((c, i) =>
        assert.deepEqual(
          datasets[i].data,
          c.layers.map((l) => l.l1_divergence),
        ),
      );
      assert.notEqual(datasets[0].color, datasets[1].color);
      const bands = await panel.page.evaluate(() => window.saeDiffView.layerChart.decorations.bands.map((b: any) => b.codes));
      const expected = twoSfts.comparisons[0].layers.map((_, li) =>
        twoSfts.comparisons
          .filter((c) => c.layers[li].flags.length > 0)
          .map(
            (c) =>
              `${c.sft.name}: ${c.layers[li].flags.map((f) => ({ hidden_shift: 'HS', divergent: 'DIV', low_fidelity: 'LF', coverage_drop: 'CD' })[f]).join(' ')}`,
          ),
      );
      assert.deepEqual(bands, expected);
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-metric-picker-dark.png'), fullPage: true });
    });
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, [], 'no console errors, page errors, failed requests or CSP violations');
});

const MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold</b><script>window.__pwned=2</script>';

/** Every string in the report (names, labels, warnings, contexts, flags, categories, config) becomes markup, except the format tag. */
function hostile(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return key === 'format' ? value : `${MARKUP}${value}`;
  if (Array.isArray(value)) return value.map((v) => hostile(v, key));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, hostile(v, k)]));
  return value;
}

test('a hostile report renders every string as text, and malformed reports show an error box', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) {
    t.skip(missing);
    return;
  }
  const panel = await openPanel({ theme: 'light' });
  try {
    await t.test('markup in every string stays text', async () => {
      const bad = hostile(report) as SaeDiffReport;
      bad.comparisons[0].layers[0].shifted_features[0].label = MARKUP;
      await panel.send({ type: 'report', report: bad });
      await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
      const layerOf = bad.comparisons[0].layers[0].layer;
      await panel.page.locator('vscode-dropdown[aria-label="Layer"]').click();
      await panel.page.locator('vscode-dropdown[aria-label="Layer"] vscode-option').nth(0).click();
      await panel.page.locator('table.feature-table tbody tr[data-feature-id]').first().click();
      await panel.page.waitForSelector('.feature-detail[data-feature-id]');
      assert.equal(await panel.page.locator('#app img').count(), 0);
      assert.equal(await panel.page.locator('#app script').count(), 0);
      assert.equal(await panel.page.locator('#app b:text-is("bold")').count(), 0, 'no <b> from the report');
      assert.ok(((await panel.page.locator('#app').textContent()) ?? '').includes(MARKUP), 'the markup is shown as text');
      assert.equal(await panel.page.evaluate(() => window.__pwned), undefined);
      assert.equal(await panel.page.locator('.error-box').count(), 0, `layer ${layerOf} rendered`);
      await panel.page.screenshot({ path: join(TMP_DIR, 'report-hostile-light.png'), fullPage: true });
    });

    const mutations: [string, (r: any) => unknown][] = [
      [
        'flags is a string',
        (r) => {
          r.comparisons[0].layers[0].flags = 'x';
        },
      ],
      [
        'shifted_features is null',
        (r) => {
          r.comparisons[0].layers[0].shifted_features = null;
        },
      ],
      [
        'a null layer',
        (r) => {
          r.comparisons[0].layers[1] = null;
        },
      ],
      [
        'a missing sft',
        (r) => {
          delete r.comparisons[0].sft;
        },
      ],
      [
        'warnings is not a list',
        (r) => {
          r.run.warnings = 'oops';
        },
      ],
      [
        'duration_s is a string',
        (r) => {
          r.run.duration_s = '12';
        },
      ],
      ['only run and base', () => ({ format: 'sae-diff-report', version: 2, run: {}, base: {} })],
      [
        'contexts that are not objects',
        (r) => {
          r.comparisons[0].layers[0].shifted_features[0].contexts = { base: [1, 2], sft: 'x' };
        },
      ],
      [
        'all_shifted columns of different lengths',
        (r) => {
          r.comparisons[0].layers[0].all_shifted.freq_base.pop();
        },
      ],
      [
        'a newer version',
        (r) => {
          r.version = 99;
        },
      ],
    ];
    // the report cut to its first two layers (what the mutations touch) and their first ten listed features:
    // each case renders it twice
    const slim = structuredClone(report);
    for (const c of slim.comparisons) c.layers = c.layers.slice(0, 2).map((l) => keepListed(l, 10));
    for (const [name, mutate] of mutations) {
      await t.test(`malformed: ${name} shows an error box`, async () => {
        const copy = structuredClone(slim) as any;
        const replaced = mutate(copy);
        await panel.send({ type: 'report', report: (replaced ?? copy) as SaeDiffReport });
        await panel.page.waitForSelector('.error-box');
        const text = (await panel.page.locator('.error-box').textContent()) ?? '';
        assert.match(text, /Cannot show this report/);
        // Recover: the next good report renders.
        await panel.send({ type: 'report', report: slim });
        await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
        assert.equal(await panel.page.locator('.error-box').count(), 0);
      });
    }

    await t.test('an unknown flag (a newer engine) is shown as itself', async () => {
      const copy = structuredClone(slim);
      (copy.comparisons[0].layers[0].flags as string[]).push('future_flag');
      await panel.send({ type: 'report', report: copy });
      await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
      const bands = await panel.page.evaluate(() => window.saeDiffView.layerChart.decorations.bands.map((b: any) => b.codes.join(' ')));
      assert.match(bands[0], /future_flag/);
      assert.equal(await panel.page.locator('.error-box').count(), 0);
    });
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, [], 'no console errors, page errors, failed requests or CSP violations');
});

/** A layer with only its first `n` listed features, and only their rows in all_shifted and activation_histograms. */
function keepListed(layer: LayerReport, n: number): LayerReport {
  const listed = layer.shifted_features.slice(0, n);
  const ids = new Set(listed.map((f) => f.id));
  const out: LayerReport = { ...layer, shifted_features: listed };
  if (layer.all_shifted) {
    const rows = layer.all_shifted.id.flatMap((id, i) => (ids.has(id) ? [i] : []));
    out.all_shifted = Object.fromEntries(
      Object.entries(layer.all_shifted).map(([key, column]) => [key, rows.map((i) => (column as unknown[])[i])]),
    ) as unknown as FeatureColumns;
  }
  if (layer.activation_histograms) {
    const h = layer.activation_histograms;
    const rows = h.id.flatMap((id, i) => (ids.has(id) ? [i] : []));
    out.activation_histograms = {
      edges: h.edges,
      id: rows.map((i) => h.id[i]),
      base: rows.map((i) => h.base[i]),
      sft: rows.map((i) => h.sft[i]),
    };
  }
  return out;
}
