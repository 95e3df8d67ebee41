/**
 * Figure and sharing exports: the layer-profile SVG (one panel per metric, a line per fine-tune, text
 * escaped), the print PNG drawn from it in Chromium (3x, light background), and the standalone HTML report
 * (one offline file that renders the same rows as the panel, scripts limited by its CSP).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { layerProfileSvg, SVG_METRICS } from '../src/shared/layerProfileSvg';
import { allShiftedFeatures } from '../src/shared/featureColumns';
import { chromiumMissingReason, ensureWebviewBundle, openPanel, openStandaloneHtml } from './helpers/browser';
import { TMP_DIR, twoFineTuneReport } from './helpers/engineReport';

declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const Image: any; // eslint-disable-line @typescript-eslint/no-explicit-any

const HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
let report: SaeDiffReport;

before(() => {
  ensureWebviewBundle();
  report = twoFineTuneReport();
});

test('the SVG figure has a panel per metric, a line per fine-tune with the report values, and escaped text', () => {
  const copy = structuredClone(report);
  copy.comparisons[1].sft.name = HOSTILE;
  const svg = layerProfileSvg(copy);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes('<rect width="100%" height="100%" fill="#ffffff"/>'), 'light background');
  assert.ok(svg.includes(`SAE Diff layer profile: ${copy.base.name} → refusal, &lt;/script&gt;`), 'title with model names, escaped');
  assert.ok(!svg.includes('<script') && !svg.includes('<img'), 'no markup from the report');
  assert.equal((svg.match(/<g data-metric=/g) ?? []).length, SVG_METRICS.length);
  const lines = [...svg.matchAll(/<polyline data-sft="[^"]*"[^>]* points="([^"]*)"/g)].map((m) => m[1].split(' ').length);
  assert.deepEqual(
    lines,
    SVG_METRICS.flatMap(() => copy.comparisons.map((c) => c.layers.length)),
  );
  const flagged = copy.comparisons.reduce((n, c) => n + c.layers.filter((l) => l.flags.length).length, 0);
  assert.equal((svg.match(/r="4"/g) ?? []).length, flagged * SVG_METRICS.length, 'flagged layers have filled markers in every panel');
});

test('the print PNG is the SVG figure at 3x on a light background', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) return t.skip(missing);
  const panel = await openPanel({ theme: 'dark' });
  try {
    await panel.send({ type: 'report', report });
    await panel.page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
    await panel.page.locator('vscode-button[data-export="png"]').click();
    await panel.page.waitForFunction(() => window.__posted.some((m: any) => m.type === 'export' && m.kind === 'png'));
    const png = await panel.page.evaluate(async () => {
      const url = window.__posted.find((m: any) => m.kind === 'png').dataUrl;
      const image = new Image();
      await new Promise((done) => {
        image.onload = done;
        image.src = url;
      });
      const canvas = document.createElement('canvas');
      canvas.width = image.naturalWidth;
      canvas.height = image.naturalHeight;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(image, 0, 0);
      return { width: image.naturalWidth, height: image.naturalHeight, corner: Array.from(ctx.getImageData(3, 3, 1, 1).data) };
    });
    const size = layerProfileSvg(report).match(/width="(\d+)" height="(\d+)"/)!;
    assert.equal(png.width, 3 * Number(size[1]));
    assert.equal(png.height, 3 * Number(size[2]));
    assert.deepEqual(png.corner, [255, 255, 255, 255]);
  } finally {
    await panel.close();
  }
  assert.deepEqual(panel.problems, []);
});

test('the standalone HTML report renders offline with the same rows, and its CSP blocks any other script', async (t) => {
  const missing = chromiumMissingReason();
  if (missing) return t.skip(missing);
  const copy = structuredClone(report);
  copy.comparisons[0].layers.forEach((l) => {
    if (l.shifted_features[0]) l.shifted_features[0].label = HOSTILE;
  });
  const { page, problems, cspViolations, close } = await openStandaloneHtml(copy);
  try {
    await page.waitForSelector('table.feature-table tbody tr[data-feature-id]');
    const shown = [...copy.comparisons[0].layers].sort((a, b) => b.l1_divergence - a.l1_divergence)[0];
    assert.deepEqual(
      await page.evaluate(() => window.saeDiffView.rows()),
      allShiftedFeatures(shown).map((f) => f.id),
    );
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.ok(((await page.locator('#app').textContent()) ?? '').includes(HOSTILE), 'the hostile label is text');
    assert.equal(await page.locator('.export-buttons').isVisible(), false, 'no exports outside VS Code');
    assert.deepEqual(await cspViolations(), [], 'the page itself needs nothing the CSP forbids');
    // A script without the nonce, added by anything, does not run.
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__injected = 1';
      document.body.appendChild(s);
    });
    assert.equal(await page.evaluate(() => window.__injected), undefined);
    assert.deepEqual(await cspViolations(), ['script-src-elem']);
    await page.screenshot({ path: join(TMP_DIR, 'standalone-report.png'), fullPage: false });
  } finally {
    await close();
  }
  assert.deepEqual(problems, []);
});
