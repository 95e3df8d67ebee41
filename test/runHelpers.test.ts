// The pure pieces of the editor run: settings precedence, config detection, progress text, throttling, cleanup, errors.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { SaeDiffError } from '../src/engine/core/errors';
import { CUDA_INSTALL_HINT } from '../src/engine/runtime/providers';
import { PartialReportThrottle } from '../src/engine/worker/partialThrottle';
import { toWorkerError } from '../src/engine/worker/runJob';
import { effectiveRunSettings, runtimeSectionOf } from '../src/engine/worker/runSettings';
import { withoutContexts } from '../src/engine/worker/slimPartialReport';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { isConfigFileName, pipelineRootLine } from '../src/engine/config/configFileRule';
import { progressFraction, progressMessage, progressShort } from '../src/extension/run/progressText';
import { timeLeftText } from '../src/engine/pipeline/progress';
import { removeReportTempFiles } from '../src/extension/run/reportTempFiles';

describe('effectiveRunSettings: overrides > config file runtime > editor settings', () => {
  const defaults = { provider: 'cuda' as const, fallback: true, batchSize: 8, threads: 4 };

  test('editor settings apply where the file is silent', () => {
    assert.deepEqual(effectiveRunSettings(undefined, defaults), { provider: 'cuda', fallback: true, batchSize: 8, threads: 4 });
    assert.deepEqual(effectiveRunSettings({ max_tokens: 64 }, defaults), { provider: 'cuda', fallback: true, batchSize: 8, threads: 4 });
  });

  test('keys the file sets are not passed, so the file wins', () => {
    const file = { execution_provider: 'cpu', fallback: false, batch_size: 2, threads: 1 };
    assert.deepEqual(effectiveRunSettings(file, defaults), {});
    assert.deepEqual(effectiveRunSettings({ batch_size: 2 }, defaults), { provider: 'cuda', fallback: true, threads: 4 });
  });

  test('overrides win over the file (the "Run on CPU" retry)', () => {
    assert.deepEqual(effectiveRunSettings({ execution_provider: 'cuda' }, defaults, { provider: 'cpu', outPath: '/r.json' }), {
      provider: 'cpu',
      fallback: true,
      batchSize: 8,
      threads: 4,
      outPath: '/r.json',
    });
  });

  test('runtimeSectionOf reads diagnostic_pipeline.runtime only when it is a mapping', () => {
    assert.deepEqual(runtimeSectionOf({ diagnostic_pipeline: { runtime: { batch_size: 3 } } }), { batch_size: 3 });
    assert.equal(runtimeSectionOf({ diagnostic_pipeline: { runtime: [1] } }), undefined);
    assert.equal(runtimeSectionOf({ other: {} }), undefined);
    assert.equal(runtimeSectionOf(null), undefined);
  });
});

describe('config files', () => {
  test('names and root key', () => {
    assert.ok(isConfigFileName('/a/x.sae-diff.yaml'));
    assert.ok(isConfigFileName('x.SAE-DIFF.yml'));
    assert.ok(!isConfigFileName('x.yaml'));
    assert.equal(pipelineRootLine('# c\ndiagnostic_pipeline:\n  models: {}'), 1);
    assert.equal(pipelineRootLine('other:\n  diagnostic_pipeline: 1'), -1);
    assert.equal(pipelineRootLine('# c\n\ndiagnostic_pipeline :\n'), 2);
    assert.equal(pipelineRootLine('a: 1'), -1);
  });
});

describe('progress text', () => {
  test('model, message, batches and throughput', () => {
    const e = {
      stage: 'forward' as const,
      message: 'Batch 3/8: sft-refusal',
      model: 'sft-refusal',
      batchesDone: 2,
      batchesTotal: 8,
      tokensPerSecond: 1234.6,
    };
    assert.equal(progressMessage(e), 'Batch 3/8: sft-refusal (batch 2/8, 1,235 tok/s)');
    assert.equal(progressMessage({ ...e, secondsLeft: 250 }), 'Batch 3/8: sft-refusal (batch 2/8, 1,235 tok/s, about 4 min left)');
    assert.equal(progressMessage({ stage: 'load', message: 'Loading', model: 'base' }), 'base: Loading');
    assert.equal(progressShort(e), 'forward 2/8');
    assert.equal(progressShort({ stage: 'load', message: 'x' }), 'load');
    // the live panel's bar: unknown while loading, the batches' share during the run, full once writing
    assert.equal(progressFraction({ stage: 'load', message: 'x' }), undefined);
    assert.equal(progressFraction(e), 0.25);
    assert.equal(progressFraction({ stage: 'report', message: 'x', batchesDone: 8, batchesTotal: 8 }), 1);
  });
});

test('the time left reads as an estimate, rounded as much as it deserves', () => {
  const cases: [number, string][] = [
    [3, 'a few seconds left'],
    [12, 'about 10 s left'],
    [47, 'about 45 s left'],
    [89, 'about 90 s left'],
    [95, 'about 2 min left'],
    [59 * 60, 'about 59 min left'],
    [3600, 'about 1 h left'],
    [2 * 3600 + 14 * 60, 'about 2 h 10 min left'],
    [3 * 3600 + 58 * 60, 'about 4 h left'],
  ];
  for (const [seconds, text] of cases) assert.equal(timeLeftText(seconds), text, `${seconds} s`);
});

describe('PartialReportThrottle', () => {
  test('sends the first at once, then only the latest per interval, and nothing after drop', async () => {
    const sent: unknown[] = [];
    const t = new PartialReportThrottle((r) => sent.push(r), 40);
    t.push(1);
    t.push(2);
    t.push(3);
    assert.deepEqual(sent, [1]);
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(sent, [1, 3]);
    t.push(4);
    t.drop();
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(sent, [1, 3]);
  });
});

describe('removeReportTempFiles', () => {
  test('removes only <report>.tmp-* beside the report', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sae-diff-tmp-'));
    const report = path.join(dir, 'r.sae-report.json');
    for (const f of ['r.sae-report.json', 'r.sae-report.json.tmp-1-abc', 'r.sae-report.json.tmp-2-def', 'other.json.tmp-1-x'])
      fs.writeFileSync(path.join(dir, f), '');
    assert.equal(removeReportTempFiles(report).length, 2);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['other.json.tmp-1-x', 'r.sae-report.json']);
    assert.deepEqual(removeReportTempFiles(path.join(dir, 'missing-dir', 'r.json')), []);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('toWorkerError', () => {
  test('SaeDiffError keeps its formatted message and location', () => {
    const e = new SaeDiffError('Bad key', { location: { file: '/c.yaml', line: 3, column: 5, key: 'sae.k' } });
    assert.deepEqual(toWorkerError(e), {
      message: '/c.yaml:3:5: Bad key (key sae.k).',
      location: e.location,
      cudaBinariesMissing: undefined,
    });
  });

  test('missing CUDA binaries are flagged for the CPU retry', () => {
    assert.equal(
      toWorkerError(new SaeDiffError(`Execution provider 'cuda' is not available: ${CUDA_INSTALL_HINT}`)).cudaBinariesMissing,
      true,
    );
  });

  test('out-of-memory errors say what to lower', () => {
    assert.match(toWorkerError(new RangeError('Array buffer allocation failed')).message, /^Out of memory: .*runtime\.batch_size/);
    assert.deepEqual(toWorkerError(new Error('boom')), { message: 'boom' });
  });
});

describe('withoutContexts', () => {
  test('drops the activating contexts of every feature without touching the input', () => {
    const ctx = { base: [{ activation: 1, sample: 0, position: 1, before: 'a', token: 'b', after: 'c' }], sft: [] };
    const feature = { id: 3, category: 'emerged', freq_base: 0, freq_sft: 0.1, mean_base: 0, mean_sft: 1, mean_abs_diff: 1, contexts: ctx };
    const columns = { id: [3], category: ['emerged'], freq_base: [0], freq_sft: [0.1], mean_base: [0], mean_sft: [1], mean_abs_diff: [1] };
    const histograms = { edges: [1], id: [3], base: [[0, 0]], sft: [[1, 2]] };
    const report = {
      complete: false,
      comparisons: [
        {
          sft: { name: 's', path: '/s' },
          layers: [{ layer: 0, shifted_features: [feature], all_shifted: columns, activation_histograms: histograms }],
        },
      ],
    } as unknown as SaeDiffReport;
    const slim = withoutContexts(report);
    assert.equal('contexts' in slim.comparisons[0].layers[0].shifted_features[0], false);
    assert.equal('all_shifted' in slim.comparisons[0].layers[0], false, 'the columns of every feature come with the final report');
    assert.equal('activation_histograms' in slim.comparisons[0].layers[0], false, 'so do their histograms');
    assert.equal(report.comparisons[0].layers[0].activation_histograms, histograms);
    assert.equal(report.comparisons[0].layers[0].all_shifted, columns);
    assert.equal(slim.comparisons[0].layers[0].shifted_features[0].id, 3);
    assert.equal(report.comparisons[0].layers[0].shifted_features[0].contexts, ctx);
  });
});
