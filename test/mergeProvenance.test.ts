import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { before, test } from 'node:test';
import { mergePartialReports } from '../src/engine/merge/merge';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { scratchDir } from './helpers/paths';

const dir = scratchDir('merge-provenance');
const small = (o: { models?: string; dataset?: string } = {}) =>
  fixtureConfig({
    layers: '{ target_indices: [1] }',
    dataset: o.dataset ?? '{ path: "@/eval/general.jsonl", max_samples: 8 }',
    runtime: '{ max_tokens: 16, execution_provider: cpu }',
    ...(o.models ? { models: o.models } : {}),
  });

function shard(name: string, yaml: string, i: number, n: number): string {
  const cfg = writeConfig(dir, `${name}.sae-diff.yaml`, yaml);
  const out = path.join(dir, `${name}-${i}of${n}.json`);
  const r = runCli(['run', cfg, '--shard', `${i}/${n}`, '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  return out;
}

/** A copy of a part with one change. */
function tampered(file: string, name: string, edit: (r: any) => void): string {
  const r = JSON.parse(fs.readFileSync(file, 'utf8'));
  edit(r);
  const out = path.join(dir, `tampered-${name}.json`);
  fs.writeFileSync(out, JSON.stringify(r));
  return out;
}

let p1 = '',
  p2 = '';
before(() => {
  p1 = shard('run', small(), 1, 2);
  p2 = shard('run', small(), 2, 2);
});

test('the parts of one run merge; each records its inputs by path and sha256', () => {
  const part = JSON.parse(fs.readFileSync(p1, 'utf8'));
  const pv = part.partial.provenance;
  assert.match(pv.dataset.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(
    pv.models.map((m: any) => [m.role, m.name]),
    [
      ['base', 'base'],
      ['sft', 'sft-refusal'],
    ],
  );
  assert.match(pv.saes['1'].sha256, /^[0-9a-f]{64}$/);
  const merged = mergePartialReports([p2, p1]);
  assert.equal(merged.complete, true);
  assert.equal(merged.run.samples, 8);
});

test('parts run on other prompts, or on another fine-tune with the same name, are refused', () => {
  const otherData = shard('other-data', small({ dataset: '{ path: "@/eval/domain.jsonl", max_samples: 8 }' }), 2, 2);
  assert.throws(() => mergePartialReports([p1, otherData]), /This part was run on other prompts than the first part .*domain\.jsonl/);
  const sameName = shard('same-name', small({ models: '{ base: "@/base", sft: { name: sft-refusal, path: "@/sft-late" } }' }), 2, 2);
  assert.throws(
    () => mergePartialReports([p1, sameName]),
    /The sft model 'sft-refusal' of this part differs from the first part's \(.*\): .*sft-late \(sha256 [0-9a-f]{12}\)/,
  );
  const r = runCli(['merge', p1, sameName, '--out', path.join(dir, 'mixed.json')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /sft-late.*sha256/);
  assert.ok(!fs.existsSync(path.join(dir, 'mixed.json')));
});

test('tampered parts are refused with a clear message, never merged or allowed to exhaust memory', () => {
  const cases: [string, (r: any) => void, RegExp][] = [
    [
      'index',
      (r) => {
        r.shard.index = 4;
      },
      /shard index 4 is not one of 0 to 1 \(shard 5 of 2\)/,
    ],
    [
      'count-2-32',
      (r) => {
        r.shard.count = 2 ** 32;
      },
      /shard count 4294967296 is not an integer from 1 to 65536/,
    ],
    [
      'count-1e9',
      (r) => {
        r.shard.count = 1e9;
      },
      /shard count 1000000000 is not an integer/,
    ],
    [
      'truncated',
      (r) => {
        const a = r.partial.accumulators[0]['1'];
        a.cntB = a.cntB.slice(0, 10);
      },
      /accumulator of model 1, layer 1 has a cntB that is not 1024 finite numbers/,
    ],
    [
      'emptied',
      (r) => {
        r.partial.accumulators = [{}];
      },
      /holds accumulators for 1 models, not 2|are for layers \[\], not \[1\]/,
    ],
    [
      'emptied-layer',
      (r) => {
        r.partial.accumulators[0] = {};
      },
      /accumulators of model 1 are for layers \[\], not \[1\]/,
    ],
    [
      'tokens',
      (r) => {
        r.partial.accumulators[0]['1'].sums.tokens = 1e9;
      },
      /counts 1000000000 tokens, but the shard's prompts have \d+ evaluated tokens/,
    ],
    [
      'sequence-ids',
      (r) => {
        r.partial.sequences = { x: [1, 2] };
      },
      /sequence ids of this part \(x\) are not prompts 0-3 of shard 1 of 2/,
    ],
    [
      'token-ids',
      (r) => {
        r.partial.sequences['0'] = [1, -5];
      },
      /token ids of prompt 0 are not a list of non-negative integers/,
    ],
    [
      'context',
      (r) => {
        const c = r.partial.accumulators[0]['1'].ctxBase;
        const i = c.samples.findIndex((s: number) => s >= 0);
        c.samples[i] = 7;
      },
      /top context \(prompt 7, .*outside this shard's prompts/,
    ],
    [
      'no-provenance',
      (r) => {
        delete r.partial.provenance;
      },
      /does not record what it ran on/,
    ],
  ];
  for (const [name, edit, message] of cases) {
    const bad = tampered(p1, name, edit);
    assert.throws(
      () => mergePartialReports([bad, p2]),
      (e: any) => e.name === 'SaeDiffError' && message.test(e.message),
      name,
    );
  }
  const dup = runCli(['merge', p1, p1, '--out', path.join(dir, 'dup.json')]);
  assert.match(dup.stderr, /Shard 1 of 2 is given twice/);
});

test('more shards than prompts: the empty shards write empty partial reports, and all of them merge', () => {
  const yaml = small({ dataset: '{ path: "@/eval/general.jsonl", max_samples: 2 }' });
  const parts = [1, 2, 3, 4].map((i) => shard('tiny', yaml, i, 4));
  const empty = parts.map((f) => JSON.parse(fs.readFileSync(f, 'utf8'))).filter((r) => Object.keys(r.partial.sequences).length === 0);
  assert.equal(empty.length, 2);
  assert.ok(empty.every((r) => r.run.warnings.every((w: string) => !/self-check failed/.test(w))));
  const merged = mergePartialReports(parts);
  assert.equal(merged.run.samples, 2);
  assert.equal(merged.complete, true);
});

test('merge --out naming one of its parts is refused, and the part is left as it was', () => {
  const before = fs.readFileSync(p1, 'utf8');
  const r = runCli(['merge', p1, p2, '--out', p1]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--out is one of the partial reports/);
  assert.equal(fs.readFileSync(p1, 'utf8'), before);
});
