// Drives the RunController (the editor's run orchestration) against the real fixtures, in plain node.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProgressEvent } from '../src/engine/pipeline/progress';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import type { RunOutline } from '../src/shared/reportMessages';
import { cudaBinariesInstalled } from '../src/engine/runtime/providers';
import type { RunRequest } from '../src/engine/worker/messages';
import { ProviderInfo, RunController, RunEvents } from '../src/extension/run/runController';

const REPO = path.resolve(__dirname, '../..');
const FIXTURES = path.join(REPO, 'test/fixtures/tiny-llama');
const TMP = path.join(REPO, 'test/.tmp', `run-${process.pid}`);

/** A config with absolute fixture paths (like golden/sft-refusal__chat.yaml) in its own folder. */
function writeConfig(name: string, runtime = '{ max_tokens: 64 }', extra = ''): { configPath: string; reportPath: string } {
  const dir = path.join(TMP, name);
  fs.mkdirSync(dir, { recursive: true });
  const configPath = path.join(dir, `${name}.sae-diff.yaml`);
  const reportPath = path.join(dir, 'out', `${name}.sae-report.json`);
  fs.writeFileSync(
    configPath,
    [
      'diagnostic_pipeline:',
      `  models: { base: "${FIXTURES}/base", sft: "${FIXTURES}/sft-refusal" }`,
      `  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }`,
      '  layers: { target_indices: [0, 1, 2, 3, 4, 5], hook_mode: "forward" }',
      `  dataset: { path: "${FIXTURES}/eval/chat.jsonl", max_samples: 64 }`,
      `  runtime: ${runtime}`,
      `  output: { format: "json", save_path: "out/${name}.sae-report.json" }`,
      extra,
    ].join('\n'),
  );
  return { configPath, reportPath };
}

/** Collects every event of a run. */
function recorder(): RunEvents & {
  progress: ProgressEvent[];
  logs: string[];
  partials: unknown[];
  provider?: ProviderInfo;
  pid?: number;
  reportPath?: string;
  outline?: RunOutline;
} {
  const r: ReturnType<typeof recorder> = {
    progress: [],
    logs: [],
    partials: [],
    onStarted: (i) => {
      r.pid = i.pid;
      r.reportPath = i.reportPath;
      r.outline = i.outline;
    },
    onProvider: (p) => {
      r.provider = p;
    },
    onProgress: (e) => r.progress.push(e),
    onLog: (l) => r.logs.push(l),
    onPartialReport: (p) => r.partials.push(p),
  };
  return r;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function tempFilesBeside(file: string): string[] {
  const dir = path.dirname(file);
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => n.startsWith(`${path.basename(file)}.tmp-`)) : [];
}

const CPU_DEFAULTS: RunRequest['defaults'] = { provider: 'cpu', fallback: true, batchSize: 16 };

describe('RunController', () => {
  before(() => fs.mkdirSync(TMP, { recursive: true }));
  after(() => fs.rmSync(TMP, { recursive: true, force: true }));

  test('a full run writes the report and streams progress, provider, log and partial reports', async () => {
    const { configPath, reportPath } = writeConfig('full');
    const controller = new RunController();
    const events = recorder();
    const outcome = await controller.run({ configPath, defaults: CPU_DEFAULTS }, events);

    assert.deepEqual(outcome, { kind: 'done', reportPath });
    const report: SaeDiffReport = JSON.parse(fs.readFileSync(reportPath, 'utf8'));
    assert.equal(report.format, 'sae-diff-report');
    assert.equal(report.complete, true);
    assert.equal(report.comparisons[0].sft.name, 'sft-refusal');
    assert.equal(report.run.execution_provider, 'cpu');
    // the live panel's first view: the run's models and layers, before any batch
    assert.deepEqual(events.outline, {
      base: 'base',
      sfts: ['sft-refusal'],
      layers: [0, 1, 2, 3, 4, 5],
      hookPoint: 'resid_post',
      report: reportPath,
      maxSamples: 64,
    });

    assert.equal(events.reportPath, reportPath);
    assert.equal(events.provider?.provider, 'cpu');
    const stages = new Set(events.progress.map((e) => e.stage));
    for (const s of ['load', 'forward', 'done'] as const) assert.ok(stages.has(s), `progress stage ${s}`);
    const forward = events.progress.filter((e) => e.stage === 'forward');
    assert.ok(forward.some((e) => e.model === 'base') && forward.some((e) => e.model === 'sft-refusal'), 'progress names both models');
    assert.ok(
      forward.every((e) => e.batchesTotal === 4),
      '64 prompts in batches of 16',
    );
    // the time left: none before the first batch is done, then the tokens left at the rate so far
    assert.ok(forward.filter((e) => e.batchesDone === 0).every((e) => e.secondsLeft === undefined));
    const later = forward.filter((e) => e.batchesDone! > 0);
    assert.ok(later.length >= 6, 'batches 2-4, both models');
    for (const e of later) {
      const expected = (report.run.tokens - e.tokensDone!) / e.tokensPerSecond!;
      assert.ok(
        e.secondsLeft! > 0 && Math.abs(e.secondsLeft! - expected) <= 1e-9 * expected,
        `${e.secondsLeft} s left, expected ${expected}`,
      );
    }
    assert.ok(
      events.logs.some((l) => l.includes('execution provider: cpu')),
      'engine log forwarded',
    );
    assert.ok(events.partials.length >= 1, 'partial reports forwarded');
    const partial = events.partials[0] as SaeDiffReport;
    assert.equal(partial.complete, false);
    const features = (r: SaeDiffReport) => r.comparisons.flatMap((c) => c.layers.flatMap((l) => l.shifted_features));
    assert.ok(features(partial).length > 0 && features(partial).every((f) => f.contexts === undefined), 'partials leave contexts out');
    assert.ok(
      features(report).some((f) => f.contexts !== undefined),
      'the final report has them',
    );

    assert.equal(controller.isRunning, false);
    assert.equal(processExists(events.pid!), false, 'worker exited');
    assert.deepEqual(tempFilesBeside(reportPath), []);
  });

  test('cancelling mid-run stops the worker within a second and leaves no report', async () => {
    const { configPath, reportPath } = writeConfig('cancel');
    const controller = new RunController();
    const events = recorder();
    let cancelMs = 0;
    const cancelled = new Promise<void>((resolve) => {
      events.onProgress = (e) => {
        if (e.stage !== 'forward' || cancelMs) return;
        const t = performance.now();
        cancelMs = -1;
        void controller.cancel().then(() => {
          cancelMs = performance.now() - t;
          resolve();
        });
      };
    });
    const outcome = await controller.run({ configPath, defaults: CPU_DEFAULTS }, events);
    await cancelled;

    assert.deepEqual(outcome, { kind: 'cancelled' });
    assert.ok(cancelMs < 1000, `cancel took ${cancelMs.toFixed(0)} ms`);
    assert.equal(fs.existsSync(reportPath), false, 'no report');
    assert.deepEqual(tempFilesBeside(reportPath), [], 'no temp file');
    assert.equal(processExists(events.pid!), false, 'worker exited');
    assert.equal(controller.isRunning, false);
  });

  test('a worker that ignores cancel is killed, and its temp report file removed', async () => {
    // A stand-in worker stuck in synchronous work (as the engine is inside a long native call).
    const dir = path.join(TMP, 'stuck');
    fs.mkdirSync(dir, { recursive: true });
    const reportPath = path.join(dir, 'stuck.sae-report.json');
    const workerPath = path.join(dir, 'stuckWorker.js');
    fs.writeFileSync(
      workerPath,
      `
      process.on('message', (m) => {
        if (m.type !== 'start') return;
        require('fs').writeFileSync(${JSON.stringify(reportPath)} + '.tmp-1-abc', '{"complete": tr');
        process.send({ type: 'started', configPath: m.request.configPath, reportPath: ${JSON.stringify(reportPath)} }, () => {
          for (;;) {} // never reads the cancel message
        });
      });`,
    );
    const controller = new RunController({ workerPath, killAfterMs: 500 });
    const events = recorder();
    const started = new Promise<void>((resolve) => {
      events.onStarted = (i) => {
        events.pid = i.pid;
        resolve();
      };
    });
    const outcome = controller.run({ configPath: '/nowhere.sae-diff.yaml' }, events);
    await started;
    const t = performance.now();
    await controller.cancel();
    const took = performance.now() - t;

    assert.deepEqual(await outcome, { kind: 'cancelled' });
    assert.ok(took < 1000, `kill took ${took.toFixed(0)} ms`);
    assert.equal(processExists(events.pid!), false);
    assert.deepEqual(tempFilesBeside(reportPath), []);
  });

  test('a bad config gives the error with its line, and no report', async () => {
    const { configPath, reportPath } = writeConfig('bad', '{ max_tokens: 64, batch_size: "many" }');
    const events = recorder();
    const outcome = await new RunController().run({ configPath, defaults: CPU_DEFAULTS }, events);

    assert.equal(outcome.kind, 'error');
    if (outcome.kind !== 'error') return;
    assert.match(outcome.error.message, /batch_size/);
    assert.equal(outcome.error.location?.file, configPath);
    assert.equal(outcome.error.location?.line, 6);
    assert.equal(fs.existsSync(reportPath), false);
  });

  test('a missing model folder is reported with the config key', async () => {
    const { configPath, reportPath } = writeConfig('missing');
    fs.writeFileSync(configPath, fs.readFileSync(configPath, 'utf8').replace(`${FIXTURES}/sft-refusal`, `${FIXTURES}/no-such-model`));
    const outcome = await new RunController().run({ configPath, defaults: CPU_DEFAULTS });

    assert.equal(outcome.kind, 'error');
    if (outcome.kind !== 'error') return;
    assert.match(outcome.error.message, /no-such-model/);
    assert.equal(outcome.error.location?.file, configPath);
    assert.equal(fs.existsSync(reportPath), false);
  });

  test(
    'cuda without its binaries fails with the install hint; the CPU retry then succeeds',
    { skip: cudaBinariesInstalled() && 'CUDA binaries are installed here' },
    async () => {
      const { configPath, reportPath } = writeConfig('cuda', '{ max_tokens: 64, execution_provider: cuda, fallback: false }');
      const controller = new RunController();
      const failed = await controller.run({ configPath, defaults: { provider: 'auto', fallback: true } });

      assert.equal(failed.kind, 'error');
      if (failed.kind !== 'error') return;
      assert.equal(failed.error.cudaBinariesMissing, true);
      assert.match(failed.error.message, /onnxruntime-node-install=cuda12/);
      assert.equal(failed.error.location?.line, 6, 'points at runtime.execution_provider');
      assert.equal(fs.existsSync(reportPath), false);

      const events = recorder();
      const retried = await controller.run({ configPath, overrides: { provider: 'cpu' } }, events);
      assert.deepEqual(retried, { kind: 'done', reportPath });
      assert.equal(events.provider?.provider, 'cpu');
    },
  );

  test('only one run at a time', async () => {
    const { configPath } = writeConfig('twice');
    const controller = new RunController();
    const first = controller.run({ configPath, defaults: CPU_DEFAULTS });
    await assert.rejects(controller.run({ configPath, defaults: CPU_DEFAULTS }), /already in progress/);
    await controller.cancel();
    assert.equal((await first).kind, 'cancelled');
  });
});
