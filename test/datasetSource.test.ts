/**
 * dataset.path as a folder or a Hugging Face dataset id in the local hub cache (data/datasetSource.ts): the split's
 * files as load_dataset finds them (the card's configs, else push_to_hub's data/{split}-NNNNN-of-NNNNN shards), read
 * in order up to max_samples; a missing shard, subset or split is an error that says what to give, in the run and in
 * the editor. The caches here are laid out as huggingface_hub lays them out (snapshots/<revision>, refs/main).
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { loadConfigText } from '../src/engine/config/load';
import { looksLikeHubDatasetId } from '../src/engine/config/modelId';
import type { SaeDiffError } from '../src/engine/core/errors';
import { readPrompts } from '../src/engine/data/dataset';
import { globPattern, readDatasetPrompts, resolveDataset, type DatasetRef } from '../src/engine/data/datasetSource';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import { validateConfigText } from '../src/engine/authoring/validateFile';
import { completionsAt } from '../src/engine/authoring/completion';
import { hoverAt } from '../src/engine/authoring/hover';
import { fixtureConfig, runCli } from './helpers/cli';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';

const PARQUET = path.join(REPO_ROOT, 'test', 'fixtures', 'parquet');
const dir = scratchDir('dataset-source');
const cache = path.join(dir, 'hub');
const env = { HF_HUB_CACHE: cache };
const REVISION = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

/** A cached hub dataset `org/name`: its files (relative path -> source file or text) under one snapshot, refs/main naming it. */
function cached(id: string, files: Record<string, string>): string {
  const repo = path.join(cache, `datasets--${id.replace('/', '--')}`);
  const snapshot = path.join(repo, 'snapshots', REVISION);
  fs.rmSync(repo, { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    const to = path.join(snapshot, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    // huggingface_hub links snapshot files to blobs; a fixture path is linked the same way
    if (fs.existsSync(content)) fs.symlinkSync(content, to);
    else fs.writeFileSync(to, content);
  }
  fs.mkdirSync(path.join(repo, 'refs'), { recursive: true });
  fs.writeFileSync(path.join(repo, 'refs', 'main'), REVISION);
  return snapshot;
}

const ref = (hubId: string, split = 'train', subset?: string): DatasetRef => ({
  path: path.join(dir, hubId),
  hubId,
  split,
  ...(subset ? { subset } : {}),
});
const chat = readPrompts(path.join(FIXTURES, 'eval', 'chat.jsonl'), 24);
const general = readPrompts(path.join(FIXTURES, 'eval', 'general.txt'), 8);

test('push_to_hub shards of the split are read in order, up to max_samples', async () => {
  cached('org/pushed', {
    'README.md': '---\nlicense: mit\n---\n# card without configs\n',
    'data/train-00000-of-00002-0f1e.parquet': path.join(PARQUET, 'chat-datasets.parquet'),
    'data/train-00001-of-00002-9a8b.parquet': path.join(PARQUET, 'text.parquet'),
    'data/test-00000-of-00001-77aa.parquet': path.join(PARQUET, 'alpaca.parquet'),
    '.gitattributes': '*.parquet filter=lfs',
    // matched by the shard pattern but no data file: passed over, as load_dataset does
    'data/train-00001-of-00002-9a8b.md5': '0123',
  });
  const source = resolveDataset(ref('org/pushed'), env);
  assert.deepEqual(
    source.files.map((f) => path.basename(f)),
    ['train-00000-of-00002-0f1e.parquet', 'train-00001-of-00002-9a8b.parquet'],
  );
  assert.equal(source.label, 'org/pushed@a1b2c3d4e5f6 (split train, 2 files)');
  assert.deepEqual(await readDatasetPrompts(ref('org/pushed'), source), [...chat, ...general]);
  assert.deepEqual(await readDatasetPrompts(ref('org/pushed'), source, 27), [...chat, ...general.slice(0, 3)]);
  assert.equal(resolveDataset(ref('org/pushed', 'test'), env).files.length, 1);
});

test("a card's configs choose the files: named splits, subsets, the default one", async () => {
  cached('org/carded', {
    'README.md': [
      '---',
      'configs:',
      '- config_name: chat',
      '  default: true',
      '  data_files:',
      '  - split: train_sft',
      '    path: data/train_sft-*',
      '  - split: test_sft',
      '    path: [data/test_sft-*]',
      '- config_name: plain',
      '  data_files: plain/*.jsonl',
      '---',
    ].join('\n'),
    'data/train_sft-00000-of-00001.parquet': path.join(PARQUET, 'chat-row-groups.parquet'),
    'data/test_sft-00000-of-00001.parquet': path.join(PARQUET, 'alpaca.parquet'),
    'plain/a.jsonl': '{"text": "one"}\n{"text": "two"}\n',
    'plain/b.jsonl': '{"text": "three"}\n',
  });
  assert.deepEqual(await readDatasetPrompts(ref('org/carded', 'train_sft'), resolveDataset(ref('org/carded', 'train_sft'), env)), chat);
  const plain = ref('org/carded', 'train', 'plain');
  assert.deepEqual(await readDatasetPrompts(plain, resolveDataset(plain, env)), [{ text: 'one' }, { text: 'two' }, { text: 'three' }]);
  const refused = (r: DatasetRef, message: RegExp, hint: RegExp) =>
    assert.throws(
      () => resolveDataset(r, env),
      (e: SaeDiffError) => message.test(e.message) && hint.test(e.hint ?? '') && e.location?.key === 'dataset.path',
    );
  refused(ref('org/carded'), /Subset "chat" of org\/carded has no split "train": its splits are train_sft, test_sft/, /dataset\.split/);
  refused(ref('org/carded', 'train', 'other'), /org\/carded has no subset "other": its subsets are chat, plain/, /dataset\.subset/);
});

test('the editor completes dataset.split and dataset.subset from the cached dataset, and its hover says what is read', () => {
  const configPath = path.join(dir, 'complete.sae-diff.yaml');
  const complete = (dataset: string) => {
    const text = `diagnostic_pipeline:\n  dataset:\n${dataset}`;
    const lines = text.split('\n');
    const position = { line: lines.length - 1, character: lines[lines.length - 1].length };
    return completionsAt(text, configPath, position, { env }).map((c) => `${c.label} (${c.detail})`);
  };
  cached('org/done', {
    'data/train-00000-of-00002.parquet': path.join(PARQUET, 'text.parquet'),
    'data/train-00001-of-00002.parquet': path.join(PARQUET, 'text.parquet'),
    'data/test-00000-of-00001.parquet': path.join(PARQUET, 'text.parquet'),
  });
  assert.deepEqual(complete('    path: org/done\n    split: '), ['train (split of org/done)', 'test (split of org/done)']);
  cached('org/cards', {
    'README.md':
      '---\nconfigs:\n- config_name: a\n  data_files: [{split: x, path: a/*}]\n- config_name: b\n  default: true\n  data_files: [{split: y, path: b/*}, {split: z, path: b/*}]\n---\n',
    'a/1.jsonl': '{"text": "1"}\n',
    'b/1.jsonl': '{"text": "1"}\n',
  });
  assert.deepEqual(complete('    path: org/cards\n    split: '), ['y (split of org/cards)', 'z (split of org/cards)']);
  assert.deepEqual(complete('    path: org/cards\n    subset: a\n    split: '), ['x (split of org/cards)']);
  assert.deepEqual(complete('    path: org/cards\n    subset: '), ['a (subset of org/cards)', 'b (subset of org/cards)']);
  // hover on the path: what the run reads
  const text = 'diagnostic_pipeline:\n  dataset:\n    path: org/done\n';
  const hover = hoverAt(text, configPath, { line: 2, character: 12 }, { env })?.markdown ?? '';
  assert.match(hover, /\*\*Dataset\*\*: org\/done@a1b2c3d4e5f6 \(split train, 2 files\) \(from the Hugging Face cache\)/);
  assert.match(hover, /train-00001-of-00002\.parquet`\n\nSplits: train, test/);
  const absent = hoverAt(text.replace('org/done', 'org/none'), configPath, { line: 2, character: 12 }, { env })?.markdown ?? '';
  assert.match(
    absent,
    /\*\*Dataset\*\*: The dataset org\/none is neither a file or folder beside the config nor in the local Hugging Face cache/,
  );
  const parquet = hoverAt(
    text.replace('org/done', path.join(PARQUET, 'chat-datasets.parquet')),
    configPath,
    { line: 2, character: 12 },
    { env },
  );
  assert.match(parquet?.markdown ?? '', /\*\*Dataset\*\*: Parquet, 24 rows; prompt columns messages \(chat\)/);
});

test('a missing shard is an error only when the prompts would be read from it; splits by keyword as load_dataset finds them; no cache: errors that say what to give', async () => {
  cached('org/partial', {
    'data/train-00000-of-00003.parquet': path.join(PARQUET, 'chat-datasets.parquet'),
    'data/train-00002-of-00003.parquet': path.join(PARQUET, 'text.parquet'),
  });
  const r = ref('org/partial');
  const source = resolveDataset(r, env);
  assert.deepEqual(await readDatasetPrompts(r, source, 20), chat.slice(0, 20));
  await assert.rejects(readDatasetPrompts(r, source, 30), (e: SaeDiffError) => {
    assert.match(e.message, /lacks shard train-00001-of-00003, which the prompts would be read from/);
    assert.match(e.hint ?? '', /hf download org\/partial --repo-type dataset/);
    return true;
  });
  // without shards, split keywords in file names (datasets 5.0.1's load_dataset picks the same files here)
  cached('org/odd', { 'prompts/train_part.jsonl': '{"text": "x"}\n', 'notes.txt': 'x' });
  assert.deepEqual(
    resolveDataset(ref('org/odd'), env).files.map((f) => path.basename(f)),
    ['train_part.jsonl'],
  );
  // split keywords in folder names come first: then the file names' keywords are not read
  cached('org/keywords', {
    'data/validation/a.jsonl': '{"text": "v"}\n',
    'data/my_train.jsonl': '{"text": "t"}\n',
    'test.jsonl': '{"text": "t2"}\n',
  });
  assert.deepEqual(
    resolveDataset(ref('org/keywords', 'validation'), env).files.map((f) => path.basename(f)),
    ['a.jsonl'],
  );
  assert.throws(
    () => resolveDataset(ref('org/keywords'), env),
    /org\/keywords has no split "train" as load_dataset finds splits .*: its splits are validation/,
  );
  // no keyword anywhere: every data file is train
  cached('org/plain', { 'prompts.jsonl': '{"text": "p"}\n', 'more/prompts2.jsonl': '{"text": "q"}\n' });
  const plainRoot = path.join(cache, 'datasets--org--plain', 'snapshots', REVISION);
  assert.deepEqual(
    resolveDataset(ref('org/plain'), env).files.map((f) => path.relative(plainRoot, f)),
    [path.join('more', 'prompts2.jsonl'), 'prompts.jsonl'],
  );
  cached('org/csv', { 'data/train-00000-of-00001.csv': 'text\nx\n' });
  assert.throws(() => resolveDataset(ref('org/csv'), env), /not '\.csv' \(data\/train-00000-of-00001\.csv of org\/csv\)/);
  assert.throws(
    () => resolveDataset(ref('org/absent'), env),
    (e: SaeDiffError) =>
      /org\/absent is neither a file or folder beside the config nor in the local Hugging Face cache/.test(e.message) &&
      /hf download org\/absent --repo-type dataset/.test(e.hint ?? ''),
  );
});

test('a folder the config names is read like a snapshot; hub ids are org/name without a data-file extension', async () => {
  const folder = path.join(dir, 'local-folder');
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(path.join(folder, 'data'), { recursive: true });
  fs.copyFileSync(path.join(PARQUET, 'text.parquet'), path.join(folder, 'data', 'validation-00000-of-00001.parquet'));
  // a link back up the tree is walked once
  fs.symlinkSync('..', path.join(folder, 'data', 'up'));
  const r: DatasetRef = { path: folder, split: 'validation' };
  assert.deepEqual(await readDatasetPrompts(r, resolveDataset(r, env)), general);
  assert.deepEqual(resolveDataset({ path: path.join(PARQUET, 'text.parquet'), split: 'train' }, env).files, [
    path.join(PARQUET, 'text.parquet'),
  ]);
  assert.ok(looksLikeHubDatasetId('HuggingFaceH4/ultrachat_200k'));
  assert.ok(!looksLikeHubDatasetId('eval/prompts.jsonl'));
  assert.ok(!looksLikeHubDatasetId('prompts'));
  assert.ok(!looksLikeHubDatasetId('../org/name'));
  assert.ok(globPattern('data/train_sft-*').test('data/train_sft-00000-of-00001.parquet'));
  assert.ok(!globPattern('data/*.parquet').test('data/sub/x.parquet'));
  assert.ok(globPattern('**/*.parquet').test('x.parquet') && globPattern('**/*.parquet').test('a/b/x.parquet'));
  assert.ok(globPattern('data/train-[0-9][0-9]*.*').test('data/train-01.jsonl'));
});

test('a run on a cached hub id reads its split and records the id; the editor resolves it too', async () => {
  cached('org/run', { 'data/train-00000-of-00001.parquet': path.join(PARQUET, 'chat-datasets.parquet') });
  const yaml = fixtureConfig({ layers: '{ target_indices: [2] }', dataset: '{ path: "org/run", max_samples: 12 }' }).replace(
    /@\//g,
    FIXTURES.replace(/\\/g, '/') + '/',
  );
  const configPath = path.join(dir, 'hub-run.sae-diff.yaml');
  fs.writeFileSync(configPath, yaml);
  const saved = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
  try {
    const log: string[] = [];
    const { report } = await runDiagnostic(loadConfigText(yaml, configPath), {
      provider: 'cpu',
      outPath: path.join(dir, 'hub-run.json'),
      onLog: (l) => log.push(l),
    });
    assert.equal(report.run.config?.dataset?.path, 'org/run');
    assert.equal(report.run.config?.dataset?.split, 'train');
    assert.match(log.join('\n'), /dataset: org\/run@a1b2c3d4e5f6 \(split train, 1 file\)/);
    assert.match(log.join('\n'), /dataset: 12 prompts/);
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = saved;
  }
  const messages = (text: string) => validateConfigText(text, configPath, { env }).diagnostics.map((d) => d.message);
  assert.deepEqual(messages(yaml), []);
  assert.match(
    messages(yaml.replace('path: "org/run"', 'path: "org/run", split: "test"')).join('\n'),
    /org\/run has no split "test" .*: its splits are train/,
  );
});

test('the CLI runs on a cached hub dataset with SAEs from a cached hub repo (org/name/folder/{layer})', () => {
  cached('org/cli', { 'data/train-00000-of-00001.parquet': path.join(PARQUET, 'text.parquet') });
  const snapshot = path.join(cache, 'models--sae-org--tiny-saes', 'snapshots', REVISION);
  for (const layer of [1, 2]) {
    const from = path.join(FIXTURES, 'saes', `blocks.${layer}.hook_resid_post`);
    const to = path.join(snapshot, 'res', `blocks.${layer}.hook_resid_post`);
    fs.rmSync(to, { recursive: true, force: true });
    fs.mkdirSync(to, { recursive: true });
    for (const f of fs.readdirSync(from)) fs.symlinkSync(path.join(from, f), path.join(to, f));
  }
  const yaml = fixtureConfig({
    layers: '{ target_indices: [1, 2] }',
    sae: '{ path: "sae-org/tiny-saes/res/blocks.{layer}.hook_resid_post", k: 16 }',
    dataset: '{ path: "org/cli" }',
    output: `{ format: "json", save_path: "${path.join(dir, 'cli.json').replace(/\\/g, '/')}" }`,
  }).replace(/@\//g, FIXTURES.replace(/\\/g, '/') + '/');
  const configPath = path.join(dir, 'cli.sae-diff.yaml');
  fs.writeFileSync(configPath, yaml);
  const saved = process.env.HF_HUB_CACHE;
  process.env.HF_HUB_CACHE = cache;
  try {
    const r = runCli(['run', configPath]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'cli.json'), 'utf8'));
    assert.equal(report.run.config.sae.path['1'], path.join(snapshot, 'res', 'blocks.1.hook_resid_post'));
    assert.equal(report.run.config.dataset.path, 'org/cli');
    assert.equal(report.comparisons[0].layers.length, 2);
    // a folder that is in neither place: the run says how to download it
    fs.writeFileSync(configPath, yaml.replace('sae-org/tiny-saes/res/', 'sae-org/tiny-saes/mlp/'));
    const missing = runCli(['run', configPath]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /SAE folder not found: .*hf download sae-org\/tiny-saes --include "mlp\/blocks\.1\.hook_resid_post\/\*"/);
    // a dataset that is not there stops the run before anything is loaded, at the config's line
    fs.writeFileSync(configPath, yaml.replace('path: "org/cli"', 'path: "org/absent"'));
    const absent = runCli(['run', configPath]);
    assert.equal(absent.code, 1);
    assert.match(
      absent.stderr,
      /cli\.sae-diff\.yaml:\d+:\d+: The dataset org\/absent is neither a file or folder beside the config nor in the local Hugging Face cache/,
    );
    assert.doesNotMatch(absent.stderr, /loaded:/);
  } finally {
    if (saved === undefined) delete process.env.HF_HUB_CACHE;
    else process.env.HF_HUB_CACHE = saved;
  }
});
