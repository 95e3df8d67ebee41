import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
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
