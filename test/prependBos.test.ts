/**
 * dataset.prepend_bos: prompts reach the SAE with the BOS its training windows began with (SAELens prepend_bos), also
 * when the tokenizer adds none (GPT-2's). The GPT-2 fixture's tokenizer (tiny-llama's) adds <s>; a copy without its
 * post-processor adds nothing, as GPT-2's does.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { SaeDiffError } from '../src/engine/core/errors';
import { bosToPrepend, withBos } from '../src/engine/data/bos';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { runCli, writeConfig } from './helpers/cli';
import { REPO_ROOT, scratchDir } from './helpers/paths';

const GPT2 = path.join(REPO_ROOT, 'test', 'fixtures', 'gpt2');
const out = scratchDir('prepend-bos');
const where = { file: 'x.sae-diff.yaml', key: 'dataset.prepend_bos' };
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** A copy of a gpt2 fixture model whose tokenizer adds no BOS (no post-processor, add_bos_token false). */
function withoutBos(model: string): string {
  const dir = path.join(out, 'models', model);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(path.join(GPT2, model))) fs.copyFileSync(path.join(GPT2, model, f), path.join(dir, f));
  const tokenizer = readJson(path.join(dir, 'tokenizer.json'));
  tokenizer.post_processor = null;
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  const cfg = readJson(path.join(dir, 'tokenizer_config.json'));
  cfg.add_bos_token = false;
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  return dir;
}

function run(name: string, base: string, sft: string, prependBos?: string) {
  const dir = path.join(out, 'runs', name);
  fs.mkdirSync(dir, { recursive: true });
  const config = writeConfig(
    dir,
    'run.sae-diff.yaml',
    `diagnostic_pipeline:
  models: { base: ${JSON.stringify(base)}, sft: ${JSON.stringify(sft)} }
  sae: { path: ${JSON.stringify(path.join(GPT2, 'saes', 'blocks.{layer}.hook_resid_pre'))}, k: 16 }
  layers: { target_indices: [1], hook_point: resid_pre }
  dataset: { path: "@/eval/general.jsonl", max_samples: 20${prependBos ? `, prepend_bos: ${prependBos}` : ''} }
  runtime: { max_tokens: 64, execution_provider: cpu }
  output: { format: "json", save_path: "report.json" }
`,
  );
  const res = runCli(['run', config, '--provider', 'cpu']);
  return { ...res, report: res.code === 0 ? (readJson(path.join(dir, 'report.json')) as SaeDiffReport) : undefined };
}

test('prompts from a tokenizer that adds no BOS get the one the SAE was trained with, and give the same report', () => {
  const [base, sft] = [withoutBos('base'), withoutBos('sft')];
  const adds = run('tokenizer-adds', path.join(GPT2, 'base'), path.join(GPT2, 'sft'));
  const auto = run('auto', base, sft);
  const never = run('never', base, sft, 'never');
  for (const r of [adds, auto, never]) assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(adds.stderr, /BOS put first/, 'the tokenizer adds it already');
  assert.match(
    auto.stderr,
    /BOS put first in 20 of 20 prompts: the SAEs were trained on windows that begin with BOS \(SAELens prepend_bos\): <s>/,
  );
  const [a, b, c] = [adds, auto, never].map((r) => r.report!);
  assert.equal(b.run.tokens, a.run.tokens);
  assert.deepEqual(b.comparisons[0].layers, a.comparisons[0].layers);
  assert.equal(b.run.config.dataset?.prepend_bos, 'auto');
  // without it the prompts (all shorter than max_tokens) lose their first token to exclude_bos, and the model sees no BOS
  assert.equal(c.run.tokens, a.run.tokens - 20);
  assert.notEqual(c.comparisons[0].layers[0].explained_variance_base, a.comparisons[0].layers[0].explained_variance_base);
});

test('an SAE that says it was trained without BOS leaves the prompts alone under auto; always needs a bos_token', () => {
  const sae = { bosId: 7, specialTokens: { bos_token: '<|endoftext|>' } };
  assert.deepEqual(bosToPrepend('auto', [true, true], sae, where).id, 7);
  assert.equal(bosToPrepend('auto', [true, false], sae, where).id, undefined);
  assert.equal(bosToPrepend('auto', [undefined], sae, where).id, undefined);
  assert.equal(bosToPrepend('never', [true], sae, where).id, undefined);
  assert.equal(bosToPrepend('always', [false], sae, where).id, 7);
  assert.equal(bosToPrepend('auto', [true], { specialTokens: {} }, where).id, undefined);
  assert.throws(
    () => bosToPrepend('always', [true], { specialTokens: {} }, where),
    (e: SaeDiffError) => e.location?.key === 'dataset.prepend_bos' && /has no bos_token/.test(e.message),
  );
  // put first only where missing, and the cap kept
  assert.deepEqual(withBos([[7, 1, 2], [1, 2, 3], []], 7, 3), { sequences: [[7, 1, 2], [7, 1, 2], [7]], added: 2 });
});
