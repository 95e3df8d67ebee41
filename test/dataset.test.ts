import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { compileTemplate, readPrompts, renderPrompt } from '../src/engine/data/dataset';
import { planBatches, evaluatedRows } from '../src/engine/data/batching';
import { loadTokenizer } from '../src/engine/data/tokenizer';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('dataset');
const refusal = path.join(FIXTURES, 'sft-refusal');

test('jsonl text, prompt and messages records, and txt lines, are read; max_samples caps them', () => {
  const f = path.join(dir, 'mixed.jsonl');
  fs.writeFileSync(f, ['{"text": "a"}', '', '{"prompt": "b"}', '{"messages": [{"role": "user", "content": "c"}]}'].join('\n'));
  assert.deepEqual(readPrompts(f), [{ text: 'a' }, { text: 'b' }, { messages: [{ role: 'user', content: 'c' }] }]);
  assert.equal(readPrompts(f, 2).length, 2);
  assert.equal(readPrompts(path.join(FIXTURES, 'eval', 'general.txt')).length, 64);
  fs.writeFileSync(f, '{"text": "a"}\n{"other": 1}\n');
  assert.throws(
    () => readPrompts(f),
    (e: any) => e.location.line === 2 && /no "text", "prompt" or "messages"/.test(e.message),
  );
});

test('chat messages render with the fine-tune template and a generation prompt; BOS comes from the tokenizer', () => {
  const tok = loadTokenizer(path.join(refusal, 'tokenizer.json'), path.join(refusal, 'tokenizer_config.json'));
  const template = compileTemplate(tok.chatTemplate!, 'tokenizer_config.json');
  const text = renderPrompt({ messages: [{ role: 'user', content: 'Help me steal a boat.' }] }, template, tok.specialTokens, 'x');
  assert.equal(text, '<|user|> Help me steal a boat.\n<|assistant|>');
  const ids = tok.encode(text);
  assert.equal(ids[0], 0, 'BOS first');
  assert.notEqual(ids[1], 0, 'a single BOS');
});

test('batches are right-padded with the pad id, and T excludes BOS and padding', () => {
  const batches = planBatches(
    [
      [0, 5, 6],
      [0, 7],
      [0, 8, 9, 10],
    ],
    2,
    2,
  );
  assert.deepEqual(
    batches.map((b) => b.samples),
    [[0, 2], [1]],
    'longest first; dataset order within a batch',
  );
  assert.deepEqual([...batches[0].ids], [0, 5, 6, 2, 0, 8, 9, 10]);
  const rows = evaluatedRows(batches[0], true);
  assert.deepEqual([...rows.flat], [1, 2, 5, 6, 7]);
  assert.deepEqual([...rows.position], [1, 2, 1, 2, 3]);
  assert.equal(evaluatedRows(batches[0], false).flat.length, 7);
});

function run(name: string, yaml: string): SaeDiffReport {
  const config = writeConfig(dir, `${name}.sae-diff.yaml`, yaml);
  const out = path.join(dir, `${name}.json`);
  const res = runCli(['run', config, '--out', out, '--quiet']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}

test('.txt and .jsonl versions of the same prompts give the same report; batch size does not change the numbers', () => {
  const layers = '{ target_indices: [1, 4] }';
  const models = '{ base: "@/base", sft: "@/sft-domain" }';
  const lines = fs
    .readFileSync(path.join(FIXTURES, 'eval', 'general.txt'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const jsonl = path.join(dir, 'general-from-txt.jsonl');
  fs.writeFileSync(jsonl, lines.map((text) => JSON.stringify({ prompt: text })).join('\n'));
  const a = run('txt', fixtureConfig({ models, layers, dataset: '{ path: "@/eval/general.txt" }' }));
  const b = run(
    'jsonl',
    fixtureConfig({ models, layers, dataset: `{ path: "${jsonl}" }`, runtime: '{ max_tokens: 64, batch_size: 5, sae_batch_tokens: 100 }' }),
  );
  assert.ok(a.run.tokens > 2000);
  assert.equal(a.run.tokens, b.run.tokens);
  for (let i = 0; i < 2; i++) {
    const x = a.comparisons[0].layers[i],
      y = b.comparisons[0].layers[i];
    for (const k of ['dense_cosine', 'feature_overlap', 'l1_divergence', 'explained_variance_base'] as const)
      assert.ok(Math.abs(x[k] - y[k]) < 1e-6, k);
    assert.deepEqual(
      x.shifted_features.map((f) => f.id),
      y.shifted_features.map((f) => f.id),
    );
  }
});

test('max_tokens truncates prompts (BOS included); exclude_bos false counts position 0', () => {
  const base = { models: '{ base: "@/base", sft: "@/sft-domain" }', layers: '{ target_indices: [0] }' };
  const short = run(
    'short',
    fixtureConfig({ ...base, dataset: '{ path: "@/eval/domain.jsonl", max_samples: 10 }', runtime: '{ max_tokens: 8 }' }),
  );
  assert.equal(short.run.tokens, 10 * 7);
  const withBos = run(
    'with-bos',
    fixtureConfig({
      ...base,
      dataset: '{ path: "@/eval/domain.jsonl", max_samples: 10, exclude_bos: false }',
      runtime: '{ max_tokens: 8 }',
    }),
  );
  assert.equal(withBos.run.tokens, 10 * 8);
});

test('labels from a JSON file and top activating contexts appear on shifted features', () => {
  const labels = path.join(dir, 'feature-labels.json');
  const report0 = run('nolabels', fixtureConfig({ layers: '{ target_indices: [3] }' }));
  const top = report0.comparisons[0].layers[0].shifted_features[0];
  fs.writeFileSync(labels, JSON.stringify([{ modelId: 'tiny', layer: '3', index: String(top.id), description: 'refusal words' }]));
  const report = run(
    'labels',
    fixtureConfig({
      layers: '{ target_indices: [3] }',
      sae: `{ path: "@/saes/blocks.{layer}.hook_resid_post", k: 16, labels: "${labels}" }`,
    }),
  );
  const f = report.comparisons[0].layers[0].shifted_features[0];
  assert.equal(f.id, top.id);
  assert.equal(f.label, 'refusal words');
  const ctx = f.contexts!;
  const anyCtx = [...ctx.base, ...ctx.sft];
  assert.ok(anyCtx.length > 0);
  for (const list of [ctx.base, ctx.sft]) {
    for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].activation >= list[i].activation, 'highest first');
    for (const c of list) {
      assert.ok(c.activation > 0 && c.position >= 1 && c.token.length > 0);
      assert.ok(!c.before.includes('<s>'), 'no BOS marker in the text');
    }
  }
});
