/**
 * The two reduction paths (runtime/reduction.ts) on the CPU: the sparse path (codes to JavaScript) and
 * the dense path built for GPUs (reduced inside the graph). Both must reproduce the goldens and give the
 * same reports, shards and trust outputs, so that CI covers the GPU path without a GPU.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadConfigText } from '../src/engine/config/load';
import type { ReductionRequest } from '../src/engine/config/types';
import { DEFAULT_METRICS } from '../src/engine/config/types';
import { layerMetrics, shiftedFeatures } from '../src/engine/metrics/finalize';
import { LayerAccumulator } from '../src/engine/metrics/layerAccumulator';
import { mergePartialReports } from '../src/engine/merge/merge';
import { DeviceDownload, fetchedOutputs, HookedModel, hostData } from '../src/engine/model/runner';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { chooseBatching, deviceMemoryBudget, planDeviceBatch, MAX_BATCH, MAX_CHUNK } from '../src/engine/runtime/deviceBatch';
import { chooseReduction } from '../src/engine/runtime/reduction';
import { createProjector } from '../src/engine/sae/createProjector';
import { loadSae } from '../src/engine/sae/loadSae';
import type { SaeProjector } from '../src/engine/sae/projector';
import { anonymousSaes } from './helpers/anonymousSaes';
import { fixtureConfig } from './helpers/cli';
import { identitySae } from './helpers/identitySae';
import { compareWithGolden } from './helpers/golden';
import { reportDifferences, results } from './helpers/reportDifferences';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('reduction');
const goldenDir = path.join(FIXTURES, 'golden');
const PATHS: ReductionRequest[] = ['sparse', 'dense'];

/** Runs a config text (fixture paths as `@/`) in-process on the CPU with the given reduction. */
async function run(
  name: string,
  yaml: string,
  reduction: ReductionRequest,
  configPath = path.join(dir, `${name}.yaml`),
  shard?: { index: number; count: number },
): Promise<SaeDiffReport> {
  const text = yaml.replace(/@\//g, FIXTURES.replace(/\\/g, '/') + '/').replace(/runtime: \{/, `runtime: { reduction: ${reduction},`);
  assert.match(text, new RegExp(`reduction: ${reduction}`), 'the config sets the path');
  const logs: string[] = [];
  const out = path.join(dir, `${name}-${reduction}${shard ? `-${shard.index}` : ''}.json`);
  const { report } = await runDiagnostic(loadConfigText(text, configPath), {
    provider: 'cpu',
    outPath: out,
    shard,
    onLog: (l) => logs.push(l),
  });
  assert.ok(
    logs.some((l) => l.startsWith(`reduction: ${reduction} (runtime.reduction: ${reduction}`)),
    `${name} ran the ${reduction} path`,
  );
  return shard ? (JSON.parse(fs.readFileSync(out, 'utf8')) as SaeDiffReport) : report;
}

const goldenCases = fs
  .readdirSync(goldenDir)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''));

test('both paths reproduce every golden within docs/metrics.md tolerances, and give the same report', async () => {
  assert.equal(goldenCases.length, 5);
  for (const name of goldenCases) {
    const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, `${name}.json`), 'utf8'));
    const yaml = fs.readFileSync(path.join(goldenDir, `${name}.yaml`), 'utf8');
    const [sparse, dense] = await Promise.all(PATHS.map((p) => run(name, yaml, p, path.join(goldenDir, `${name}.yaml`))));
    for (const r of [sparse, dense]) {
      assert.equal(r.run.tokens, golden.tokens);
      assert.deepEqual(compareWithGolden(r.comparisons[0], golden), [], `${name}, ${r === sparse ? 'sparse' : 'dense'}`);
      assert.equal(r.run.self_check_failed, false);
    }
    assert.deepEqual(reportDifferences(results(sparse), results(dense)), [], name);
    if (name.startsWith('sft-late')) {
      // frozen layers: exactly equal activations must give exactly 1 / 1 / 0 on the dense path too
      for (const l of dense.comparisons[0].layers.filter((x) => x.layer <= 3)) {
        assert.deepEqual(
          [l.dense_cosine, l.recon_cosine, l.feature_overlap, l.active_jaccard, l.l1_divergence],
          [1, 1, 1, 1, 0],
          `${name} layer ${l.layer}`,
        );
      }
    }
  }
});

test('shards of either path merge into the unsharded run of the other (same contexts)', async () => {
  const yaml = fs.readFileSync(path.join(goldenDir, 'sft-domain__general.yaml'), 'utf8');
  const configPath = path.join(goldenDir, 'sft-domain__general.yaml');
  const single = { sparse: await run('single', yaml, 'sparse', configPath), dense: await run('single', yaml, 'dense', configPath) };
  const parts: string[] = [];
  for (const [i, p] of (['dense', 'sparse', 'dense'] as const).entries()) {
    await run('part', yaml, p, configPath, { index: i, count: 3 });
    parts.push(path.join(dir, `part-${p}-${i}.json`));
  }
  const merged = mergePartialReports(parts);
  assert.equal(merged.complete, true);
  // a merge has no SAE session and no models: it reports no pre-activation shift, and no token windows, logit
  // effects or Neuronpedia links (report/featureDetails.ts adds those to single runs), whichever path made the parts
  const afterRunOnly = new Set(['pre_activation_shift', 'near_threshold', 'logit_effects', 'neuronpedia_url']);
  const windowFields = new Set(['tokens', 'token_ids', 'activations', 'focus', 'duplicate_of']);
  const withoutShift = (r: SaeDiffReport) =>
    JSON.parse(
      JSON.stringify(results(r), function (this: Record<string, unknown>, k, v) {
        const inContext = typeof this?.position === 'number' && typeof this?.sample === 'number';
        return afterRunOnly.has(k) || (inContext && windowFields.has(k)) ? undefined : v;
      }),
    );
  for (const p of PATHS)
    assert.deepEqual(reportDifferences(withoutShift(merged), withoutShift(single[p as 'sparse' | 'dense'])), [], `merged vs ${p}`);
});

test('trust outputs agree: noise floor, self-check, significance, JumpReLU margins; every SAE format and normalisation', async () => {
  const general = '{ path: "@/eval/general.jsonl", max_samples: 32 }';
  const configs: Record<string, string> = {
    floor: fixtureConfig({ models: '{ base: "@/base", sft: "@/sft-refusal", reference: "@/base" }', dataset: general }),
    // SAEs that do not declare their hook: one that declares resid_post is refused at resid_pre before the run
    resid_pre: fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      dataset: general,
      sae: `{ path: "${anonymousSaes(dir, [2, 3])}", k: 16 }`,
      layers: '{ target_indices: [2, 3], hook_point: resid_pre }',
    }),
    jumprelu: fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      dataset: general,
      layers: '{ target_indices: [3] }',
      sae: '{ path: { "3": "@/saes-variants/jumprelu" }, k: 16 }',
      metrics: '{ threshold_margin: 0.5 }',
    }),
    topk: fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      dataset: general,
      layers: '{ target_indices: [3] }',
      sae: '{ path: { "3": "@/saes-variants/topk" }, k: 8 }',
    }),
  };
  // SAE formats and activation normalisations go through the same encoder in both graphs: a bf16 SAELens
  // SAE, a sparsify folder, and the layer-3 SAE re-declared with each per-token normalisation
  const layer3 = (sae: string) =>
    fixtureConfig({ models: '{ base: "@/base", sft: "@/sft-domain" }', dataset: general, layers: '{ target_indices: [3] }', sae });
  configs.bf16 = layer3('{ path: { "3": "@/saes-variants/bf16" }, k: 16 }');
  configs.sparsify = layer3('{ path: { "3": "@/saes-variants/sparsify" }, k: 8 }');
  for (const norm of ['layer_norm', 'constant_norm_rescale']) {
    const folder = path.join(dir, `sae-${norm}`);
    fs.mkdirSync(folder, { recursive: true });
    const source = path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post');
    fs.copyFileSync(path.join(source, 'sae_weights.safetensors'), path.join(folder, 'sae_weights.safetensors'));
    const cfg = JSON.parse(fs.readFileSync(path.join(source, 'cfg.json'), 'utf8'));
    fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify({ ...cfg, normalize_activations: norm }));
    configs[norm] = layer3(`{ path: { "3": ${JSON.stringify(folder)} }, k: 16 }`);
  }
  for (const [name, yaml] of Object.entries(configs)) {
    const [sparse, dense] = await Promise.all(PATHS.map((p) => run(name, yaml, p)));
    assert.deepEqual(reportDifferences(results(sparse), results(dense)), [], name);
    if (name === 'floor') {
      for (const l of dense.comparisons[0].layers)
        assert.deepEqual(l.noise_floor, { dense_cosine: 1, feature_overlap: 1, l1_divergence: 0, recon_cosine: 1 });
    }
    if (name === 'resid_pre') assert.equal(dense.run.self_check_failed, true, 'the self-check fires on the dense path');
    if (name === 'jumprelu')
      assert.ok(dense.comparisons[0].layers[0].shifted_features.some((f) => typeof f.pre_activation_shift === 'number'));
  }
});

test('dense graph: feature-wise metrics equal a hand computation (top-k ties to the lower index, contexts in token order)', async () => {
  const m = 16;
  const row = (e: Record<number, number>) => Array.from({ length: m }, (_, i) => e[i] ?? 0);
  // token 0: base {1: 3, 2: 2, 9: 2, 12: 1}, sft {2: 2, 9: 1, 15: 5}; token 1: nothing; token 2: base {9: 2} (ties token 0's 9)
  const zb = [row({ 1: 3, 2: 2, 9: 2, 12: 1 }), row({}), row({ 9: 2 })];
  const zs = [row({ 2: 2, 9: 1, 15: 5 }), row({}), row({})];
  const tensorOf = (z: number[][]) => {
    const data = Float32Array.from(z.flat());
    return { data, hidden: m, tensor: new ort.Tensor('float32', data, [1, z.length, m]) };
  };
  const rows = { flat: Int32Array.from([0, 1, 2]), sample: Int32Array.from([0, 0, 0]), position: Int32Array.from([1, 2, 3]) };
  const accs = new Map<string, LayerAccumulator>();
  for (const p of ['sparse', 'dense'] as const) {
    const projector = await createProjector(identitySae(m), { provider: 'cpu', threads: 1 }, p, { k: 2, contexts: 2 });
    const acc = new LayerAccumulator(m, m, 2);
    // two chunks, so the per-chunk candidates are merged across chunks
    await projector.accumulate(acc, tensorOf(zb), tensorOf(zs), rows, 0, 2);
    await projector.accumulate(acc, tensorOf(zb), tensorOf(zs), rows, 2, 3);
    await projector.release();
    accs.set(p, acc);
  }
  const dense = accs.get('dense')!;
  const metrics = layerMetrics(dense);
  // per-token ratios are float32 in the graph: equal to 1e-7
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) <= 1e-7 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  // K_b(0) = top-2 of {1:3, 2:2, 9:2} -> {1, 2} (if 9 won the tie, J would be 0); K_s(0) = {15, 2}: J = 1/3;
  // token 1: J(∅, ∅) = 1; token 2: K_b {9}, K_s ∅: 0
  close(metrics.feature_overlap, (1 / 3 + 1 + 0) / 3, 'feature_overlap');
  close(metrics.active_jaccard, (2 / 5 + 1 + 0) / 3, 'active_jaccard');
  assert.equal(metrics.l1_divergence, (10 + 2) / (16 + 2));
  assert.equal(metrics.l0_base, 5 / 3);
  assert.deepEqual(
    [dense.cntB[9], dense.cntS[9], dense.sumZb[9], dense.sumZs[9], dense.sumDiff[9], dense.sumSqDiff[9]],
    [2, 1, 4, 1, 3, 5],
  );
  // feature 9's base activations tie at 2: the earlier token first
  assert.deepEqual(dense.ctxBase.list(9), [
    { activation: 2, sample: 0, position: 1 },
    { activation: 2, sample: 0, position: 3 },
  ]);
  assert.deepEqual(dense.ctxSft.list(15), [{ activation: 5, sample: 0, position: 1 }]);
  // and the sparse path agrees number for number
  const sparse = accs.get('sparse')!;
  for (const [k, v] of Object.entries(sparse.sums)) close(v, dense.sums[k as keyof typeof dense.sums], k);
  for (const k of ['cntB', 'cntS', 'sumZb', 'sumZs', 'sumDiff', 'sumSqDiff', 'sumHb', 'sumHs'] as const)
    assert.deepEqual(sparse[k], dense[k], k);
  assert.deepEqual(shiftedFeatures(sparse, DEFAULT_METRICS).all, shiftedFeatures(dense, DEFAULT_METRICS).all);
  for (let f = 0; f < m; f++) assert.deepEqual(sparse.ctxBase.list(f), dense.ctxBase.list(f), `contexts of ${f}`);
});

test("the self-check's fits: on the sparse path each position encoded once, as the fine-tune's side, with the sums of encoding it as base; the dense path pairs positions as base and fine-tune and agrees", async () => {
  const sae = loadSae(path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post'));
  const n = 37,
    d = sae.dIn;
  // three positions (as resid_pre, resid_post, next_resid_post): the dense path runs one pair, then one alone
  const positions = [0, 1, 2].map((p) => {
    const data = Float32Array.from({ length: 2 * n * d }, (_, i) => Math.sin(i * 0.37 + p) * 3 + Math.cos(i * 0.011 * (p + 1)));
    return { data, hidden: d, tensor: new ort.Tensor('float32', data, [2, n, d]) };
  });
  // every other token of both rows: the fits gather their rows from the hooked tensors
  const rows = Int32Array.from({ length: n }, (_, i) => 2 * i);
  const cpu = { provider: 'cpu', threads: 1 } as const;
  const sparse = (await createProjector(sae, cpu, 'sparse', { k: 4, contexts: 2 })) as SaeProjector;
  const dense = await createProjector(sae, cpu, 'dense', { k: 4, contexts: 2 });
  try {
    const fits = await sparse.fits(positions, rows);
    const others = await dense.fits(positions, rows);
    assert.equal(fits.length, 3);
    assert.equal(others.length, 3);
    const total = (t: { data: unknown }) => (t.data as Float32Array).reduce((a, v) => a + v, 0);
    for (let p = 0; p < 3; p++) {
      const x = Float32Array.from(Array.from(rows).flatMap((r) => Array.from(positions[p].data.subarray(r * d, (r + 1) * d))));
      const asBase = await sparse.project(x, x, n, ['err_b', 'sq_hb', 'sum_hb']);
      assert.equal(fits[p].err, total(asBase.err_b), `position ${p}: the same kernels on the same rows, the same sum`);
      assert.equal(fits[p].sq, total(asBase.sq_hb));
      assert.deepEqual(Array.from(fits[p].sum), Array.from(asBase.sum_hb.data as Float32Array));
      assert.ok(
        Math.abs(others[p].err - fits[p].err) <= 1e-5 * fits[p].err,
        `position ${p}: dense ${others[p].err} vs sparse ${fits[p].err}`,
      );
      assert.ok(Math.abs(others[p].sq - fits[p].sq) <= 1e-5 * fits[p].sq);
      Array.from(others[p].sum).forEach((v, j) => assert.ok(Math.abs(v - fits[p].sum[j]) <= 1e-4 * Math.max(1, Math.abs(v)), `sum[${j}]`));
    }
    assert.notEqual(fits[0].err, fits[1].err, 'the positions differ, so a mixed-up pair would show');
  } finally {
    await sparse.release();
    await dense.release();
  }
});

test('path selection: sparse on cpu, dense on GPU providers, the override wins; device residency only on WebGPU', () => {
  assert.equal(chooseReduction('cpu').reduction, 'sparse');
  assert.equal(chooseReduction('cpu').activationLocation, undefined);
  for (const p of ['cuda', 'webgpu', 'dml', 'coreml'] as const) assert.equal(chooseReduction(p, 'auto').reduction, 'dense', p);
  assert.equal(chooseReduction('webgpu').activationLocation, 'gpu-buffer');
  for (const p of ['cuda', 'dml', 'coreml'] as const) {
    assert.equal(chooseReduction(p).activationLocation, undefined, `${p}: onnxruntime-node binds gpu-buffer to WebGPU only`);
    assert.match(chooseReduction(p).reason, /through the host/);
  }
  assert.equal(chooseReduction('cpu', 'dense').reduction, 'dense');
  assert.equal(chooseReduction('cpu', 'dense').activationLocation, undefined, 'no device on cpu');
  assert.equal(chooseReduction('webgpu', 'sparse').reduction, 'sparse');
  assert.equal(chooseReduction('webgpu', 'sparse').activationLocation, undefined, 'the sparse path reads activations in JavaScript');
});

test('device outputs: every run fetches every output, so none stays bound to an earlier batch; host runs fetch only what they use', () => {
  const all = ['hook.3', 'probe.2', 'probe.4'];
  assert.deepEqual(fetchedOutputs(all, ['hook.3'], true), all);
  assert.deepEqual(fetchedOutputs(all, ['hook.3'], false), ['hook.3']);
});

test('the device-to-host copy (an Identity session: onnxruntime-node cannot download WebGPU tensors) returns the tensor of any shape', async () => {
  const download = new DeviceDownload({ provider: 'cpu', threads: 1 });
  try {
    const values = Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i / 7 - 1);
    assert.deepEqual(await download.toHost(new ort.Tensor('float32', values, [2, 3, 4])), values);
    assert.deepEqual(await download.toHost(new ort.Tensor('float32', Float32Array.of(5, 6), [2])), Float32Array.of(5, 6));
  } finally {
    await download.release();
  }
});

test('device-resident outputs fall back to host tensors on the CPU provider', async () => {
  const model = await HookedModel.load(
    path.join(FIXTURES, 'base', 'model.onnx'),
    { targets: [1], hookPoint: 'resid_post', tensorNames: new Map(), outputLocation: 'gpu-buffer' },
    { provider: 'cpu', threads: 1 },
  );
  try {
    const acts = (await model.run({ batch: 1, seq: 3, ids: Int32Array.from([1, 5, 9]), mask: Uint8Array.from([1, 1, 1]) })).get(1)!;
    assert.equal(acts.tensor.location, 'cpu');
    assert.equal(acts.onDevice, undefined);
    assert.equal(acts.data.length, 3 * acts.hidden);
    assert.equal(await hostData(acts), acts.data);
  } finally {
    await model.release();
  }
});

test('GPU batch plan: stays within its stated bound, grows with the budget, and says when nothing fits', () => {
  const shape = { dModel: 2048, dSae: 65536, layers: 3, maxTokens: 256 };
  let last = { batchSize: 0, chunkTokens: 0 };
  for (const gib of [1, 2, 4, 8, 16, 40]) {
    const budgetBytes = gib * 2 ** 30;
    const plan = planDeviceBatch({ ...shape, budgetBytes });
    assert.equal(plan.fits, true, `${gib} GiB`);
    assert.ok(plan.bytes <= budgetBytes, `${gib} GiB: ${plan.bytes} bytes planned`);
    assert.ok(plan.batchSize >= last.batchSize && plan.chunkTokens >= last.chunkTokens, 'more memory never plans less');
    assert.ok(plan.batchSize <= MAX_BATCH && plan.chunkTokens <= MAX_CHUNK && plan.chunkTokens <= plan.batchSize * shape.maxTokens);
    last = plan;
  }
  // 1B-class / 65k at 3 layers on 8 GiB, by hand from the bound: a prompt costs 256·4·(4·3·2048 + 32·2048 + 32·256)
  // = 100,663,296 bytes, a chunk token 8·(7·65536 + 4·2048) = 3,735,552; the chunk gets half (1149 tokens), 42 prompts fit the rest
  assert.deepEqual(planDeviceBatch({ ...shape, budgetBytes: 8 * 2 ** 30 }), {
    batchSize: 42,
    chunkTokens: 1149,
    bytes: 42 * 100_663_296 + 1149 * 3_735_552,
    fits: true,
  });
  const tiny = planDeviceBatch({ ...shape, budgetBytes: 1024 });
  assert.deepEqual([tiny.batchSize, tiny.chunkTokens, tiny.fits], [1, 1, false]);
});

test('GPU memory budget: half the free memory nvidia-smi reports, else a stated default', () => {
  const fake = (stdout: string, status = 0) => (() => ({ stdout, status })) as any;
  assert.deepEqual(deviceMemoryBudget(fake('81000\n')).bytes, (81000 * 2 ** 20) / 2);
  assert.equal(deviceMemoryBudget(fake('', 1)).bytes, 2 * 2 ** 30);
  assert.equal(
    deviceMemoryBudget((() => {
      throw new Error('ENOENT');
    }) as any).bytes,
    2 * 2 ** 30,
  );
});

test('batching: CPU and sparse keep the config; dense on a GPU plans what the file and the caller leave unset', () => {
  const base = {
    batchSize: 16,
    chunkTokens: 512,
    keysSet: new Set<string>(),
    shape: { dModel: 2048, dSae: 65536, layers: 3, maxTokens: 256 },
    budget: () => ({ bytes: 8 * 2 ** 30, source: 'test' }),
  };
  assert.deepEqual(chooseBatching({ ...base, gpuDense: false }), { batchSize: 16, chunkTokens: 512 });
  assert.deepEqual(chooseBatching({ ...base, gpuDense: false, optionBatchSize: 4 }), { batchSize: 4, chunkTokens: 512 });
  const planned = chooseBatching({ ...base, gpuDense: true });
  assert.deepEqual([planned.batchSize, planned.chunkTokens], [42, 1149]);
  const fileSets = chooseBatching({ ...base, gpuDense: true, keysSet: new Set(['batch_size']) });
  assert.deepEqual([fileSets.batchSize, fileSets.chunkTokens], [16, 1149]);
  const callerSets = chooseBatching({ ...base, gpuDense: true, keysSet: new Set(['sae_batch_tokens']), optionBatchSize: 8 });
  assert.deepEqual([callerSets.batchSize, callerSets.chunkTokens], [8, 512]);
  // the loader says which runtime keys the file writes
  const config = loadConfigText(
    fixtureConfig({ runtime: '{ max_tokens: 64, batch_size: 3 }' }).replace(/@\//g, FIXTURES + '/'),
    path.join(dir, 'keys.yaml'),
  );
  assert.deepEqual([...config.runtimeKeysSet!].sort(), ['batch_size', 'max_tokens']);
  assert.equal(config.runtime.reduction, 'auto', 'reduction defaults to auto');
});

test('GPU batch plan: a chunk cap (WebGPU sorts a chunk of tokens in one workgroup up to 2048) bounds the chunk, not the batch', () => {
  const shape = { dModel: 1024, dSae: 16384, layers: 3, maxTokens: 256 };
  const free = planDeviceBatch({ ...shape, budgetBytes: 40 * 2 ** 30 });
  const capped = planDeviceBatch({ ...shape, budgetBytes: 40 * 2 ** 30, maxChunk: 2048 });
  assert.equal(free.chunkTokens, MAX_CHUNK);
  assert.equal(capped.chunkTokens, 2048);
  assert.ok(capped.batchSize >= free.batchSize, 'the memory the chunk leaves goes to the batch');
});
