/** The e2e workspace: a runnable config and one with a typo (for diagnostics and the error path). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO } from './codeServer';

const FIXTURES = path.join(REPO, 'test/fixtures/tiny-llama');

export interface E2eWorkspace {
  folder: string;
  runnable: string;
  /** The report the runnable config writes. */
  report: string;
  typo: string;
  /** Runs into an error the editor cannot know before the run: CUDA asked for, without fallback, where it is not installed. */
  noCuda: string;
  /** 1-based line of the misspelt key in `typo`. */
  typoLine: number;
  /** Three fine-tunes, one prompt per batch: long enough to cancel by hand. */
  slow: string;
  slowReport: string;
}

export function writeWorkspace(folder: string): E2eWorkspace {
  fs.mkdirSync(folder, { recursive: true });
  const body = (runtime: string, name = 'demo', sft = `"${FIXTURES}/sft-refusal"`) =>
    [
      '# SAE Diff e2e workspace',
      'diagnostic_pipeline:',
      `  models: { base: "${FIXTURES}/base", sft: ${sft} }`,
      `  sae: { path: "${FIXTURES}/saes/blocks.{layer}.hook_resid_post", k: 16 }`,
      '  layers: { target_indices: [0, 1, 2, 3, 4, 5] }',
      `  dataset: { path: "${FIXTURES}/eval/chat.jsonl", max_samples: 64 }`,
      `  ${runtime}`,
      `  output: { format: "json", save_path: "out/${name}.sae-report.json" }`,
      '',
    ].join('\n');
  const runnable = path.join(folder, 'demo.sae-diff.yaml');
  const typo = path.join(folder, 'typo.sae-diff.yaml');
  const slow = path.join(folder, 'slow.sae-diff.yaml');
  fs.writeFileSync(runnable, body('runtime: { max_tokens: 64 }'));
  fs.writeFileSync(typo, body('runtim: { max_tokens: 64 }', 'typo'));
  const noCuda = path.join(folder, 'nocuda.sae-diff.yaml');
  fs.writeFileSync(noCuda, body('runtime: { max_tokens: 64, execution_provider: cuda, fallback: false }', 'nocuda'));
  const three = `[${['sft-refusal', 'sft-domain', 'sft-late'].map((m) => `{ name: ${m}, path: "${FIXTURES}/${m}" }`).join(', ')}]`;
  fs.writeFileSync(slow, body('runtime: { max_tokens: 64, batch_size: 1 }', 'slow', three));
  return {
    folder,
    runnable,
    report: path.join(folder, 'out', 'demo.sae-report.json'),
    typo,
    typoLine: 7,
    noCuda,
    slow,
    slowReport: path.join(folder, 'out', 'slow.sae-report.json'),
  };
}
