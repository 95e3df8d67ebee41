/**
 * The GPU-resident path on a real WebGPU device: the hooked activations stay on the device (gpu-buffer outputs),
 * the dense graph reduces them there, and only its sums come back. test/reductionPaths.test.ts runs the same
 * graphs on the CPU provider; this runs them through onnxruntime-node's WebGPU provider, its IO binding and its
 * device tensors, which the CPU provider never exercises; checks that every operator of the dense graph has a
 * WebGPU kernel, so that no tensor goes to the host inside it; and that its histogram comparisons are exact in
 * shaders, on and beside every edge.
 *
 * Without a GPU, Mesa's lavapipe (Vulkan on the CPU; scripts/lavapipe.sh) gives WebGPU a device, slowly.
 * Run by `npm run test:webgpu`, not `npm test`. Where WebGPU does not load the tests skip with the reason, unless
 * SAE_DIFF_REQUIRE_WEBGPU is set (.ci/run sets it once lavapipe is installed): then they fail.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test, type TestContext } from 'node:test';
import { loadConfigText } from '../../src/engine/config/load';
import { LayerAccumulator } from '../../src/engine/metrics/layerAccumulator';
import { decoderSpec } from '../../src/engine/model/checkpoint/decoderConfig';
import { checkpointSource, type ModelSource } from '../../src/engine/model/modelSource';
import { HookedModel, hostData } from '../../src/engine/model/runner';
import { checkActivations, checkRows, checkSae } from '../../src/engine/pipeline/kernelCheckData';
import { ORT_PROFILE_ENV } from '../../src/engine/runtime/ortProfile';
import { DenseProjector } from '../../src/engine/sae/denseProjector';
import type { SaeArchitecture } from '../../src/engine/sae/types';
import { runDiagnostic } from '../../src/engine/pipeline/pipeline';
import { probeInChild } from '../../src/engine/runtime/probeProvider';
import { LAYER_METRIC_FIELDS } from '../../src/shared/layerMetrics';
import type { SaeDiffReport } from '../../src/shared/reportTypes';
import { compareWithGolden, LAYER_TOL, rankingProblems } from '../helpers/golden';
import { assertEdgeCaseBins } from '../helpers/histogramEdgeCases';
import { differenceFromExpected, expectedIn } from '../helpers/expectedActivations';
import { FIXTURES, REPO_ROOT, scratchDir } from '../helpers/paths';
import { float16Checkpoint } from '../helpers/checkpoints';
import { toHalfArray } from '../../bench/workload/rng';
import { f16ToF32 } from '../../src/engine/sae/safetensors';

const dir = scratchDir('webgpu');
const goldenDir = path.join(FIXTURES, 'golden');
const webgpu = probeInChild('webgpu', 120_000);

/** True when WebGPU loads; otherwise skips the test (or fails it, where SAE_DIFF_REQUIRE_WEBGPU asks for WebGPU). */
async function webgpuLoads(t: TestContext): Promise<boolean> {
  const probe = await webgpu;
  if (probe.loads) return true;
  const why = `WebGPU does not load here: ${probe.error} (a machine without a GPU: sudo sh scripts/lavapipe.sh)`;
  if (process.env.SAE_DIFF_REQUIRE_WEBGPU) assert.fail(why);
  t.skip(why);
  return false;
}

/**
 * Where two providers' reports of one config disagree beyond docs/metrics.md: layer metrics at 2e-3, the same flags,
 * and the ranking rule (the first 10 shifted features of one among the first 15 of the other, same category).
 * Per-feature counts are not compared one for one: an activation within float32 rounding of 0 or of a histogram
 * edge may count on one provider and not the other (seen: 1 of 1,833 tokens in a frequency).
 */
function providerDifferences(a: SaeDiffReport, b: SaeDiffReport): string[] {
  const problems: string[] = [];
  a.comparisons[0].layers.forEach((la, i) => {
    const lb = b.comparisons[0].layers[i];
    for (const k of LAYER_METRIC_FIELDS)
      if (!(Math.abs(la[k] - lb[k]) <= LAYER_TOL)) problems.push(`layer ${la.layer} ${k}: ${la[k]} vs ${lb[k]}`);
    if (la.flags.join() !== lb.flags.join()) problems.push(`layer ${la.layer} flags: ${la.flags} vs ${lb.flags}`);
    problems.push(...rankingProblems(la.layer, lb.shifted_features, la.shifted_features));
  });
  return problems;
}

async function run(name: string, provider: 'cpu' | 'webgpu') {
  const configPath = path.join(goldenDir, `${name}.yaml`);
  const logs: string[] = [];
  const { report } = await runDiagnostic(loadConfigText(fs.readFileSync(configPath, 'utf8'), configPath), {
    provider,
    outPath: path.join(dir, `${name}-${provider}.json`),
    onLog: (l) => logs.push(l),
  });
  return { report, logs };
}

test('a golden on WebGPU, activations on the device: within docs/metrics.md tolerances, and the CPU provider’s report', async (t) => {
  if (!(await webgpuLoads(t))) return;
  // frozen early layers, where equal activations must give exactly 1 / 1 / 0 (one golden: lavapipe takes about
  // a minute per run). On lavapipe, sft-refusal__chat's layer 2 l0_sft comes out 4 activations above its golden
  // (2.2e-3 at 1,833 tokens, the tolerance is 2e-3): pre-activations within float32 rounding of 0, while the
  // activations agree to 5e-7 relative; the other goldens hold.
  const name = 'sft-late__general__custom';
  const golden = JSON.parse(fs.readFileSync(path.join(goldenDir, `${name}.json`), 'utf8'));
  const gpu = await run(name, 'webgpu');
  assert.equal(gpu.report.run.execution_provider, 'webgpu');
  assert.ok(
    gpu.logs.includes('reduction: dense (auto: dense on webgpu; hooked activations stay on the device)'),
    `${name}: the device-resident path ran\n${gpu.logs.join('\n')}`,
  );
  assert.ok(
    gpu.logs.some((l) => /^SAE kernels on webgpu agree with the CPU/.test(l)),
    `${name}: the kernel check passed\n${gpu.logs.join('\n')}`,
  );
  assert.equal(gpu.report.run.tokens, golden.tokens);
  assert.deepEqual(compareWithGolden(gpu.report.comparisons[0], golden), [], name);
  assert.equal(gpu.report.run.self_check_failed, false);
  const cpu = await run(name, 'cpu');
  assert.deepEqual(providerDifferences(cpu.report, gpu.report), [], `${name}: cpu vs webgpu`);
  for (const l of gpu.report.comparisons[0].layers.filter((x) => x.layer <= 3))
    assert.deepEqual(
      [l.dense_cosine, l.recon_cosine, l.feature_overlap, l.active_jaccard, l.l1_divergence],
      [1, 1, 1, 1, 0],
      `${name} layer ${l.layer}`,
    );
});

/** base as its torch export and as its safetensors checkpoint (the graph model/checkpoint builds). */
const BASE_SOURCES: [string, () => string | ModelSource][] = [
  ['ONNX export', () => path.join(FIXTURES, 'base', 'model.onnx')],
  [
    'safetensors checkpoint',
    () => {
      const config = path.join(FIXTURES, 'base', 'config.json');
      return checkpointSource(
        path.join(FIXTURES, 'base', 'model.safetensors'),
        config,
        decoderSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config),
      );
    },
  ],
];

for (const [kind, sourceOf] of BASE_SOURCES)
  test(`hooked activations left on the device come back to the host equal to the CPU provider’s (${kind})`, async (t) => {
    if (!(await webgpuLoads(t))) return;
    const hooks = { targets: [1, 4], hookPoint: 'resid_post' as const, tensorNames: new Map(), outputLocation: 'gpu-buffer' as const };
    const batch = { batch: 2, seq: 4, ids: Int32Array.from([1, 5, 9, 12, 3, 7, 0, 0]), mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 0, 0]) };
    const hosted: Float32Array[][] = [];
    for (const provider of ['cpu', 'webgpu'] as const) {
      const model = await HookedModel.load(sourceOf(), hooks, { provider, threads: 1 });
      try {
        // two runs with different shapes: the second must not read the first's bound outputs
        await model.run({ batch: 1, seq: 3, ids: Int32Array.from([1, 5, 9]), mask: Uint8Array.from([1, 1, 1]) });
        const acts = await model.run(batch);
        const layers: Float32Array[] = [];
        for (const layer of hooks.targets) {
          const a = acts.get(layer)!;
          assert.equal(a.onDevice === true, provider === 'webgpu', `${provider}: layer ${layer} on the device`);
          const data = await hostData(a);
          assert.equal(data.length, 2 * 4 * a.hidden);
          layers.push(data);
        }
        hosted.push(layers);
      } finally {
        await model.release();
      }
    }
    const [cpu, gpu] = hosted;
    cpu.forEach((c, i) => {
      const worst = c.reduce((w, v, j) => Math.max(w, Math.abs(v - gpu[i][j]) / Math.max(1, Math.abs(v))), 0);
      assert.ok(worst < 1e-4, `layer ${hooks.targets[i]}: WebGPU differs from the CPU by ${worst}`);
    });
  });

test("a Qwen 3.5 checkpoint on WebGPU (its linear attention's Scan on the CPU, the rest on the device) gives what transformers gives", async (t) => {
  if (!(await webgpuLoads(t))) return;
  const folder = path.join(REPO_ROOT, 'test', 'fixtures', 'qwen3_5', 'multimodal');
  const config = path.join(folder, 'config.json');
  const source = checkpointSource(
    path.join(folder, 'model.safetensors'),
    config,
    decoderSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config),
  );
  const expected = expectedIn(folder);
  for (const d of await differenceFromExpected(source, expected, 'resid_post', { provider: 'webgpu', threads: 1 }))
    assert.ok(d.absolute < 1e-4 * Math.max(1, d.largest), `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
});

test('the dense graph runs on the device: no operator of any architecture copies a tensor to the host', async (t) => {
  if (!(await webgpuLoads(t))) return;
  // An operator without a WebGPU kernel runs on the CPU behind a copy of its input (seen: Sign, which took the
  // codes [tokens x width] to the host and back on every run). ONNX Runtime's profile names such copies Memcpy*.
  // Width 2304: the top-k sets in blocks of 2048 with a padded last block, as on a wide SAE; k 64 compares them as
  // masks, k 16 as feature ids (sae/topKMembership.ts's topKSetsFor).
  const profiles = fs.mkdtempSync(path.join(dir, 'profile-'));
  const { base, fineTune } = checkActivations();
  const rows = checkRows();
  process.env[ORT_PROFILE_ENV] = profiles;
  try {
    for (const k of [64, 16])
      for (const architecture of ['standard', 'jumprelu', 'topk', 'gated'] satisfies SaeArchitecture[]) {
        const sae = checkSae({ architecture, normalization: 'none', applyBDecToInput: true }, 2304);
        const projector = await DenseProjector.create(sae, { provider: 'webgpu', threads: 0, maxBufferBytes: 1 << 30 }, { k, contexts: 5 });
        await projector.accumulate(new LayerAccumulator(sae.dSae, sae.dIn, 5), base, fineTune, rows, 0, 100);
        await projector.release();
      }
  } finally {
    delete process.env[ORT_PROFILE_ENV];
  }
  const files = fs.readdirSync(profiles);
  assert.equal(files.length, 8, `one profile per architecture and k: ${files}`);
  for (const f of files) {
    const events = JSON.parse(fs.readFileSync(path.join(profiles, f), 'utf8')) as {
      cat?: string;
      name: string;
      args?: { op_name?: string; provider?: string };
    }[];
    const nodes = events.filter((e) => e.cat === 'Node');
    assert.ok(
      nodes.some((e) => e.args?.op_name === 'HardSigmoid'),
      `${f}: the profile holds the graph's nodes`,
    );
    const copies = nodes.filter((e) => /^Memcpy/.test(e.args?.op_name ?? ''));
    const onCpu = [...new Set(nodes.filter((e) => e.args?.provider === 'CPUExecutionProvider').map((e) => e.args?.op_name))];
    assert.deepEqual(
      copies.map((e) => e.name),
      [],
      `${f}: copies between host and device (operators on the CPU: ${onCpu})`,
    );
  }
});

test('histogram counts on the device: values on and beside every edge fall in their documented bins', async (t) => {
  if (!(await webgpuLoads(t))) return;
  await assertEdgeCaseBins({ provider: 'webgpu', threads: 0 }, 'dense');
});

test('a float16 checkpoint on WebGPU computes in float16 (every hooked value a float16), within 1e-2 of float32', async (t) => {
  if (!(await webgpuLoads(t))) return;
  const folder = float16Checkpoint(path.join(FIXTURES, 'base'), path.join(dir, 'float16-checkpoint'));
  const config = path.join(folder, 'config.json');
  const half = checkpointSource(
    path.join(folder, 'model.safetensors'),
    config,
    decoderSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config),
  );
  const hooks = { targets: [0, 3, 5], hookPoint: 'resid_post' as const, tensorNames: new Map() };
  const batch = {
    batch: 2,
    seq: 6,
    ids: Int32Array.from([1, 5, 9, 12, 40, 41, 3, 7, 8, 0, 0, 0]),
    mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]),
  };
  const run = async (source: ModelSource) => {
    const model = await HookedModel.load(source, hooks, { provider: 'webgpu', threads: 1 });
    try {
      const acts = await model.run(batch);
      return Promise.all(hooks.targets.map(async (l) => (await hostData(acts.get(l)!)).slice()));
    } finally {
      await model.release();
    }
  };
  const [asHalf, asFloat] = [await run(half), await run({ ...half, compute: 'float32' })];
  asHalf.forEach((values, i) => {
    const real = values.filter((_, j) => batch.mask[Math.floor(j / 128)]);
    assert.deepEqual(real, f16ToF32(toHalfArray(real)), `layer ${hooks.targets[i]}: computed in float16`);
    const largest = asFloat[i].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const worst = real.reduce((w, v, j) => Math.max(w, Math.abs(v - asFloat[i].filter((_, k) => batch.mask[Math.floor(k / 128)])[j])), 0);
    assert.ok(worst < 1e-2 * largest, `layer ${hooks.targets[i]}: float16 differs from float32 by ${worst} of ${largest}`);
  });
});
