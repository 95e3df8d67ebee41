/**
 * Per-feature activation histograms (docs/metrics.md "Activation histograms"): values on the bin edges land
 * in the documented bins on both reduction paths; on the real fixture every reported feature's bins sum to
 * its firing count, the sparse and dense paths give the same counts, and merged shards give the single
 * run's; parts without histograms (older sae-diff) merge into a report without them; tampered counts and
 * malformed report rows are refused.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { loadConfigText } from '../src/engine/config/load';
import type { ReductionRequest } from '../src/engine/config/types';
import { HISTOGRAM_BINS, HISTOGRAM_EDGES, histogramBin } from '../src/engine/metrics/activationHistogram';
import { LayerAccumulator } from '../src/engine/metrics/layerAccumulator';
import { accumulatorFromJson, accumulatorToJson } from '../src/engine/metrics/serialize';
import { mergePartialReports } from '../src/engine/merge/merge';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import { reportJson } from '../src/engine/report/reportJson';
import { reportProblem } from '../src/shared/reportCheck';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { fixtureConfig } from './helpers/cli';
import { assertEdgeCaseBins } from './helpers/histogramEdgeCases';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('histograms');

test('histogramBin counts the edges strictly below z, for edges, their float neighbours, tiny and huge values', () => {
  const byDefinition = (z: number) => HISTOGRAM_EDGES.filter((e) => e < z).length;
  const below = (x: number) => x - Math.max(Number.MIN_VALUE, Math.abs(x) * 2 ** -52);
  const above = (x: number) => x + Math.max(Number.MIN_VALUE, Math.abs(x) * 2 ** -52);
  const values = [Number.MIN_VALUE, 1e-300, 2 ** -1022, 1e-6, 0.3, 1, 1.5, 3, 1000, 2047.9, 1e6, 1e300, Number.MAX_VALUE, Infinity];
  for (const e of HISTOGRAM_EDGES) values.push(e, below(e), above(e), Math.fround(above(e)), e * 1.25);
  for (const z of values) assert.equal(histogramBin(z), byDefinition(z), `z = ${z}`);
});

test('the edges are 23 octaves 2^-11 … 2^11, exact in float32', () => {
  assert.equal(HISTOGRAM_BINS, 24);
  assert.deepEqual(HISTOGRAM_EDGES.slice(0, 2), [1 / 2048, 1 / 1024]);
  assert.equal(HISTOGRAM_EDGES[HISTOGRAM_EDGES.length - 1], 2048);
  for (const e of HISTOGRAM_EDGES) assert.equal(Math.fround(e), e);
});

test('values on and beside the edges fall in the documented bins, on both paths', async () => {
  for (const reduction of ['sparse', 'dense'] as const) await assertEdgeCaseBins({ provider: 'cpu', threads: 1 }, reduction);
});

test('serialized accumulators keep their histograms; merging adds them', () => {
  const a = new LayerAccumulator(3, 2, 1),
    b = new LayerAccumulator(3, 2, 1);
  a.histBase.add(2, 0.3);
  a.histSft.add(0, 5000);
  b.histBase.add(2, 0.4);
  b.histBase.add(1, 1e-9);
  const back = accumulatorFromJson(JSON.parse(JSON.stringify(accumulatorToJson(a))));
  assert.deepEqual(back.histBase.counts, a.histBase.counts);
  assert.deepEqual(back.histSft.counts, a.histSft.counts);
  assert.equal(back.histogramsMissing, false);
  back.mergeFrom(b);
  assert.equal(back.histBase.feature(2)[10], 2);
  assert.equal(back.histBase.feature(1)[0], 1);
  assert.equal(back.histSft.feature(0)[23], 1);
  // a part written before histograms existed: the merge knows its histograms are not the run's
  const old = accumulatorToJson(b) as unknown as Record<string, unknown>;
  delete old.histBase;
  delete old.histSft;
  delete old.histogramBins;
  const merged = accumulatorFromJson(accumulatorToJson(a));
  merged.mergeFrom(accumulatorFromJson(old as never));
  assert.equal(merged.histogramsMissing, true);
});

/** Runs a fixture config in-process on the CPU with the given reduction path (and shard). */
async function run(
  name: string,
  yaml: string,
  reduction: ReductionRequest,
  shard?: { index: number; count: number },
): Promise<{ report: SaeDiffReport; file: string }> {
  const text = yaml.replace(/@\//g, FIXTURES.replace(/\\/g, '/') + '/').replace(/runtime: \{/, `runtime: { reduction: ${reduction},`);
  const file = path.join(dir, `${name}-${reduction}${shard ? `-${shard.index}` : ''}.json`);
  const { report } = await runDiagnostic(loadConfigText(text, path.join(dir, `${name}.yaml`)), { provider: 'cpu', outPath: file, shard });
  return { report: shard ? JSON.parse(fs.readFileSync(file, 'utf8')) : report, file };
}

// two fine-tunes, so each layer's histograms cover the features shifted in either one
const TWO_SFTS = fixtureConfig({
  models: '{ base: "@/base", sft: [{ name: refusal, path: "@/sft-refusal" }, { name: domain, path: "@/sft-domain" }] }',
  layers: '{ target_indices: [1, 3, 5] }',
  dataset: '{ path: "@/eval/general.jsonl", max_samples: 32 }',
  runtime: '{ max_tokens: 48, execution_provider: cpu }',
});

const histogramsOf = (r: SaeDiffReport) => r.comparisons.map((c) => c.layers.map((l) => ({ layer: l.layer, h: l.activation_histograms })));

test('real fixture: every shifted feature has histograms whose bins sum to its firing counts; sparse = dense; merged shards = single run', async () => {
  const sparseRun = await run('two', TWO_SFTS, 'sparse');
  const sparse = sparseRun.report;
  // written compactly: each histogram row (and every other array of numbers) on one line
  const text = fs.readFileSync(sparseRun.file, 'utf8');
  assert.ok(text.includes(`"edges": [${HISTOGRAM_EDGES.join(',')}]`), 'the edges on one line');
  assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(sparse)));
  const dense = (await run('two', TWO_SFTS, 'dense')).report;
  const tokens = sparse.run.tokens;
  assert.equal(sparse.version, 3);
  for (const r of [sparse, dense]) {
    const which = r === sparse ? 'sparse' : 'dense';
    r.comparisons[0].layers.forEach((_, li) => {
      const layer = r.comparisons[0].layers[li].layer;
      const union = [...new Set(r.comparisons.flatMap((c) => c.layers[li].all_shifted!.id))].sort((a, b) => a - b);
      assert.ok(
        union.length > r.comparisons[0].layers[li].all_shifted!.id.length,
        `layer ${layer}: the fine-tunes shift different features`,
      );
      r.comparisons.forEach((c, ci) => {
        const l = c.layers[li],
          h = l.activation_histograms!;
        assert.deepEqual(h.edges, HISTOGRAM_EDGES);
        assert.deepEqual(h.id, union, `${which} ${c.sft.name} layer ${layer}: every feature shifted in any fine-tune`);
        assert.deepEqual(h.base, r.comparisons[0].layers[li].activation_histograms!.base, 'base is the same in every comparison');
        const cols = l.all_shifted!;
        cols.id.forEach((id, k) => {
          const row = h.id.indexOf(id);
          const sum = (counts: number[]) => counts.reduce((a, b) => a + b, 0);
          assert.equal(h.base[row].length, HISTOGRAM_BINS);
          assert.equal(
            sum(h.base[row]),
            Math.round(cols.freq_base[k] * tokens),
            `${which} ${c.sft.name} layer ${layer} feature ${id}: base bins = firing count`,
          );
          assert.equal(
            sum(h.sft[row]),
            Math.round(cols.freq_sft[k] * tokens),
            `${which} ${c.sft.name} layer ${layer} feature ${id}: sft bins = firing count`,
          );
          if (ci === 0 && k === 0) assert.ok(h.base[row].filter((x) => x > 0).length >= 2, 'activations spread over several bins');
        });
      });
    });
  }
  assert.deepEqual(histogramsOf(dense), histogramsOf(sparse), 'the dense path counts exactly what the sparse path counts');

  const parts: string[] = [];
  for (const [i, p] of (['dense', 'sparse', 'dense'] as const).entries())
    parts.push((await run('part', TWO_SFTS, p, { index: i, count: 3 })).file);
  const merged = mergePartialReports(parts);
  assert.deepEqual(histogramsOf(merged), histogramsOf(sparse), 'merged shards = the single run');

  // a part without histograms (an older sae-diff): the merged report has none rather than wrong ones
  const old = JSON.parse(fs.readFileSync(parts[1], 'utf8')) as SaeDiffReport;
  for (const perLayer of old.partial!.accumulators)
    for (const acc of Object.values(perLayer) as Record<string, unknown>[]) {
      delete acc.histBase;
      delete acc.histSft;
      delete acc.histogramBins;
    }
  const oldFile = path.join(dir, 'part-old.json');
  fs.writeFileSync(oldFile, JSON.stringify(old));
  const withOld = mergePartialReports([parts[0], oldFile, parts[2]]);
  assert.ok(withOld.comparisons.every((c) => c.layers.every((l) => l.activation_histograms === undefined)));
  assert.deepEqual(withOld.comparisons[0].layers[0].all_shifted, merged.comparisons[0].layers[0].all_shifted, 'the rest merges as before');

  // a tampered count no longer sums to the firing count: refused, naming the feature
  const bad = JSON.parse(fs.readFileSync(parts[0], 'utf8')) as SaeDiffReport;
  const acc = (bad.partial!.accumulators[0] as Record<string, { histBase: number[]; cntB: number[] }>)['3'];
  const f = acc.cntB.findIndex((c) => c > 0);
  acc.histBase[f * HISTOGRAM_BINS + 5]++;
  const badFile = path.join(dir, 'part-bad.json');
  fs.writeFileSync(badFile, JSON.stringify(bad));
  assert.throws(() => mergePartialReports([badFile, parts[1], parts[2]]), new RegExp(`histBase of feature ${f} that sums to`));
});

test('the report check refuses histogram rows that do not match the edges or the ids', () => {
  const layer = {
    layer: 0,
    dense_cosine: 1,
    recon_cosine: 1,
    feature_overlap: 1,
    active_jaccard: 1,
    l1_divergence: 0,
    norm_ratio: 1,
    l0_base: 1,
    l0_sft: 1,
    explained_variance_base: 1,
    explained_variance_sft: 1,
    flags: [],
    shifted_features: [],
    activation_histograms: { edges: [1, 2], id: [4], base: [[1, 2, 3]], sft: [[0, 0, 1]] },
  };
  const report = {
    format: 'sae-diff-report',
    version: 3,
    run: { tokens: 10 },
    base: { name: 'b' },
    comparisons: [{ sft: { name: 's' }, layers: [layer] }],
  };
  assert.equal(reportProblem(report), undefined);
  layer.activation_histograms.sft = [[0, 1]];
  assert.match(reportProblem(report)!, /activation_histograms\.sft\[0\] has 2 counts, not 3/);
  layer.activation_histograms.sft = [];
  assert.match(reportProblem(report)!, /activation_histograms\.sft has 0 rows/);
  assert.equal(reportProblem({ ...report, version: 2, comparisons: [] }), undefined, 'version 2 still opens');
});

test('report JSON: arrays of numbers on one line, strings (even with brackets and newlines) untouched', () => {
  const value = {
    label: 'a [1, 2]\n[\n 3\n]',
    v: [1, 2.5e-7, -3, null],
    nested: [[1, 2], [3]],
    texts: ['1', '2'],
    empty: [],
    deep: { h: [[0, 0, 4]] },
  };
  const text = reportJson(value);
  assert.deepEqual(JSON.parse(text), value);
  assert.ok(text.includes('"v": [1,2.5e-7,-3,null]'));
  assert.ok(text.includes('  [1,2],\n  [3]\n'), 'rows of a nested list each on their own line');
  assert.ok(text.includes('"texts": [\n  "1",\n  "2"\n ]'), 'lists of strings stay indented');
  assert.ok(text.includes(JSON.stringify(value.label)), 'the string as JSON writes it');
  assert.ok(text.endsWith('}\n'));
});
