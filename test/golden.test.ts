import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { runCli } from './helpers/cli';
import { compareWithGolden } from './helpers/golden';
import { FIXTURES, scratchDir } from './helpers/paths';

const goldenDir = path.join(FIXTURES, 'golden');
const cases = fs
  .readdirSync(goldenDir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''));
const out = scratchDir('golden');
const reports = new Map<string, SaeDiffReport>();

function reportFor(name: string): SaeDiffReport {
  let r = reports.get(name);
  if (!r) {
    const file = path.join(out, `${name}.sae-report.json`);
    const res = runCli(['run', path.join(goldenDir, `${name}.yaml`), '--provider', 'cpu', '--out', file, '--quiet']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout.trim(), file);
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as SaeDiffReport;
    reports.set(name, r);
  }
  return r;
}

test('there are golden cases to check', () => {
  assert.equal(cases.length, 5);
});

for (const name of cases) {
  test(`CLI reproduces golden/${name}.json within docs/metrics.md tolerances`, () => {
    const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, `${name}.json`), 'utf8'));
    const report = reportFor(name);
    assert.equal(report.format, 'sae-diff-report');
    assert.equal(report.complete, true);
    assert.equal(report.run.tokens, golden.tokens, '|T|');
    assert.equal(report.comparisons.length, 1);
    assert.deepEqual(compareWithGolden(report.comparisons[0], golden), []);
    assert.equal(report.run.self_check_failed, false, 'the SAE self-check passes on every golden configuration');
  });
}

test('sft-late: the frozen layers 0-3 report dense_cosine 1, feature_overlap 1, l1_divergence 0', () => {
  for (const name of ['sft-late__domain', 'sft-late__general__custom']) {
    for (const layer of reportFor(name).comparisons[0].layers.filter((l) => l.layer <= 3)) {
      assert.equal(layer.dense_cosine, 1, `${name} layer ${layer.layer}`);
      assert.equal(layer.feature_overlap, 1);
      assert.equal(layer.l1_divergence, 0);
      assert.equal(layer.shifted_count, 0);
    }
  }
});

test('report has the fields docs/report-format.md requires', () => {
  const r = reportFor('sft-refusal__chat');
  assert.equal(r.version, 3);
  assert.equal(r.run.execution_provider, 'cpu');
  assert.ok(!Number.isNaN(Date.parse(r.run.started_at)));
  assert.ok(r.run.duration_s > 0);
  assert.ok(path.isAbsolute((r.run.config as any).dataset.path));
  assert.equal(r.base.name, 'base');
  assert.equal(r.comparisons[0].sft.name, 'sft-refusal');
  for (const l of r.comparisons[0].layers) {
    assert.equal(l.shifted_features.length, 50, 'top_features default 50');
    for (const f of l.shifted_features) {
      assert.ok(['emerged', 'vanished', 'amplified', 'suppressed'].includes(f.category));
      assert.ok(f.contexts && f.contexts.base.length <= 5 && f.contexts.sft.length <= 5);
    }
  }
});
