/**
 * The panel's glossary is docs/metrics.md's "## Glossary" section, carried into src/shared/glossary.generated.ts
 * by scripts/glossary.mjs; every flag and metric the report carries has an entry.
 */
import assert from 'node:assert/strict';
import { LAYER_METRIC_FIELDS } from '../src/shared/layerMetrics';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GLOSSARY, glossaryEntry } from '../src/shared/glossary';
import { flagReasons } from '../src/shared/flagReasons';
import { DEFAULT_THRESHOLDS } from '../src/shared/reportFindings';
import type { LayerReport } from '../src/shared/reportTypes';
import { REPO_ROOT } from './helpers/engineReport';

const docs = readFileSync(join(REPO_ROOT, 'docs', 'metrics.md'), 'utf8');
const GENERATOR = join(REPO_ROOT, 'scripts', 'glossary.mjs');
// the generator is an ES module; Node >= 20.19 (which ESLint 10 needs too) can require() it
const { parseGlossary } = require(GENERATOR) as { parseGlossary: (markdown: string, source?: string) => unknown[] };

test('src/shared/glossary.generated.ts is what scripts/glossary.mjs makes of docs/metrics.md', () => {
  const r = spawnSync(process.execPath, [GENERATOR, '--check'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('every entry of the glossary section of docs/metrics.md reaches the panel, definition and rule apart', () => {
  const section = docs.slice(docs.indexOf('\n## Glossary\n'));
  assert.equal(GLOSSARY.length, section.split('\n').filter((l) => l.startsWith('- **')).length);
  for (const entry of GLOSSARY) {
    const lines = `- **${entry.name}** (\`${entry.key}\`): ${entry.definition}\n${entry.rule ? `  ${entry.rule}\n` : ''}`;
    assert.ok(section.includes(lines), `docs/metrics.md lacks or changed: ${lines}`);
  }
  // the texts the panel showed before the glossary moved to docs/metrics.md
  assert.equal(
    glossaryEntry('layer flag', 'hidden_shift')!.rule,
    'dense_cosine ≥ cosine_threshold (default 0.95) and feature_overlap < overlap_threshold (default 0.5). Both must hold: a layer whose cosine is also low is not hidden, it is visibly changed.',
  );
  assert.equal(glossaryEntry('layer metric', 'l0_base')!.rule, undefined);
});

test('a glossary entry the generator cannot split into definition and rule is refused, naming the line', () => {
  const head = '## Glossary\n\n### Layer metrics\n\n';
  // a definition wrapped over two lines would silently become definition + rule
  assert.throws(
    () => parseGlossary(`${head}- **dense cosine** (\`dense_cosine\`): Mean over tokens of\n  the cosine.\n`, 'm.md'),
    /m\.md:5: the definition of 'dense_cosine' must end its first line with a full stop/,
  );
  assert.throws(() => parseGlossary(`${head}- **a** (\`a\`): A.\n  Rule.\n  More.\n`, 'm.md'), /m\.md:7: entry 'a' has a third line/);
  assert.throws(() => parseGlossary('## Glossary\n\n### Layer widgets\n', 'm.md'), /m\.md:3: unknown glossary heading '### Layer widgets'/);
  assert.throws(() => parseGlossary(`${head}- **a** (\`a\`): A.\n- **b** (\`a\`): B.\n`, 'm.md'), /'a' is defined twice/);
  assert.deepEqual(parseGlossary(`${head}- **a** (\`a\`): A.\n  Rule.\n`, 'm.md'), [
    { key: 'a', name: 'a', group: 'layer metric', definition: 'A.', rule: 'Rule.' },
  ]);
});

test('every layer metric, flag, category and feature statistic of the report has a glossary entry', () => {
  for (const key of LAYER_METRIC_FIELDS) assert.ok(glossaryEntry('layer metric', key), key);
  for (const key of ['hidden_shift', 'divergent', 'low_fidelity', 'coverage_drop']) assert.ok(glossaryEntry('layer flag', key), key);
  for (const key of ['emerged', 'vanished', 'amplified', 'suppressed']) assert.ok(glossaryEntry('feature category', key), key);
  for (const key of ['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'])
    assert.ok(glossaryEntry('feature statistic', key), key);
});

const layer = (values: Partial<LayerReport>): LayerReport => ({
  layer: 0,
  dense_cosine: 0.92,
  recon_cosine: 0.9,
  feature_overlap: 0.43,
  active_jaccard: 0.4,
  l1_divergence: 0.2,
  norm_ratio: 1,
  l0_base: 10,
  l0_sft: 10,
  explained_variance_base: 0.8,
  explained_variance_sft: 0.75,
  flags: [],
  shifted_count: 0,
  category_counts: { emerged: 0, vanished: 0, amplified: 0, suppressed: 0 },
  shifted_features: [],
  ...values,
});

test('a layer with low overlap but a cosine under the threshold says why it is not a hidden shift', () => {
  const reasons = flagReasons(layer({}), DEFAULT_THRESHOLDS);
  const hidden = reasons.find((r) => r.flag === 'hidden_shift')!;
  assert.equal(hidden.raised, false);
  assert.equal(
    hidden.because,
    'dense cosine 0.920 < 0.95 and overlap 0.430 < 0.5: the features changed, but so did the dense residual, so the change is not hidden',
  );
  assert.equal(reasons.find((r) => r.flag === 'divergent')!.because, 'L1 divergence 0.200 < 0.3');
  assert.equal(reasons.find((r) => r.flag === 'coverage_drop')!.because, 'EV drop 0.050 ≤ 0.1');
});

test('an unknown flag a newer engine wrote is listed as itself', () => {
  const reasons = flagReasons(layer({ flags: ['divergent', 'future_flag' as never], l1_divergence: 0.5 }), DEFAULT_THRESHOLDS);
  assert.deepEqual(
    reasons.filter((r) => r.raised).map((r) => r.flag),
    ['divergent', 'future_flag'],
  );
});
