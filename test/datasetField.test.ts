/**
 * dataset.field: the record key (JSONL / JSON) or column (Parquet) that holds each prompt, for datasets whose prompts
 * sit under another name (GSM8K's question, MATH's problem): read in the run, checked in the editor, and recorded in
 * the report's resolved config.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { datasetFacts } from '../src/engine/authoring/facts';
import { validateConfigText } from '../src/engine/authoring/index';
import { configToJson, loadConfigText } from '../src/engine/config/load';
import type { SaeDiffError } from '../src/engine/core/errors';
import { readPrompts, readPromptsAsync } from '../src/engine/data/dataset';
import { readDatasetPrompts, resolveDataset } from '../src/engine/data/datasetSource';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const dir = scratchDir('dataset-field');
const PARQUET = path.join(REPO_ROOT, 'test', 'fixtures', 'parquet');
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};

const gsm8k = write(
  'gsm8k.jsonl',
  [
    { question: 'Natalia sold clips to 48 friends.', answer: '72' },
    { question: 'Weng earns $12 an hour.', answer: '10' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n') + '\n',
);

test('without dataset.field, a record of other keys is refused naming its keys and the key to set', () => {
  assert.throws(
    () => readPrompts(gsm8k),
    (e: SaeDiffError) =>
      e.location?.line === 1 &&
      /Line 1 has no prompt field \(.*\); its keys are "question", "answer", and dataset\.field can name the one that holds the prompt/.test(
        e.message,
      ),
  );
});

test('dataset.field reads that key of every record: a string as text, a list as chat messages', async () => {
  assert.deepEqual(readPrompts(gsm8k, undefined, 'question'), [
    { text: 'Natalia sold clips to 48 friends.' },
    { text: 'Weng earns $12 an hour.' },
  ]);
  assert.deepEqual(await readPromptsAsync(gsm8k, 1, undefined, 'answer'), [{ text: '72' }]);
  const chat = write('chat.json', JSON.stringify([{ dialog: [{ role: 'user', content: 'Hi' }], id: 1 }]));
  assert.deepEqual(readPrompts(chat, undefined, 'dialog'), [{ messages: [{ role: 'user', content: 'Hi' }] }]);
  // it wins over the recognised shapes: a record with text and a field reads the field
  const both = write('both.jsonl', '{"text": "not this", "query": "this"}\n');
  assert.deepEqual(readPrompts(both, undefined, 'query'), [{ text: 'this' }]);
  const missing = write('missing.jsonl', '{"question": "a"}\n{"q": "b"}\n');
  assert.throws(
    () => readPrompts(missing, undefined, 'question'),
    (e: SaeDiffError) => e.location?.line === 2 && /Line 2 has no "question" \(dataset\.field\); its keys are "q"/.test(e.message),
  );
  const number = write('number.jsonl', '{"question": 4}\n');
  assert.throws(
    () => readPrompts(number, undefined, 'question'),
    /has a "question" \(dataset\.field\) that is neither a string nor a list of chat messages/,
  );
  const txt = write('prompts.txt', 'one prompt\n');
  assert.throws(
    () => readPrompts(txt, undefined, 'question'),
    (e: SaeDiffError) => e.location?.key === 'dataset.field' && /holds one prompt per line, not records/.test(e.message),
  );
});

test('dataset.field names a Parquet column: read alone, chat or text by its type; a missing or unusable column is refused', async () => {
  const at = (name: string) => path.join(PARQUET, name);
  assert.deepEqual(await readPromptsAsync(at('text-no-prompt.parquet'), undefined, undefined, 'question'), [{ text: 'q' }]);
  // h4-style rows hold prompt and messages; without a field the messages win, with it the prompt column is read
  const h4 = await readPromptsAsync(at('h4-style.parquet'), undefined, undefined, 'prompt');
  assert.ok(h4.length > 0 && h4.every((r) => 'text' in r));
  assert.ok((await readPromptsAsync(at('h4-style.parquet'))).every((r) => 'messages' in r));
  await assert.rejects(
    readPromptsAsync(at('text.parquet'), undefined, undefined, 'question'),
    /text\.parquet has no column "question" \(dataset\.field\): its columns are text/,
  );
  await assert.rejects(
    readPromptsAsync(at('chat-datasets.parquet'), undefined, undefined, 'score'),
    /column "score" \(dataset\.field\) holds neither strings nor lists/,
  );
  assert.equal(datasetFacts(at('text-no-prompt.parquet'), 'question').error, undefined);
  assert.match(datasetFacts(at('text-no-prompt.parquet')).error!, /dataset\.field can name the one that holds the prompt/);
});

test('dataset.field in a config: resolved for the run (and its report), read through a dataset source, checked by the editor', async () => {
  const text = (field: string, file = gsm8k) =>
    `diagnostic_pipeline:\n  models: { base: ${FIXTURES}/base, sft: ${FIXTURES}/sft-domain }\n  sae: { path: ${FIXTURES}/saes/blocks.3.hook_resid_post }\n  layers: { target_indices: [3] }\n  dataset: { path: ${file}, field: ${field} }\n`;
  const configPath = path.join(dir, 'field.sae-diff.yaml');
  const config = loadConfigText(text('question'), configPath);
  assert.equal(config.dataset.field, 'question');
  assert.equal(configToJson(config).dataset?.field, 'question');
  const records = await readDatasetPrompts(config.dataset, resolveDataset(config.dataset));
  assert.deepEqual(records, [{ text: 'Natalia sold clips to 48 friends.' }, { text: 'Weng earns $12 an hour.' }]);
  const messages = (field: string, file?: string) => validateConfigText(text(field, file), configPath).diagnostics.map((d) => d.message);
  assert.deepEqual(
    messages('question').filter((m) => /dataset|prompt/i.test(m)),
    [],
  );
  assert.ok(
    messages('problem').some((m) =>
      /Line 1 of gsm8k\.jsonl has no "problem" \(dataset\.field\); its keys are "question", "answer"/.test(m),
    ),
    messages('problem').join('\n'),
  );
  assert.ok(messages('question', path.join(FIXTURES, 'eval', 'general.txt')).some((m) => /holds one prompt per line, not records/.test(m)));
});
