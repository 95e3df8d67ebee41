import assert from 'node:assert/strict';
import { LAYER_METRIC_FIELDS } from '../src/shared/layerMetrics';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { runCli } from './helpers/cli';
import { LAYER_TOL, FEATURE_ABS_TOL, FEATURE_REL_TOL } from './helpers/golden';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('shard');
const config = path.join(FIXTURES, 'golden', 'sft-domain__general.yaml');
const read = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as SaeDiffReport;

test('a 3-shard run merged equals the unsharded run (docs/metrics.md tolerances; same contexts)', () => {
  const parts = [1, 2, 3].map((i) => {
    const out = path.join(dir, `part${i}.json`);
    const r = runCli(['run', config, '--shard', `${i}/3`, '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const p = read(out);
    assert.equal(p.complete, false, 'a partial report never poses as complete');
    assert.deepEqual(p.shard, { index: i - 1, count: 3 });
    return out;
  });
  const merged = path.join(dir, 'merged.json');
  const m = runCli(['merge', ...parts.reverse(), '--out', merged]);
  assert.equal(m.code, 0, m.stderr);
  const single = path.join(dir, 'single.json');
  assert.equal(runCli(['run', config, '--out', single, '--quiet']).code, 0);
  const a = read(merged),
    b = read(single);
  assert.equal(a.complete, true);
  assert.equal(a.partial, undefined);
  assert.equal(a.run.tokens, b.run.tokens);
  assert.equal(a.run.samples, 64);
  a.comparisons[0].layers.forEach((la, i) => {
    const lb = b.comparisons[0].layers[i];
    for (const k of LAYER_METRIC_FIELDS) {
      assert.ok(Math.abs(la[k] - lb[k]) <= LAYER_TOL, `${k}`);
    }
    assert.deepEqual(la.flags, lb.flags);
    assert.equal(la.shifted_count, lb.shifted_count);
    assert.deepEqual(
      la.shifted_features.map((f) => [f.id, f.category]),
      lb.shifted_features.map((f) => [f.id, f.category]),
    );
    la.shifted_features.forEach((f, j) => {
      const g = lb.shifted_features[j];
      for (const k of ['freq_base', 'freq_sft', 'mean_base', 'mean_sft', 'mean_abs_diff'] as const) {
        const d = Math.abs(f[k] - g[k]);
        assert.ok(d <= FEATURE_ABS_TOL || d <= FEATURE_REL_TOL * Math.abs(g[k]), `${k}`);
      }
      // The single run adds token windows after the run (report/featureDetails.ts); a merge has no models to replay.
      const found = (
        list: { activation: number; sample: number; position: number; before: string; token: string; after: string }[] | undefined,
      ) => list?.map(({ activation, sample, position, before, token, after }) => ({ activation, sample, position, before, token, after }));
      assert.deepEqual(found(f.contexts?.base), found(g.contexts?.base));
      assert.deepEqual(found(f.contexts?.sft), found(g.contexts?.sft));
    });
  });
});

test('merge refuses missing, repeated and foreign parts', () => {
  const p1 = path.join(dir, 'part1.json'),
    p2 = path.join(dir, 'part2.json');
  let r = runCli(['merge', p1, p2, '--out', path.join(dir, 'x.json')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Shards 3 of 3 are missing/);
  r = runCli(['merge', p1, p1, p2, '--out', path.join(dir, 'x.json')]);
  assert.match(r.stderr, /Shard 1 of 3 is given twice/);
  r = runCli(['merge', path.join(dir, 'single.json'), '--out', path.join(dir, 'x.json')]);
  assert.match(r.stderr, /Not a partial report of a sharded run/);
  assert.equal(fs.existsSync(path.join(dir, 'x.json')), false);
});
