import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { datasetFacts, modelFacts } from '../src/engine/authoring/facts';
import { SaeDiffError } from '../src/engine/core/errors';
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
    (e: any) => e.location.line === 2 && /has no prompt field \(a "text" or "prompt" string, a "messages" list/.test(e.message),
  );
});

test("records as fine-tuning datasets hold them: ShareGPT, Alpaca (LLaMA-Factory's conversion), TRL's conversational prompt", () => {
  const f = path.join(dir, 'shapes.jsonl');
  const records = [
    {
      conversations: [
        { from: 'human', value: 'hi' },
        { from: 'gpt', value: 'hello' },
      ],
      system: 'Be brief.',
    },
    {
      conversations: [
        { from: 'user', value: 'a' },
        { from: 'assistant', value: 'b' },
        { from: 'human', value: 'c' },
      ],
    },
    { instruction: 'Translate.', input: 'chat', output: 'cat', system: 'You translate.', history: [['q0', 'r0']] },
    { instruction: 'Say hi.', input: '', output: '' },
    { prompt: [{ role: 'user', content: 'p' }], completion: [{ role: 'assistant', content: 'not evaluated' }] },
    { prompt: 'plain', completion: 'not evaluated' },
    { conversation: [{ role: 'user', content: 'lmsys' }], conversation_id: 'x' },
    // ultrachat_200k / no_robots: the prompt string is the first turn of the messages, which are read
    {
      prompt: 'first turn',
      prompt_id: 'abc',
      messages: [
        { role: 'user', content: 'first turn' },
        { role: 'assistant', content: 'reply' },
      ],
    },
  ];
  fs.writeFileSync(f, records.map((r) => JSON.stringify(r)).join('\n'));
  assert.deepEqual(readPrompts(f), [
    {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    },
    {
      messages: [
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
        { role: 'user', content: 'c' },
      ],
    },
    {
      messages: [
        { role: 'system', content: 'You translate.' },
        { role: 'user', content: 'q0' },
        { role: 'assistant', content: 'r0' },
        { role: 'user', content: 'Translate.\nchat' },
        { role: 'assistant', content: 'cat' },
      ],
    },
    { messages: [{ role: 'user', content: 'Say hi.' }] },
    { messages: [{ role: 'user', content: 'p' }] },
    { text: 'plain' },
    { messages: [{ role: 'user', content: 'lmsys' }] },
    {
      messages: [
        { role: 'user', content: 'first turn' },
        { role: 'assistant', content: 'reply' },
      ],
    },
  ]);
  const refused = (rec: unknown, message: RegExp) => {
    fs.writeFileSync(f, `{"text": "ok"}\n${JSON.stringify(rec)}\n`);
    assert.throws(
      () => readPrompts(f),
      (e: SaeDiffError) => e.location?.line === 2 && message.test(e.message),
    );
  };
  refused(
    {
      conversations: [
        { from: 'human', value: 'x' },
        { from: 'function_call', value: '{}' },
      ],
    },
    /entry 1 whose speaker is "function_call": tool turns/,
  );
  refused({ conversations: [{ from: 'human' }] }, /entry 0 without a string speaker and text \(its from and value keys\)/);
  refused({ instruction: 'x', history: [['only one']] }, /"history" that is not a list of \[query, response\] string pairs/);
  refused({ instruction: 'x', input: 3 }, /Alpaca "input" that is not a string/);
  refused({ prompt: [] }, /empty prompt list/);
});

test('.json datasets: a JSON array of records is streamed (max_samples stops the read), with errors naming the line', () => {
  const f = path.join(dir, 'alpaca.json');
  const alpaca = [
    { instruction: 'Give three tips.', input: '', output: '1. Eat. 2. Sleep. 3. Move.' },
    { instruction: 'Quote "this" [exactly]', input: 'a \\ b } {', output: 'ok' },
    { text: 'ünïcödé ✓' },
  ];
  // pretty-printed as json.dump(indent=4) writes it, with a BOM; then minified on one line
  fs.writeFileSync(f, '\ufeff' + JSON.stringify(alpaca, null, 4));
  const pretty = readPrompts(f);
  assert.equal(pretty.length, 3);
  assert.deepEqual(pretty[1], {
    messages: [
      { role: 'user', content: 'Quote "this" [exactly]\na \\ b } {' },
      { role: 'assistant', content: 'ok' },
    ],
  });
  assert.deepEqual(pretty[2], { text: 'ünïcödé ✓' });
  fs.writeFileSync(f, JSON.stringify(alpaca));
  assert.deepEqual(readPrompts(f), pretty);
  // max_samples: the read stops after the second element, so what follows is never looked at
  fs.writeFileSync(f, JSON.stringify(alpaca.slice(0, 2)).slice(0, -1) + ', {"text": "x"} ]]] garbage');
  assert.equal(readPrompts(f, 2).length, 2);
  const error = (content: string, line: number, message: RegExp) => {
    fs.writeFileSync(f, content);
    assert.throws(
      () => readPrompts(f),
      (e: SaeDiffError) => e.location?.line === line && message.test(e.message),
      content,
    );
  };
  error('[\n  {"text": "a"},\n  {"other": 1}\n]', 3, /The record at line 3 has no prompt field/);
  error('[\n  {"text": "a"},\n  "b"\n]', 3, /Each element of the JSON array must be a JSON object/);
  error('[\n  {"text": "a"}', 2, /The JSON array is not closed/);
  error('[{"text": "a"}] {"text": "b"}', 1, /more after the end of the JSON array/);
  error('[\n{"text": "a",}\n]', 2, /The record at line 2 is not valid JSON/);
  // records that cross the reader's 1 MB chunks, after a megabyte of whitespace: read whole, lines counted
  const long = 'x'.repeat(1_500_000);
  fs.writeFileSync(f, '\n\n' + ' '.repeat(1_200_000) + `\n[{"text": "${long}"},\n {"other": 1}]`);
  error(fs.readFileSync(f, 'utf8'), 5, /The record at line 5 has no prompt field/);
  assert.equal((readPrompts(f, 1)[0] as { text: string }).text, long);
  const jsonl = path.join(dir, 'long.jsonl');
  fs.writeFileSync(jsonl, `{"text": "${long}"}\n{"text": "${long}b"}\n`);
  assert.deepEqual(
    readPrompts(jsonl).map((r) => (r as { text: string }).text.length),
    [long.length, long.length + 1],
  );
  // a .json that is not an array is read as JSON lines, as before
  fs.writeFileSync(f, '{"text": "a"}\n{"text": "b"}\n');
  assert.equal(readPrompts(f).length, 2);
});

test('Arrow and CSV datasets are refused with the line that converts them, in the run and in the editor', () => {
  const f = path.join(dir, 'train.csv');
  fs.writeFileSync(f, 'text\nhello\n');
  assert.throws(
    () => readPrompts(f),
    (e: SaeDiffError) =>
      /must be \.jsonl, \.json, \.txt or \.parquet, not '\.csv'/.test(e.message) &&
      /pd\.read_csv\('train\.csv'\)\.to_json/.test(e.hint ?? ''),
  );
  assert.match(datasetFacts(f).error!, /not '\.csv'\. Convert it to JSONL/);
  const arrow = path.join(dir, 'data-00000-of-00001.arrow');
  fs.writeFileSync(arrow, 'ARROW1');
  assert.match(datasetFacts(arrow).error!, /not '\.arrow'\. Convert it to JSONL, e\.g\. .*pd\.read_feather/);
  const json = path.join(dir, 'facts.json');
  fs.writeFileSync(json, JSON.stringify([{ instruction: 'a' }, { conversations: [{ from: 'human', value: 'b' }] }]));
  assert.deepEqual([datasetFacts(json).checkedRecords, datasetFacts(json).hasChat, datasetFacts(json).error], [2, true, undefined]);
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

test('the chat template is found where transformers keeps it: chat_template.jinja first, tokenizer_config.json, a processor chat_template.json', () => {
  const folder = path.join(dir, 'template-files');
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(folder, { recursive: true });
  fs.copyFileSync(path.join(refusal, 'tokenizer.json'), path.join(folder, 'tokenizer.json'));
  const config = JSON.parse(fs.readFileSync(path.join(refusal, 'tokenizer_config.json'), 'utf8'));
  const inConfig = config.chat_template as string;
  delete config.chat_template;
  // what transformers 5's save_pretrained writes: the template in its own file, none in tokenizer_config.json
  const tokenizerConfig = path.join(folder, 'tokenizer_config.json');
  fs.writeFileSync(tokenizerConfig, JSON.stringify(config));
  const load = () => loadTokenizer(path.join(folder, 'tokenizer.json'), tokenizerConfig);
  assert.equal(load().chatTemplate, undefined);
  assert.equal(modelFacts(folder).hasChatTemplate, false);
  fs.writeFileSync(path.join(folder, 'chat_template.json'), JSON.stringify({ chat_template: 'processor: {{ messages[0].content }}' }));
  assert.deepEqual(
    [load().chatTemplate, path.basename(load().chatTemplateFile!)],
    ['processor: {{ messages[0].content }}', 'chat_template.json'],
  );
  fs.writeFileSync(tokenizerConfig, JSON.stringify({ ...config, chat_template: inConfig }));
  assert.deepEqual([load().chatTemplate, path.basename(load().chatTemplateFile!)], [inConfig, 'tokenizer_config.json']);
  fs.writeFileSync(path.join(folder, 'chat_template.jinja'), inConfig.replace('<|user|>', '<|user|>:'));
  const fromJinja = load();
  assert.equal(path.basename(fromJinja.chatTemplateFile!), 'chat_template.jinja', 'the .jinja file takes priority');
  assert.equal(modelFacts(folder).hasChatTemplate, true);
  const text = renderPrompt(
    { messages: [{ role: 'user', content: 'Hi.' }] },
    compileTemplate(fromJinja.chatTemplate!, 'x'),
    fromJinja.specialTokens,
    'x',
  );
  assert.equal(text, '<|user|>: Hi.\n<|assistant|>');
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

test('the chat prompts as a ShareGPT .json array, as Alpaca records and as Parquet give the report of their messages JSONL', () => {
  const layers = '{ target_indices: [2] }';
  const chat = fs
    .readFileSync(path.join(FIXTURES, 'eval', 'chat.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 24)
    .map((l) => JSON.parse(l).messages as { role: string; content: string }[]);
  assert.ok(chat.every((m) => m.length === 1 && m[0].role === 'user'));
  const shareGpt = path.join(dir, 'chat-sharegpt.json');
  fs.writeFileSync(
    shareGpt,
    JSON.stringify(
      chat.map((m) => ({ conversations: [{ from: 'human', value: m[0].content }] })),
      null,
      2,
    ),
  );
  const alpaca = path.join(dir, 'chat-alpaca.jsonl');
  fs.writeFileSync(alpaca, chat.map((m) => JSON.stringify({ instruction: m[0].content, input: '', output: '' })).join('\n'));
  // the same messages saved by datasets' to_parquet (test/fixtures/parquet_fixtures.py)
  const parquet = path.join(FIXTURES, '..', 'parquet', 'chat-datasets.parquet').replace(/\\/g, '/');
  const reports = [`@/eval/chat.jsonl`, shareGpt, alpaca, parquet].map((file, i) =>
    run(`shapes${i}`, fixtureConfig({ layers, dataset: `{ path: "${file}", max_samples: 24 }` })),
  );
  assert.ok(reports[0].run.tokens > 200);
  for (const r of reports.slice(1)) {
    assert.equal(r.run.tokens, reports[0].run.tokens);
    assert.deepEqual(r.comparisons[0].layers[0], reports[0].comparisons[0].layers[0]);
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
