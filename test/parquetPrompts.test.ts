/**
 * Parquet datasets (data/parquetPrompts.ts), from the files pyarrow and `datasets` write
 * (test/fixtures/parquet_fixtures.py): rows read as the same JSONL records, across row groups and codecs, only the
 * prompt columns decoded; what cannot be read is refused naming the file, the column or the row, in the run and in
 * the editor.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { datasetFacts } from '../src/engine/authoring/facts';
import type { SaeDiffError } from '../src/engine/core/errors';
import { readPrompts, readPromptsAsync } from '../src/engine/data/dataset';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const PARQUET = path.join(REPO_ROOT, 'test', 'fixtures', 'parquet');
const at = (name: string) => path.join(PARQUET, name);
const dir = scratchDir('parquet');

/** tiny-llama/eval/chat.jsonl's first 24 records, which the chat fixtures hold. */
const chatJsonl = () => readPrompts(path.join(FIXTURES, 'eval', 'chat.jsonl'), 24);

test('a chat dataset saved by datasets, in row groups, and with each codec reads as the JSONL records it came from', async () => {
  const expected = chatJsonl();
  assert.equal(expected.length, 24);
  assert.ok(expected.every((r) => 'messages' in r));
  for (const name of ['chat-datasets.parquet', 'chat-row-groups.parquet', 'chat-gzip.parquet', 'chat-brotli.parquet', 'chat-zstd.parquet'])
    assert.deepEqual(await readPromptsAsync(at(name)), expected, name);
  assert.deepEqual(await readPromptsAsync(at('text.parquet')), readPrompts(path.join(FIXTURES, 'eval', 'general.txt'), 8));
  // max_samples stops inside the second row group (rows of 10)
  assert.deepEqual(await readPromptsAsync(at('chat-row-groups.parquet'), 15), expected.slice(0, 15));
});

test('Alpaca rows with nulls and a history list read as LLaMA-Factory converts them', async () => {
  assert.deepEqual(await readPromptsAsync(at('alpaca.parquet')), [
    { messages: [{ role: 'user', content: 'Name a colour.' }] },
    {
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Add\n2 and 3' },
        { role: 'assistant', content: '5' },
      ],
    },
    { messages: [{ role: 'user', content: 'Translate' }] },
  ]);
});

test('rows with a prompt string and messages (ultrachat_200k, no_robots) are read as their messages', async () => {
  const chat = chatJsonl().slice(0, 3) as { messages: { role: string; content: string }[] }[];
  assert.deepEqual(
    await readPromptsAsync(at('h4-style.parquet')),
    chat.map((r, i) => ({ messages: [...r.messages, { role: 'assistant', content: `Reply ${i}.` }] })),
  );
  assert.equal(datasetFacts(at('h4-style.parquet')).hasChat, true);
});

test('what cannot be read is refused naming the file and the codec, the columns or the row', async () => {
  const refused = async (file: string, message: RegExp, hint?: RegExp) =>
    assert.rejects(readPromptsAsync(file), (e: SaeDiffError) => {
      assert.match(e.message, message);
      if (hint) assert.match(e.hint ?? '', hint);
      assert.equal(e.location?.file, file);
      return true;
    });
  await refused(
    at('chat-lz4.parquet'),
    /chat-lz4\.parquet stores column "messages" with LZ4_RAW compression, which sae-diff does not decode/,
    /pq\.write_table\(pq\.read_table\('chat-lz4\.parquet'\), 'prompts\.parquet', compression='snappy'\)/,
  );
  await refused(at('text-no-prompt.parquet'), /has no prompt column: its columns are question, answer/, /a "messages" list/);
  await refused(at('null-row.parquet'), /The row at index 2 of null-row\.parquet has no prompt field/);
  const fake = path.join(dir, 'train-00000-of-00001.parquet');
  fs.writeFileSync(fake, 'not parquet at all');
  await refused(fake, /Cannot read the Parquet file train-00000-of-00001\.parquet: parquet file invalid \(footer != PAR1\)/);
  // the synchronous reader says which one reads Parquet
  assert.throws(() => readPrompts(at('chat-datasets.parquet')), /read by readPromptsAsync/);
});

test('the editor checks a Parquet dataset from its footer: chat or text, and the same refusals', () => {
  assert.equal(datasetFacts(at('chat-datasets.parquet')).hasChat, true);
  assert.equal(datasetFacts(at('chat-datasets.parquet')).error, undefined);
  assert.equal(datasetFacts(at('alpaca.parquet')).hasChat, true);
  assert.equal(datasetFacts(at('text.parquet')).hasChat, false);
  assert.match(datasetFacts(at('chat-lz4.parquet')).error!, /LZ4_RAW compression.*\. Write it again with Snappy/);
  assert.match(datasetFacts(at('text-no-prompt.parquet')).error!, /has no prompt column/);
  const fake = path.join(dir, 'fake.parquet');
  fs.writeFileSync(fake, 'PAR1');
  assert.match(datasetFacts(fake).error!, /Cannot read the Parquet file fake\.parquet: no PAR1 footer/);
});
