/**
 * The live panel of a run, in headless Chromium with the extension's own HTML and bundle: the run's outline
 * (its first message) lays out the report's header, summary, chart and tables with the models and layers,
 * progress fills the banner, and the first partial report and the finished report fill that layout in place:
 * the sections do not move.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import type { RunOutline } from '../src/shared/reportMessages';
import { chromiumMissingReason, ensureWebviewBundle, openPanel, type PanelPage } from './helpers/browser';
import { TMP_DIR, refusalReport } from './helpers/engineReport';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any

let report: SaeDiffReport;
const OUTLINE: RunOutline = {
  base: 'base',
  sfts: ['sft-refusal'],
  layers: [0, 1, 2, 3, 4, 5],
  hookPoint: 'resid_post',
  report: 'out/demo.sae-report.json',
  maxSamples: 64,
};

before(() => {
  ensureWebviewBundle();
  report = refusalReport();
});

/** Where each section of the page starts (px from the top of the page). */
async function sectionTops(panel: PanelPage): Promise<Record<string, number>> {
  return panel.page.evaluate(() => {
    const top = (selector: string) => Math.round(document.querySelector(selector).getBoundingClientRect().top + window.scrollY);
    return {
      summary: top('.summary'),
      layerProfile: top('section.layer-profile'),
      chart: top('.chart-box'),
      metrics: top('.metrics-details'),
      features: top('section.features'),
    };
  });
}

test('the live panel shows the run from its first message and fills in without moving', { skip: chromiumMissingReason() }, async (t) => {
  const panel = await openPanel({ theme: 'dark' });
  try {
    await t.test('the outline: models, layers and report file at once, no "Loading report…"', async () => {
      await panel.send({ type: 'run', outline: OUTLINE });
      const header = panel.page.locator('[data-testid="run-header"]');
      await header.waitFor();
      assert.equal(await panel.page.locator('.placeholder', { hasText: 'Loading report' }).count(), 0);
      assert.equal((await header.locator('h1').innerText()).replace(/\s+/g, ' '), 'base → sft-refusal');
      assert.match(
        await header.locator('.run-facts').innerText(),
        /layers 0, 1, 2, 3, 4, 5 · resid_post · up to 64 prompts · report: out\/demo\.sae-report\.json/,
      );
      await panel.page.locator('[data-testid="running-banner"]', { hasText: 'Starting' }).waitFor();
      // nothing to export yet
      assert.equal(await panel.page.locator('vscode-button[data-export][disabled]').count(), 5);
      // the report's own sections are there already, so numbers arrive into a fixed layout
      for (const selector of ['.chart-box canvas', '.metrics-details', 'section.features', '.summary']) {
        assert.equal(await panel.page.locator(selector).count(), 1, selector);
      }
      await panel.page.screenshot({ path: join(TMP_DIR, 'live-outline.png') });
    });

    let before: Record<string, number>;
    await t.test('progress fills the banner line and bar', async () => {
      before = await sectionTops(panel);
      await panel.send({ type: 'progress', progress: { message: 'Batch 2/4: base (batch 1/4)', fraction: 0.25 } });
      await panel.page.locator('[data-testid="run-progress"]', { hasText: 'Batch 2/4: base' }).waitFor();
      assert.equal(await panel.page.evaluate(() => document.querySelector('progress.run-bar').value), 0.25);
    });

    await t.test('the first partial report fills the same layout; the progress line stays', async () => {
      const partial = structuredClone(report);
      partial.complete = false;
      for (const c of partial.comparisons) {
        for (const l of c.layers) {
          delete l.all_shifted;
          for (const f of l.shifted_features) delete f.contexts;
        }
      }
      await panel.send({ type: 'report', report: partial });
      await panel.page.locator('[data-testid="running-banner"]', { hasText: 'Run in progress' }).waitFor();
      assert.match(await panel.page.locator('[data-testid="run-progress"]').innerText(), /Batch 2\/4: base/);
      await panel.page.screenshot({ path: join(TMP_DIR, 'live-partial.png') });
      const after = await sectionTops(panel);
      assert.deepEqual(after, before, 'the chart, table and features start where they did');
    });

    await t.test("the finished report takes the banner's place and keeps the layout", async () => {
      await panel.send({ type: 'report', report });
      await panel.page.locator('[data-testid="finished-banner"]').waitFor();
      assert.equal(await panel.page.locator('[data-testid="running-banner"]').count(), 0);
      assert.equal(await panel.page.locator('vscode-button[data-export][disabled]').count(), 0, 'exports are offered');
      // the run's facts name the prompts file
      assert.match(
        await panel.page.locator('.report-header .run-facts').innerText(),
        /\d+ tokens from 64 prompts of chat\.jsonl · resid_post/,
      );
      const after = await sectionTops(panel);
      assert.equal(after.chart, before.chart, 'the chart starts where it did');
      await panel.page.screenshot({ path: join(TMP_DIR, 'live-finished.png') });
      // a Hugging Face dataset is named by its id and split
      const fromHub = structuredClone(report);
      fromHub.run.config.dataset = { ...fromHub.run.config.dataset!, path: 'HuggingFaceH4/ultrachat_200k', split: 'test_sft' };
      await panel.send({ type: 'report', report: fromHub });
      await panel.page.locator('.report-header .run-facts', { hasText: 'of HuggingFaceH4/ultrachat_200k (test_sft)' }).waitFor();
      // activations centred for SAEs trained on TransformerLens's centred stream are said so
      const centred = structuredClone(report);
      centred.run.saes = centred.run.saes.map((s) => (s.layer === 2 ? { ...s, centred: true } : s));
      await panel.send({ type: 'report', report: centred });
      await panel.page
        .locator('.report-header .run-facts', { hasText: 'resid_post centred as TransformerLens centres it (layer 2)' })
        .waitFor();
      // and attn_z without the value biases, for SAEs trained on TransformerLens's folded hook_z
      const folded = structuredClone(report);
      folded.run.hook_point = 'attn_z';
      folded.run.saes = folded.run.saes.map((s) => (s.layer <= 1 ? { ...s, value_biases_folded: true } : s));
      await panel.send({ type: 'report', report: folded });
      await panel.page
        .locator('.report-header .run-facts', { hasText: 'attn_z without the value biases, as TransformerLens folds them (layers 0, 1)' })
        .waitFor();
      // and so are prompts given the BOS the SAEs were trained with
      centred.run.bos_prepended = { token: '<|endoftext|>', prompts: 64 };
      await panel.send({ type: 'report', report: centred });
      await panel.page.locator('.report-header .run-facts', { hasText: '<|endoftext|> put first in 64' }).waitFor();
    });
    assert.deepEqual(panel.problems, []);
  } finally {
    await panel.close();
  }
});
