/** The panel's glossary (src/shared/glossary.ts) and docs/metrics.md say the same thing, and every flag and metric the report carries has an entry. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GLOSSARY, glossaryEntry } from '../src/shared/glossary';
import { flagReasons } from '../src/shared/flagReasons';
import { DEFAULT_THRESHOLDS } from '../src/shared/reportFindings';
import type { LayerReport } from '../src/shared/reportTypes';
import { REPO_ROOT } from './helpers/engineReport';

const docs = readFileSync(join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');

test('docs/metrics.md repeats every glossary entry word for word', () => {
  for (const entry of GLOSSARY) {
    const line = `- **${entry.name}** (\`${entry.key}\`): ${entry.definition}${entry.rule ? ` ${entry.rule}` : ''}`;
    assert.ok(docs.includes(line), `docs/metrics.md lacks or changed: ${line}`);
  }
});

test('every layer metric, flag, category and feature statistic of the report has a glossary entry', () => {
  const metrics = ['dense_cosine', 'recon_cosine', 'feature_overlap', 'active_jaccard', 'l1_divergence', 'norm_ratio', 'l0_base', 'l0_sft', 'explained_variance_base', 'explained_variance_sft'];
  for (const key of metrics) assert.ok(glossaryEntry('layer metric', key), key);
  for (const key of ['hidden_shift', 'divergent', 'low_fidelity', 'coverage_drop']) assert.ok(glossaryEntry('layer flag', key), key);
  for (const key of ['emerged', 'vanished', 'amplified', 'suppressed']) assert.ok(glossaryEntry('feature category', key), key);
  for (const key of ['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff']) assert.ok(glossaryEntry('feature statistic', key), key);
});

const layer = (values: Partial<LayerReport>): LayerReport => ({
  layer: 0, dense_cosine: 0.92, recon_cosine: 0.9, feature_overlap: 0.43, active_jaccard: 0.4, l1_divergence: 0.2, norm_ratio: 1,
  l0_base: 10, l0_sft: 10, explained_variance_base: 0.8, explained_variance_sft: 0.75, flags: [], shifted_count: 0,
  category_counts: { emerged: 0, vanished: 0, amplified: 0, suppressed: 0 }, shifted_features: [], ...values,
});

test('a layer with low overlap but a cosine under the threshold says why it is not a hidden shift', () => {
  const reasons = flagReasons(layer({}), DEFAULT_THRESHOLDS);
  const hidden = reasons.find((r) => r.flag === 'hidden_shift')!;
  assert.equal(hidden.raised, false);
  assert.equal(hidden.because, 'dense cosine 0.920 < 0.95 and overlap 0.430 < 0.5: the features changed, but so did the dense residual, so the change is not hidden');
  assert.equal(reasons.find((r) => r.flag === 'divergent')!.because, 'L1 divergence 0.200 < 0.3');
  assert.equal(reasons.find((r) => r.flag === 'coverage_drop')!.because, 'EV drop 0.050 ≤ 0.1');
});

test('an unknown flag a newer engine wrote is listed as itself', () => {
  const reasons = flagReasons(layer({ flags: ['divergent', 'future_flag' as never], l1_divergence: 0.5 }), DEFAULT_THRESHOLDS);
  assert.deepEqual(reasons.filter((r) => r.raised).map((r) => r.flag), ['divergent', 'future_flag']);
});
