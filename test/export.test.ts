/** CSV and Markdown exports of a report: numbers round-trip exactly, untrusted text stays inert. */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { SHIFTED_FEATURE_CSV_COLUMNS, reportToMarkdown, shiftedFeaturesToCsv } from '../src/shared/reportExport';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { parseCsv } from './helpers/csv';
import { allShiftedFeatures } from '../src/shared/featureColumns';
import { SELF_CHECK_FAILED_TEXT } from '../src/shared/reportTrust';
import { refusalReport, twoFineTuneReport } from './helpers/engineReport';
import { FAILING_LAYER_MESSAGE, REFERENCE_NAME, withTrustFields, withoutTrustFields } from './helpers/trustFields';

let report: SaeDiffReport;
let twoSfts: SaeDiffReport;

before(() => {
  report = refusalReport();
  twoSfts = twoFineTuneReport();
});

function featureRows(source: SaeDiffReport) {
  return source.comparisons.flatMap((c) =>
    c.layers.flatMap((l) => allShiftedFeatures(l).map((f) => ({ sft: c.sft.name, layer: l.layer, ...f }))),
  );
}

for (const [name, pick] of [
  ['one fine-tune', () => report],
  ['two fine-tunes', () => twoSfts],
] as const) {
  test(`CSV export round-trips every shifted feature of every layer (${name})`, () => {
    const source = pick();
    const [header, ...rows] = parseCsv(shiftedFeaturesToCsv(source));
    assert.deepEqual(header, [...SHIFTED_FEATURE_CSV_COLUMNS]);
    const expected = featureRows(source);
    assert.ok(expected.length > 0);
    // Every shifted feature, not only the listed top ones.
    const total = source.comparisons.reduce((n, c) => n + c.layers.reduce((m, l) => m + l.shifted_count, 0), 0);
    assert.equal(expected.length, total);
    assert.equal(rows.length, expected.length);
    rows.forEach((row, i) => {
      const cells = Object.fromEntries(header.map((column, j) => [column, row[j]]));
      const feature = expected[i];
      assert.equal(cells.sft, feature.sft);
      assert.equal(cells.category, feature.category);
      assert.equal(cells.label, feature.label ?? '');
      for (const column of ['layer', 'id', 'freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'] as const) {
        // Exact equality: the CSV must carry the full double, not a rounded display value.
        assert.equal(Number(cells[column]), feature[column], `row ${i} ${column}`);
      }
    });
  });
}

test('CSV export quotes text with commas, quotes and newlines, and defuses spreadsheet formulas', () => {
  const copy = structuredClone(report);
  const features = copy.comparisons[0].layers[0].shifted_features;
  features[0].label = 'a, "quoted"\nlabel';
  features[1].label = '=HYPERLINK("http://x")';
  features[2].mean_abs_diff = 1e-7 / 3;
  features[3].mean_base = 0.1 + 0.2;
  copy.comparisons[0].sft.name = 'sft, "v2"';
  const rows = parseCsv(shiftedFeaturesToCsv(copy));
  assert.equal(rows[1][3], 'a, "quoted"\nlabel');
  assert.equal(rows[2][3], `'=HYPERLINK("http://x")`);
  assert.equal(Number(rows[3][9]), 1e-7 / 3);
  assert.equal(Number(rows[4][7]), 0.1 + 0.2);
  assert.equal(rows[1][0], 'sft, "v2"');
  assert.ok(rows.every((row) => row.length === SHIFTED_FEATURE_CSV_COLUMNS.length));
});

test('Markdown summary lists the run, the findings and each layer', () => {
  const markdown = reportToMarkdown(twoSfts);
  assert.match(markdown, /^# SAE Diff report: base/);
  for (const comparison of twoSfts.comparisons) {
    assert.match(markdown, new RegExp(`^## ${comparison.sft.name}$`, 'm'));
    for (const layer of comparison.layers)
      assert.match(markdown, new RegExp(`^\\| ${layer.layer} \\| ${layer.dense_cosine.toFixed(3)} \\|`, 'm'));
  }
  assert.match(markdown, /Diverges most at layer \d/);
  assert.match(markdown, new RegExp(`Tokens evaluated: ${twoSfts.run.tokens}`));
  assert.doesNotMatch(markdown, /Partial report/);
  assert.match(markdown, /^## Fine-tunes compared$/m);
  for (const profile of twoSfts.fine_tune_comparison!.profiles)
    assert.match(markdown, new RegExp(`${profile.sft} peaks at layer ${profile.peak_layer}`));
});

test('Markdown summary keeps labels inert and marks partial reports', () => {
  const copy = structuredClone(report);
  copy.complete = false;
  copy.comparisons[0].layers[0].shifted_features[0].label = '<img src=x onerror=alert(1)> | *bold*';
  const markdown = reportToMarkdown(copy);
  assert.match(markdown, /Partial report/);
  assert.ok(markdown.includes('\\<img src=x onerror=alert(1)\\> \\| \\*bold\\*'));
  assert.doesNotMatch(markdown, /(^|[^\\])</m, 'every < is escaped');
});

test('Markdown summary of a report without trust fields mentions none of them', () => {
  const markdown = reportToMarkdown(withoutTrustFields(report));
  for (const text of [
    'self-check',
    'Significance',
    'noise floor',
    'Noise floor',
    'sig.',
    'inside dict.',
    'Parity',
    'Decomposition',
    'near threshold',
  ]) {
    assert.ok(!markdown.includes(text), text);
  }
  assert.match(
    markdown,
    /^\| layer \| dense cos \| recon cos \| overlap \| active J \| L1 div \| EV base \| EV sft \| shifted \| flags \|$/m,
  );
  assert.match(markdown, /^\| id \| label \| category \| freq base \| freq sft \| mean base \| mean sft \| mean abs diff \|$/m);
});

test('Markdown summary shows the self-check, parity, significance, noise floor and decomposition', () => {
  const layers = report.comparisons[0].layers;
  const [failing, floor] = [layers[0].layer, layers[1].layer];
  const trusted = withTrustFields(report, { failingLayer: failing, floorLayer: floor });
  const markdown = reportToMarkdown(trusted);
  const lines = markdown.split('\n');
  assert.ok(
    lines.indexOf(`> **${SELF_CHECK_FAILED_TEXT}**`) > 0 &&
      lines.indexOf(`> **${SELF_CHECK_FAILED_TEXT}**`) < lines.findIndex((l) => l.startsWith('- Base model')),
    'the self-check failure comes before the run facts',
  );
  assert.ok(lines.includes(`> - Layer ${failing}: ${FAILING_LAYER_MESSAGE}`));
  assert.ok(lines.includes('- Significance: Benjamini–Hochberg at a false discovery rate of 0.05'));
  assert.ok(markdown.includes(`- Noise floor: base vs ${REFERENCE_NAME}`));
  assert.ok(
    markdown.includes('> Parity warning: Chat templates differ between base and fine-tune \\<b\\>not markup\\</b\\>'),
    'parity warnings are escaped',
  );
  assert.match(markdown, /^\| layer \| .* \| flags \| significant \| inside dict\. \| noise floor \| self-check \|$/m);
  assert.match(markdown, new RegExp(`^\\| ${floor} \\| .* \\| \\d+ \\| 63% \\| within \\(suppressed: divergent\\) \\| ok \\|$`, 'm'));
  assert.match(markdown, new RegExp(`^\\| ${failing} \\| .* \\| above \\| FAILED \\|$`, 'm'));
  assert.match(markdown, /^\| id \| label \| category \| .* \| mean abs diff \| sig\. \| q \|$/m);
  assert.match(markdown, /⚠ near threshold/);
  assert.match(markdown, /^- Decomposition: inside the dictionary: 63% of ‖Δh‖²/m);
  assert.match(
    markdown,
    new RegExp(`Within the noise floor \\(base vs ${REFERENCE_NAME}\\), so not flagged: layer ${floor} \\(suppressed: divergent\\)\\.`),
  );
  assert.match(markdown, new RegExp(`SAE self-check failed at layer ${failing}`));
});

test('every CSV cell goes through the formula guard, numeric columns included', () => {
  const copy = withoutTrustFields(report);
  const feature = copy.comparisons[0].layers[0].shifted_features[0] as unknown as Record<string, unknown>;
  // A tampered report: text where numbers belong, with a formula and a comma that would shift the columns.
  for (const key of ['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff', 'id', 'category'])
    feature[key] = '=HYPERLINK("http://x","a,b")';
  (copy.comparisons[0].layers[0] as unknown as Record<string, unknown>).layer = '+cmd|calc';
  const rows = parseCsv(shiftedFeaturesToCsv(copy));
  assert.ok(
    rows.every((row) => row.length === SHIFTED_FEATURE_CSV_COLUMNS.length),
    'no column shifts',
  );
  const cells = Object.fromEntries(rows[0].map((column, j) => [column, rows[1][j]]));
  for (const key of ['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff', 'id', 'category'])
    assert.equal(cells[key], `'=HYPERLINK("http://x","a,b")`, key);
  assert.equal(cells.layer, "'+cmd|calc");
  // Real negative numbers are numbers, not formulas.
  const negative = structuredClone(report);
  negative.comparisons[0].layers[0].shifted_features[0].mean_base = -0.5;
  const [, first] = parseCsv(shiftedFeaturesToCsv(withoutTrustFields(negative)));
  assert.equal(first[SHIFTED_FEATURE_CSV_COLUMNS.indexOf('mean_base')], '-0.5');
});
