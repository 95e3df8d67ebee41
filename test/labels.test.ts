import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { test } from 'node:test';
import { validateConfigText } from '../src/engine/authoring/index';
import { labelMismatches, readLabelSet } from '../src/engine/report/labels';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { scratchDir } from './helpers/paths';

// Feature labels as Neuronpedia exports them (legacy JSON list, JSONL, gzipped JSONL batches in a folder) and as a plain map.
const dir = scratchDir('labels');
/** A Neuronpedia explanation record, as its exports write it (index is a string). */
const row = (index: number, description: string, layer = '3-res-jb', modelId = 'tiny-llama/base') => ({
  modelId,
  layer,
  index: String(index),
  description,
  explanationModelName: 'gpt-4o-mini',
  typeName: 'oai_token-act-pair',
});
const write = (name: string, body: string | Buffer) => {
  const f = path.join(dir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, body);
  return f;
};

test('Neuronpedia legacy JSON list, JSONL, and the plain map give the same labels', () => {
  const rows = [row(5, 'five'), row(7, 'seven'), row(5, 'a second explanation of 5')];
  const expected = new Map([
    [5, 'five'],
    [7, 'seven'],
  ]);
  assert.deepEqual(readLabelSet(write('legacy.json', JSON.stringify(rows))).labels, expected);
  assert.deepEqual(readLabelSet(write('export.jsonl', rows.map((r) => JSON.stringify(r)).join('\n') + '\n')).labels, expected);
  assert.deepEqual(readLabelSet(write('map.json', JSON.stringify({ 5: 'five', 7: 'seven' }))).labels, expected);
  const set = readLabelSet(write('layers.json', JSON.stringify(rows)));
  assert.deepEqual([[...set.modelIds], [...set.layers]], [['tiny-llama/base'], ['3-res-jb']]);
});

test('a folder of gzipped JSONL batches (explanations/batch-N.jsonl.gz) is read whole, in batch order', () => {
  const folder = path.join(dir, 'export');
  const batch = (n: number, rows: object[]) =>
    write(`export/explanations/batch-${n}.jsonl.gz`, zlib.gzipSync(rows.map((r) => JSON.stringify(r)).join('\n')));
  batch(0, [row(1, 'one'), row(2, 'two')]);
  batch(2, [row(3, 'three')]);
  batch(10, [row(3, 'later three'), row(4, 'four')]);
  const set = readLabelSet(folder);
  assert.deepEqual(
    set.labels,
    new Map([
      [1, 'one'],
      [2, 'two'],
      [3, 'three'],
      [4, 'four'],
    ]),
  );
  assert.deepEqual(
    set.files.map((f) => path.basename(f)),
    ['batch-0.jsonl.gz', 'batch-2.jsonl.gz', 'batch-10.jsonl.gz'],
  );
  assert.deepEqual(readLabelSet(path.join(folder, 'explanations', 'batch-2.jsonl.gz')).labels, new Map([[3, 'three']]));
});

test('empty files give no labels; unknown records, bad lines, gzip bombs and folders without batches are refused clearly', () => {
  assert.equal(readLabelSet(write('empty.json', '')).labels.size, 0);
  assert.equal(readLabelSet(write('empty-list.json', '[]')).labels.size, 0);
  assert.throws(() => readLabelSet(write('unknown.json', JSON.stringify([{ foo: 1 }]))), /No feature labels found in the labels file/);
  assert.throws(
    () => readLabelSet(write('bad.jsonl', `${JSON.stringify(row(1, 'one'))}\n{oops\n`)),
    /Line 2 of the labels file is not JSON/,
  );
  fs.mkdirSync(path.join(dir, 'nothing'), { recursive: true });
  assert.throws(() => readLabelSet(path.join(dir, 'nothing')), /No label files \(\*\.json, \*\.jsonl, \*\.jsonl\.gz\) in the folder/);
  // 300 MB of zeros gzip to ~300 KB: refused at the cap, never inflated whole
  const bomb = write('bomb.jsonl.gz', zlib.gzipSync(Buffer.alloc(300 * 1024 * 1024)));
  assert.throws(() => readLabelSet(bomb), /Cannot gunzip the labels file/);
});

test('an export for another layer or model is a warning', () => {
  const set = readLabelSet(write('other.json', JSON.stringify([row(1, 'one', '4-res-jb', 'gpt2-small')])));
  assert.deepEqual(labelMismatches(set, 3, 'tiny-llama/base'), [
    `The labels for layer 3 (${path.join(dir, 'other.json')}) say they describe layer 4-res-jb.`,
    `The labels for layer 3 (${path.join(dir, 'other.json')}) describe model gpt2-small, but the SAE was trained on tiny-llama/base.`,
  ]);
  assert.deepEqual(labelMismatches(readLabelSet(write('same.json', JSON.stringify([row(1, 'one')]))), 3, 'tiny-llama/base'), []);
});

test('validate and run read labels alike: a template with labels for some layers, an export for another layer, an empty file', () => {
  const labelDir = path.join(dir, 'run-labels');
  write(
    'run-labels/layer3.jsonl.gz',
    zlib.gzipSync(Array.from({ length: 1024 }, (_, i) => JSON.stringify(row(i, `feature ${i}`, '5-res-jb'))).join('\n')),
  );
  write('run-labels/layer4.json', '');
  const body = fixtureConfig({
    sae: `{ path: "@/saes/blocks.{layer}.hook_resid_post", k: 16, labels: "${labelDir}/layer{layer}.jsonl.gz" }`,
    layers: '{ target_indices: [2, 3] }',
    dataset: '{ path: "@/eval/chat.jsonl", max_samples: 8 }',
  });
  const config = writeConfig(dir, 'labels.sae-diff.yaml', body);
  const ds = validateConfigText(fs.readFileSync(config, 'utf8'), config).diagnostics;
  assert.deepEqual(
    ds.map((d) => [d.code, d.severity]),
    [
      ['labels-missing-layer', 'warning'],
      ['labels-mismatch', 'warning'],
    ],
  );
  const out = path.join(dir, 'labels.json');
  const res = runCli(['run', config, '--out', out, '--quiet']);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as SaeDiffReport;
  assert.ok(report.run.warnings.some((w) => /No labels file for layer 2/.test(w)));
  assert.ok(report.run.warnings.some((w) => /labels for layer 3 .* say they describe layer 5-res-jb/.test(w)));
  const l3 = report.comparisons[0].layers.find((l) => l.layer === 3)!;
  assert.ok(l3.shifted_features.length > 0 && l3.shifted_features.every((f) => f.label === `feature ${f.id}`));
  assert.ok(report.comparisons[0].layers.find((l) => l.layer === 2)!.shifted_features.every((f) => f.label === undefined));
  // an empty labels file: a warning in validate, no labels at run (and no failure)
  const emptyCfg = writeConfig(dir, 'empty.sae-diff.yaml', body.replace('layer{layer}.jsonl.gz', 'layer4.json').replace('[2, 3]', '[4]'));
  assert.deepEqual(
    validateConfigText(fs.readFileSync(emptyCfg, 'utf8'), emptyCfg).diagnostics.map((d) => d.code),
    ['labels-empty'],
  );
  const r2 = runCli(['run', emptyCfg, '--out', path.join(dir, 'empty.json'), '--quiet']);
  assert.equal(r2.code, 0, r2.stderr);
});
