import assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { datasetFacts } from '../src/engine/authoring/facts';
import { invalidateSemanticCache } from '../src/engine/authoring/index';
import { charBound, cutRecord, encodeCapped, readPrompts, readPromptsAsync } from '../src/engine/data/dataset';
import { loadTokenizer } from '../src/engine/data/tokenizer';
import { boundedThreads } from '../src/engine/pipeline/pipeline';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const dir = scratchDir('dataset-stream');
const write = (name: string, data: string | Buffer) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, data);
  invalidateSemanticCache(f);
  return f;
};

test('a JSONL with a UTF-8 BOM is read, by the run and by validation', () => {
  const f = write('bom.jsonl', '\uFEFF{"text": "hello"}\n{"text": "world"}\n');
  assert.deepEqual(readPrompts(f), [{ text: 'hello' }, { text: 'world' }]);
  assert.equal(datasetFacts(f).error, undefined);
});

test('chat messages whose content is a list of text parts are read (joined by newlines); other parts are refused', () => {
  const f = write(
    'parts.jsonl',
    '{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}\n',
  );
  assert.deepEqual(readPrompts(f), [{ messages: [{ role: 'user', content: 'a\nb' }] }]);
  assert.equal(datasetFacts(f).error, undefined);
  const img = write('image.jsonl', '{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}\n');
  assert.throws(() => readPrompts(img), /Line 1 has a messages entry 0 without a string role and a text content/);
  assert.match(datasetFacts(img).error!, /Line 1 of image\.jsonl has a messages entry 0/);
});

test('a dataset that is a folder is a clear error, not a stack trace', async () => {
  const d = path.join(dir, 'folder.jsonl');
  fs.mkdirSync(d);
  assert.throws(() => readPrompts(d), /is a folder, not a prompts file/);
  await assert.rejects(readPromptsAsync(d), /is a folder, not a prompts file/);
  const cfg = writeConfig(dir, 'folder.sae-diff.yaml', fixtureConfig({ layers: '{ target_indices: [1] }', dataset: `{ path: "${d}" }` }));
  const r = runCli(['run', cfg, '--out', path.join(dir, 'folder.json'), '--quiet']);
  assert.equal(r.code, 1);
  // named at the config's dataset.path, before anything is loaded
  assert.match(r.stderr, /^error: .*folder\.sae-diff\.yaml:\d+:\d+: The dataset .*folder\.jsonl is a folder, not a prompts file/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('a first JSONL record longer than 64 KB is checked, not called empty', () => {
  const f = write('long-first.jsonl', JSON.stringify({ text: 'x'.repeat(100_000) }) + '\n{"text": "b"}\n');
  const facts = datasetFacts(f);
  assert.equal(facts.error, undefined);
  assert.ok(facts.checkedRecords >= 1);
  const bad = write('long-bad.jsonl', JSON.stringify({ txt: 'x'.repeat(100_000) }) + '\n');
  assert.match(datasetFacts(bad).error!, /Line 1 of long-bad\.jsonl has no prompt field/);
});

test('bytes that are not UTF-8 are an error naming the line, in the run and in validation', () => {
  const f = write('latin1.jsonl', Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "caf'), Buffer.from([0xe9]), Buffer.from('"}\n')]));
  assert.throws(
    () => readPrompts(f),
    (e: any) => e.location?.line === 2 && /Line 2 is not valid UTF-8/.test(e.message),
  );
  assert.match(datasetFacts(f).error!, /Line 2 of latin1\.jsonl is not valid UTF-8/);
});

test('text is cut to a character bound before encoding, with the same first max_tokens ids', () => {
  const tok = loadTokenizer(path.join(FIXTURES, 'base', 'tokenizer.json'), path.join(FIXTURES, 'base', 'tokenizer_config.json'));
  const words = fs.readFileSync(path.join(FIXTURES, 'eval', 'general.txt'), 'utf8').replace(/\n/g, ' ');
  const text = words.repeat(Math.ceil(200_000 / words.length));
  for (const max of [2, 16, 64]) {
    let longest = 0;
    const ids = encodeCapped(
      (t) => {
        longest = Math.max(longest, t.length);
        return tok.encode(t);
      },
      text,
      max,
    );
    assert.deepEqual(ids, tok.encode(text).slice(0, max));
    assert.ok(longest <= charBound(max), `encoded ${longest} characters for max_tokens ${max}`);
  }
  const cut = cutRecord({ text: 'y'.repeat(10_000_000) }, 16) as { text: string };
  assert.ok(cut.text.length <= charBound(16) * 64);
});

test('a 1 GB JSONL with max_samples 4 runs and validates in bounded memory (streamed, never read whole)', async () => {
  // sparse: four real records, then ~1 GB of zero bytes without a newline (costs no disk)
  const f = path.join(dir, 'huge.jsonl');
  const head = ['a', 'b', 'c', 'd'].map((w) => JSON.stringify({ text: `The ${w} of a long story.` })).join('\n') + '\n';
  fs.writeFileSync(f, head);
  fs.truncateSync(f, 1024 ** 3);
  try {
    const cfg = writeConfig(
      dir,
      'huge.sae-diff.yaml',
      fixtureConfig({
        layers: '{ target_indices: [1] }',
        dataset: `{ path: "${f}", max_samples: 4 }`,
        runtime: '{ max_tokens: 16, execution_provider: cpu }',
      }),
    );
    for (const args of [
      ['validate', cfg],
      ['run', cfg, '--out', path.join(dir, 'huge.json'), '--quiet'],
    ]) {
      const script =
        `require(${JSON.stringify(path.join(REPO_ROOT, 'out', 'src', 'cli', 'main.js'))}).main(${JSON.stringify(args)})` +
        `.then((c) => { process.stderr.write('RSS ' + process.resourceUsage().maxRSS + '\\n'); process.exit(c); })`;
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
      });
      child.stderr.on('data', (d) => {
        out += d;
      });
      const code = await new Promise((r) => child.on('exit', r));
      assert.equal(code, 0, out);
      const rssMb = Number(/RSS (\d+)/.exec(out)![1]) / 1024;
      assert.ok(rssMb < 400, `${args[0]}: peak RSS ${rssMb.toFixed(0)} MB`);
    }
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'huge.json'), 'utf8'));
    assert.equal(report.run.samples, 4);
  } finally {
    fs.rmSync(f, { force: true });
  }
});

test('runtime threads beyond 4 per core (or 256) are capped with a warning', () => {
  const warnings: string[] = [];
  const n = boundedThreads(100000, warnings, () => {});
  assert.ok(n >= 1 && n <= 256);
  assert.match(warnings[0], /runtime\.threads 100000 is more than \d+ \(4 per core, at most 256\)/);
  assert.equal(
    boundedThreads(0, [], () => {}),
    0,
  );
  assert.equal(
    boundedThreads(2, [], () => {}),
    2,
  );
});
