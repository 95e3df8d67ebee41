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
import { loadTokenizer } from '../src/engine/data/tokenizer';
import { reportProblem } from '../src/shared/reportCheck';
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
  assert.deepEqual([a.run.bos_prepended, b.run.bos_prepended, c.run.bos_prepended], [undefined, { token: '<s>', prompts: 20 }, undefined]);
  // the report check opens it, and refuses a damaged one
  assert.equal(reportProblem(b), undefined);
  assert.match(reportProblem({ ...b, run: { ...b.run, bos_prepended: { token: '<s>' } } })!, /run\.bos_prepended\.prompts/);
  // without it the prompts (all shorter than max_tokens) lose their first token to exclude_bos, and the model sees no BOS
  assert.equal(c.run.tokens, a.run.tokens - 20);
  assert.notEqual(c.comparisons[0].layers[0].explained_variance_base, a.comparisons[0].layers[0].explained_variance_base);
});

test("openai-community/gpt2's tokenizer_config.json names no special token: GPT2Tokenizer's defaults give its <|endoftext|> BOS", () => {
  const dir = path.join(GPT2, 'hub-tokenizer');
  const hub = loadTokenizer(path.join(dir, 'tokenizer.json'), path.join(dir, 'tokenizer_config.json'), 'gpt2');
  const endoftext = hub.encode('<|endoftext|>');
  assert.equal(endoftext.length, 1);
  assert.deepEqual([hub.specialTokens.bos_token, hub.bosId], ['<|endoftext|>', endoftext[0]]);
  assert.equal(hub.padId, endoftext[0], 'no pad_token: padded with eos');
  // the class comes from tokenizer_config.json when it names one; unknown classes and models have no defaults
  assert.equal(loadTokenizer(path.join(dir, 'tokenizer.json'), path.join(dir, 'tokenizer_config.json')).bosId, undefined);
  assert.equal(loadTokenizer(path.join(dir, 'tokenizer.json'), path.join(dir, 'tokenizer_config.json'), 'llama').bosId, undefined);
  // older saves name them in special_tokens_map.json only
  const mapped = path.join(out, 'mapped');
  fs.mkdirSync(mapped, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(dir, f), path.join(mapped, f));
  fs.writeFileSync(
    path.join(mapped, 'special_tokens_map.json'),
    JSON.stringify({ bos_token: { content: '<|endoftext|>', special: true } }),
  );
  assert.equal(loadTokenizer(path.join(mapped, 'tokenizer.json'), path.join(mapped, 'tokenizer_config.json'), 'llama').bosId, endoftext[0]);
  // a GPT-2 base from the hub and a fine-tune saved with its tokens named read alike: the run puts <|endoftext|> first
  const base = path.join(out, 'models', 'hub-gpt2');
  fs.mkdirSync(base, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(GPT2, 'base', f), path.join(base, f));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(dir, f), path.join(base, f));
  const sft = path.join(out, 'models', 'hub-gpt2-sft');
  fs.mkdirSync(sft, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(GPT2, 'sft', f), path.join(sft, f));
  fs.copyFileSync(path.join(dir, 'tokenizer.json'), path.join(sft, 'tokenizer.json'));
  fs.writeFileSync(
    path.join(sft, 'tokenizer_config.json'),
    JSON.stringify({ model_max_length: 1024, bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>' }),
  );
  const res = run('hub-gpt2', base, sft);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stderr, /BOS put first in 20 of 20 prompts: .*<\|endoftext\|>/);
  assert.doesNotMatch(res.stderr, /Special tokens of base and/);
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
