/** "Compare Reports" in headless Chromium: three checkpoint reports give layer profiles together, curves over steps, and per-layer shared/unique shifted features. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { allShiftedFeatures } from '../src/shared/featureColumns';
import { trainingStep } from '../src/shared/compareReports';
import { chromiumMissingReason, ensureWebviewBundle, openPanel } from './helpers/browser';
import { TMP_DIR, refusalReport, twoFineTuneReport } from './helpers/engineReport';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

let checkpoints: { file: string; report: SaeDiffReport }[];

before(() => {
  ensureWebviewBundle();
  const refusal = refusalReport();
  const two = twoFineTuneReport();
  // Three "checkpoints": the refusal run, and the two fine-tunes of the other run as later steps.
  const single = (report: SaeDiffReport, index: number, step: number): SaeDiffReport => {
    const copy = structuredClone(report);
    copy.comparisons = [copy.comparisons[index]];
    copy.comparisons[0].sft = { name: copy.comparisons[0].sft.name, path: `/runs/sft/checkpoint-${step}` };
    return copy;
  };
  checkpoints = [
    { file: 'c300.sae-report.json', report: single(two, 1, 300) },
    { file: 'c100.sae-report.json', report: single(refusal, 0, 100) },
    { file: 'c200.sae-report.json', report: single(two, 0, 200) },
  ];
});

test('training steps are read from checkpoint paths', () => {
  assert.equal(trainingStep('/runs/x/checkpoint-1500'), 1500);
  assert.equal(trainingStep('global_step_2000/model'), 2000);
  assert.equal(trainingStep('seed-3'), undefined);
});

test('Compare Reports shows profiles together, curves over steps and shared features', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) return t.skip(missing);
  const panel = await openPanel({ theme: 'dark' });
  try {
    await panel.send({ type: 'compare', reports: checkpoints });
    await panel.page.waitForSelector('[data-testid="overlap-table"]');
    const profile = await panel.page.evaluate(() =>
      window.saeDiffView.compare.profile.data.datasets.map((d: any) => ({ label: d.label, data: d.data })),
    );
    assert.deepEqual(
      profile.map((d: any) => d.label),
      checkpoints.map((c) => c.file),
    );
    checkpoints.forEach((c, i) =>
      assert.deepEqual(
        profile[i].data,
        c.report.comparisons[0].layers.map((l) => l.l1_divergence),
      ),
    );
    const steps = await panel.page.evaluate(() =>
      window.saeDiffView.compare.steps.data.datasets.map((d: any) => ({ label: d.label, data: d.data })),
    );
    const layers = checkpoints[0].report.comparisons[0].layers;
    assert.equal(steps.length, layers.length);
    const ordered = [...checkpoints].sort(
      (a, b) => trainingStep(a.report.comparisons[0].sft.path)! - trainingStep(b.report.comparisons[0].sft.path)!,
    );
    layers.forEach((layer, li) =>
      assert.deepEqual(
        steps[li].data,
        ordered.map((c) => ({ x: trainingStep(c.report.comparisons[0].sft.path), y: c.report.comparisons[0].layers[li].l1_divergence })),
      ),
    );
    for (const layer of layers) {
      const sets = checkpoints.map(
        (c) => new Set(allShiftedFeatures(c.report.comparisons[0].layers.find((l) => l.layer === layer.layer)!).map((f) => f.id)),
      );
      const shared = [...sets[0]].filter((id) => sets[1].has(id) && sets[2].has(id)).length;
      const cell = await panel.page.locator(`[data-testid="overlap-table"] tr[data-layer="${layer.layer}"] td[data-shared]`).textContent();
      assert.equal(Number(cell), shared);
      const first = await panel.page
        .locator(`[data-testid="overlap-table"] tr[data-layer="${layer.layer}"] td[data-entry="0"]`)
        .textContent();
      assert.match(first ?? '', new RegExp(`^${sets[0].size} \\(`));
    }
    await panel.page.screenshot({ path: join(TMP_DIR, 'compare-dark.png'), fullPage: true });
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, []);
});
