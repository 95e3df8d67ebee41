/** Real reports for tests: runs the engine through the CLI on the tiny-llama fixtures, into test/.tmp/. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { SaeDiffReport } from '../../src/shared/reportTypes';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');
export const TMP_DIR = join(REPO_ROOT, 'test', '.tmp');
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'tiny-llama');
const CLI = join(REPO_ROOT, 'bin', 'sae-diff.js');

/** The golden sft-refusal config: one fine-tune, six layers. */
export function refusalReport(): SaeDiffReport {
  return runEngine(join(FIXTURES, 'golden', 'sft-refusal__chat.yaml'), 'refusal.sae-report.json');
}

/** Two fine-tunes (refusal and domain) against one base, for the overlay. */
export function twoFineTuneReport(): SaeDiffReport {
  mkdirSync(TMP_DIR, { recursive: true });
  const config = join(TMP_DIR, 'two-sfts.sae-diff.yaml');
  const at = (path: string) => JSON.stringify(join(FIXTURES, path));
  writeFileSync(
    config,
    [
      'diagnostic_pipeline:',
      `  models: { base: ${at('base')}, sft: [{ name: refusal, path: ${at('sft-refusal')} }, { name: domain, path: ${at('sft-domain')} }] }`,
      `  sae: { path: ${at('saes/blocks.{layer}.hook_resid_post')}, k: 16 }`,
      '  layers: { target_indices: [0, 1, 2, 3, 4, 5], hook_mode: "forward" }',
      `  dataset: { path: ${at('eval/general.jsonl')}, max_samples: 32 }`,
      '  runtime: { max_tokens: 48 }',
      `  output: { format: "json", save_path: ${JSON.stringify(join(TMP_DIR, 'two-sfts.sae-report.json'))} }`,
      '',
    ].join('\n'),
  );
  return runEngine(config, 'two-sfts.sae-report.json');
}

/**
 * Runs the CLI once per build and config: the report is kept beside a key of the build's stamp
 * (out/.build-stamp, rewritten by every compile) and the config text, so the ten test files that read these
 * reports share one engine run each instead of running it ten times. A new build or config runs it again.
 */
function runEngine(config: string, outName: string): SaeDiffReport {
  mkdirSync(TMP_DIR, { recursive: true });
  const out = join(TMP_DIR, outName);
  const stamp = join(REPO_ROOT, 'out', '.build-stamp');
  const key = existsSync(stamp) ? `${readFileSync(stamp, 'utf8').trim()}\n${config}\n${readFileSync(config, 'utf8')}` : undefined;
  const keyFile = `${out}.key`;
  const cached = key !== undefined && existsSync(out) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === key;
  if (!cached) {
    rmSync(keyFile, { force: true });
    execFileSync(process.execPath, [CLI, 'run', config, '--out', out, '--quiet'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    if (key !== undefined) writeFileSync(keyFile, key);
  }
  return JSON.parse(readFileSync(out, 'utf8')) as SaeDiffReport;
}
