import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { formatDiagnosticLine, validateConfigFile } from '../src/engine/authoring/index';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const dir = scratchDir('cli');

test("validate prints exactly the engine's diagnostics as file:line:col: severity: message, exit 1 on errors", async () => {
  const file = writeConfig(
    dir,
    'bad.sae-diff.yaml',
    fixtureConfig({
      metrics: '{ cosine_treshold: 0.9, overlap_threshold: 1.5 }',
      layers: '{ target_indices: [0, 9] }',
    }),
  );
  const expected = (await validateConfigFile(file)).map((d) => formatDiagnosticLine(file, d));
  assert.ok(expected.length >= 3, expected.join('\n'));
  const res = runCli(['validate', file]);
  assert.equal(res.code, 1);
  assert.deepEqual(res.stdout.trim().split('\n'), expected);
  assert.ok(expected.some((l) => /:7:\d+: error: Unknown key 'cosine_treshold'.*Did you mean 'cosine_threshold'/.test(l)));
  assert.ok(expected.some((l) => /Layer 9 does not exist: the base model has 6 layers/.test(l)));
  const ok = runCli(['validate', path.join(FIXTURES, 'golden', 'sft-refusal__chat.yaml')]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /: ok$/m);
});

test('run --fail-on-flags exits 2 when a layer is flagged, 0 otherwise; bad arguments exit 1', () => {
  const flagged = writeConfig(
    dir,
    'flagged.sae-diff.yaml',
    fixtureConfig({ layers: '{ target_indices: [5] }', dataset: '{ path: "@/eval/chat.jsonl", max_samples: 16 }' }),
  );
  const r = runCli(['run', flagged, '--fail-on-flags', '--out', path.join(dir, 'flagged.json'), '--quiet']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /flagged: sft-refusal layer 5: divergent/);
  const calm = writeConfig(
    dir,
    'calm.sae-diff.yaml',
    fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-late" }',
      layers: '{ target_indices: [1] }',
      dataset: '{ path: "@/eval/general.jsonl", max_samples: 16 }',
    }),
  );
  assert.equal(runCli(['run', calm, '--fail-on-flags', '--out', path.join(dir, 'calm.json'), '--quiet']).code, 0);
  const badProvider = runCli(['run', calm, '--provider', 'tpu']);
  assert.equal(badProvider.code, 1);
  assert.match(badProvider.stderr, /--provider must be one of auto, cpu, cuda, webgpu, dml, coreml/);
  assert.equal(runCli(['frobnicate', calm]).code, 1);
  assert.equal(runCli([]).code, 1);
  assert.match(runCli(['--help']).stdout, /sae-diff run <config.yaml>/);
  // a mistyped or unsupported flag is refused before any work, never ignored
  const threads = runCli(['run', calm, '--threads', '1', '--out', path.join(dir, 'never.json')]);
  assert.equal(threads.code, 1);
  assert.match(
    threads.stderr,
    /unknown option --threads for run \(set runtime\.threads in the config file instead\); run takes --provider, --out/,
  );
  assert.ok(!fs.existsSync(path.join(dir, 'never.json')));
  assert.match(runCli(['doctor', '--jsn']).stderr, /unknown option --jsn for doctor; doctor takes --json\./);
  const missing = runCli(['doctor', path.join(dir, 'no-such.sae-diff.yaml')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: config file not found: .*no-such\.sae-diff\.yaml/);
});

test('--version prints the package version, and reports written by the CLI carry it', () => {
  const version = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')).version as string;
  assert.notEqual(version, '0.0.0');
  const r = runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), version);
  assert.match(runCli(['--help']).stdout, new RegExp(`^sae-diff ${version.replace(/\./g, '\\.')}:`));
  const report = JSON.parse(fs.readFileSync(path.join(dir, 'calm.json'), 'utf8'));
  assert.equal(report.run.tool_version, version);
});

test('asking for CUDA where its binaries are missing fails clearly, or falls back to CPU with runtime.fallback', () => {
  const cfg = writeConfig(
    dir,
    'cuda.sae-diff.yaml',
    fixtureConfig({
      layers: '{ target_indices: [1] }',
      dataset: '{ path: "@/eval/chat.jsonl", max_samples: 4 }',
      runtime: '{ execution_provider: cuda, max_tokens: 32 }',
    }),
  );
  const r = runCli(['run', cfg, '--out', path.join(dir, 'cuda.json'), '--quiet']);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /cuda\.sae-diff\.yaml:6:\d+: Execution provider 'cuda' is not available: the CUDA binaries of onnxruntime-node are not installed/,
  );
  assert.match(r.stderr, /--onnxruntime-node-install=cuda12/);
  const fb = writeConfig(
    dir,
    'cuda-fallback.sae-diff.yaml',
    fixtureConfig({
      layers: '{ target_indices: [1] }',
      dataset: '{ path: "@/eval/chat.jsonl", max_samples: 4 }',
      runtime: '{ execution_provider: cuda, fallback: true, max_tokens: 32 }',
    }),
  );
  const ok = runCli(['run', fb, '--out', path.join(dir, 'cuda-fallback.json')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /warning: Execution provider cuda is not available .* falling back to cpu/);
});
