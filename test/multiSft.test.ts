import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { LayerAccumulator } from '../src/engine/metrics/layerAccumulator';
import { accumulatorToJson } from '../src/engine/metrics/serialize';
import type { Activations } from '../src/engine/model/runner';
import { loadSae } from '../src/engine/sae/loadSae';
import { SaeProjector } from '../src/engine/sae/projector';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { compareWithGolden } from './helpers/golden';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('multi-sft');
let cached: SaeDiffReport | undefined;

function twoFineTuneReport(): SaeDiffReport {
  if (cached) return cached;
  const config = writeConfig(
    dir,
    'two.sae-diff.yaml',
    fixtureConfig({
      models: '{ base: "@/base", sft: [ { name: domain, path: "@/sft-domain" }, { name: late, path: "@/sft-late" } ] }',
      dataset: '{ path: "@/eval/domain.jsonl", max_samples: 64 }',
    }),
  );
  const out = path.join(dir, 'two.json');
  const res = runCli(['run', config, '--out', out, '--quiet']);
  assert.equal(res.code, 0, res.stderr);
  return (cached = JSON.parse(fs.readFileSync(out, 'utf8')));
}

test('two fine-tunes in one run: each comparison equals its golden file', () => {
  const r = twoFineTuneReport();
  assert.deepEqual(
    r.comparisons.map((c) => c.sft.name),
    ['domain', 'late'],
  );
  for (const [i, golden] of ['sft-domain__domain', 'sft-late__domain'].entries()) {
    const g = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', `${golden}.json`), 'utf8'));
    assert.deepEqual(compareWithGolden(r.comparisons[i], g), [], golden);
  }
});

test('the comparison section equals a hand computation from the per-layer values', () => {
  const r = twoFineTuneReport();
  const cmp = r.fine_tune_comparison!;
  assert.ok(cmp);
  const vectors: number[][] = [];
  r.comparisons.forEach((c, i) => {
    const p = cmp.profiles[i];
    assert.equal(p.sft, c.sft.name);
    const l1 = c.layers.map((l) => l.l1_divergence);
    const total = l1[0] + l1[1] + l1[2] + l1[3] + l1[4] + l1[5];
    let peak = 0;
    for (let k = 1; k < 6; k++) if (l1[k] > l1[peak]) peak = k;
    let h = 0;
    for (const x of l1) if (x > 0) h -= (x / total) * Math.log(x / total);
    assert.equal(p.peak_layer, c.layers[peak].layer);
    assert.ok(Math.abs(p.peak_share - l1[peak] / total) < 1e-12);
    assert.ok(Math.abs(p.concentration - (1 - h / Math.log(6))) < 1e-12);
    c.layers.forEach((l, k) => {
      assert.ok(Math.abs(p.layers[k].one_minus_overlap - (1 - l.feature_overlap)) < 1e-12);
      assert.equal(p.layers[k].l1_divergence, l.l1_divergence);
    });
    vectors.push(c.layers.flatMap((l) => [1 - l.feature_overlap, l.l1_divergence]));
  });
  const dot = vectors[0].reduce((s, x, k) => s + x * vectors[1][k], 0);
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  assert.equal(cmp.profile_similarity.length, 1);
  assert.ok(Math.abs(cmp.profile_similarity[0].cosine - dot / (norm(vectors[0]) * norm(vectors[1]))) < 1e-12);
  // sft-late diverges only in layers 4-5: it peaks deeper and is more concentrated than sft-domain
  assert.ok(cmp.profiles[1].peak_layer >= 4);
  assert.ok(cmp.profiles[1].concentration > cmp.profiles[0].concentration);
});

test("shared and unique shifted features are consistent with each fine-tune's lists", () => {
  const r = twoFineTuneReport();
  const cmp = r.fine_tune_comparison!;
  for (const layer of [0, 1, 2, 3]) {
    assert.equal(cmp.shared_count[String(layer)], 0, 'sft-late shifts nothing in its frozen layers');
    assert.equal(cmp.unique_count[String(layer)].late, 0);
    assert.equal(cmp.unique_count[String(layer)].domain, r.comparisons[0].layers[layer].shifted_count);
  }
  for (const layer of [4, 5]) {
    const total = (c: number) => r.comparisons[c].layers.find((l) => l.layer === layer)!.shifted_count;
    const shared = cmp.shared_count[String(layer)];
    assert.equal(cmp.unique_count[String(layer)].domain + shared, total(0));
    assert.equal(cmp.unique_count[String(layer)].late + shared, total(1));
  }
  for (const f of cmp.shared_features) {
    assert.deepEqual(Object.keys(f.categories).sort(), ['domain', 'late']);
    r.comparisons.forEach((c) => {
      const listed = c.layers.find((l) => l.layer === f.layer)!.shifted_features.find((x) => x.id === f.id);
      if (listed) assert.equal(listed.category, f.categories[c.sft.name]);
    });
  }
  for (const u of cmp.unique_features.late) assert.ok(u.layer >= 4);
});

test("base is encoded once per batch for all its comparisons: each comparison's accumulators equal a projector of its own, bit for bit", async () => {
  const sae = loadSae(path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post'));
  const settings = { provider: 'cpu' as const, threads: 1 };
  const options = { k: 16, contexts: 4 };
  const d = sae.dIn,
    tokens = 40,
    chunk = 16;
  const activations = (f: (i: number) => number): Activations => {
    const data = Float32Array.from({ length: tokens * d }, (_, i) => f(i));
    return { data, hidden: d, tensor: new ort.Tensor('float32', data, [1, tokens, d]) };
  };
  const rows = {
    flat: Int32Array.from({ length: tokens }, (_, i) => i),
    sample: new Int32Array(tokens),
    position: Int32Array.from({ length: tokens }, (_, i) => i),
  };
  const hb = activations((i) => Math.sin(i * 0.7) * 3);
  const fineTunes = [activations((i) => Math.sin(i * 0.7) * 3 + Math.cos(i * 1.3)), activations((i) => Math.cos(i * 0.31) * 2)];
  const shared = await SaeProjector.create(sae, settings, { ...options, comparisons: 2 });
  const own = await SaeProjector.create(sae, settings, options);
  try {
    for (let batch = 0; batch < 2; batch++) {
      for (const hs of fineTunes) {
        const viaShared = new LayerAccumulator(sae.dSae, d, 4);
        const viaOwn = new LayerAccumulator(sae.dSae, d, 4);
        for (let from = 0; from < tokens; from += chunk) {
          const to = Math.min(tokens, from + chunk);
          await shared.accumulate(viaShared, hb, hs, rows, from, to);
          await own.accumulate(viaOwn, hb, hs, rows, from, to);
        }
        assert.deepEqual(accumulatorToJson(viaShared), accumulatorToJson(viaOwn));
        assert.ok(viaShared.sums.l0_b > 0 && viaShared.sums.l0_s > 0, 'latents fire in both models');
      }
    }
    // 3 chunks a batch: encoded by the first comparison, taken by the second
    assert.deepEqual(shared.baseChunks, { encoded: 6, reused: 6 });
    assert.deepEqual(own.baseChunks, { encoded: 12, reused: 0 });
  } finally {
    await shared.release();
    await own.release();
  }
});
