import assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { loadConfigText } from '../../src/engine/config/load';
import { runDiagnostic } from '../../src/engine/pipeline/pipeline';
import type { SaeDiffReport } from '../../src/shared/reportTypes';
import { CLI, FIXTURES } from './paths';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], cwd?: string): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Writes a config into `dir` from a YAML body whose fixture paths are written as `@/...` (the fixture folder). */
export function writeConfig(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, body.replace(/@\//g, FIXTURES.replace(/\\/g, '/') + '/'));
  return file;
}

/** The standard config of the fixtures, with overridable sections. */
export function fixtureConfig(
  overrides: Partial<Record<'models' | 'sae' | 'layers' | 'dataset' | 'metrics' | 'runtime' | 'output', string>> = {},
): string {
  const s = {
    models: '{ base: "@/base", sft: "@/sft-refusal" }',
    sae: '{ path: "@/saes/blocks.{layer}.hook_resid_post", k: 16 }',
    layers: '{ target_indices: [0, 1, 2, 3, 4, 5] }',
    dataset: '{ path: "@/eval/chat.jsonl", max_samples: 64 }',
    runtime: '{ max_tokens: 64, execution_provider: cpu }',
    ...overrides,
  };
  return (
    'diagnostic_pipeline:\n' +
    Object.entries(s)
      .map(([k, v]) => `  ${k}: ${v}`)
      .join('\n') +
    '\n'
  );
}

/**
 * A CLI run of the fixtures' base against sft-domain on 24 general prompts, with the SAE folder `saePath` at layer 3
 * (its format detected): the report and what the run printed.
 */
export function runLayer3(dir: string, name: string, saePath: string): { report: SaeDiffReport; log: string } {
  const out = path.join(dir, `${name}.json`);
  const config = writeConfig(
    dir,
    `${name}.yaml`,
    `diagnostic_pipeline:
  models: { base: "@/base", sft: "@/sft-domain" }
  sae: { path: "${saePath.replace(/\\/g, '/')}", k: 16 }
  layers: { target_indices: [3] }
  dataset: { path: "@/eval/general.jsonl", max_samples: 24 }
  runtime: { max_tokens: 64, execution_provider: cpu }
  output: { save_path: "${out.replace(/\\/g, '/')}" }
`,
  );
  const res = runCli(['run', config, '--provider', 'cpu']);
  assert.equal(res.code, 0, res.stderr);
  return { report: JSON.parse(fs.readFileSync(out, 'utf8')) as SaeDiffReport, log: res.stdout + res.stderr };
}

/** Runs `yaml` in this process on the CPU, written as `dir`/run.sae-diff.yaml (report beside it): its report and log. */
export async function runYaml(dir: string, yaml: string): Promise<{ report: SaeDiffReport; log: string; configFile: string }> {
  fs.mkdirSync(dir, { recursive: true });
  const configFile = path.join(dir, 'run.sae-diff.yaml');
  fs.writeFileSync(configFile, yaml);
  const lines: string[] = [];
  const { report } = await runDiagnostic(loadConfigText(yaml, configFile), {
    provider: 'cpu',
    outPath: path.join(dir, 'report.json'),
    onLog: (l) => lines.push(l),
  });
  return { report, log: lines.join('\n'), configFile };
}
