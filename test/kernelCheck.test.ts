/**
 * The check of a GPU provider's SAE kernels against the CPU's (pipeline/kernelCheck.ts). No GPU exists
 * here, so the "device" is the CPU: running the other reduction path (two correct implementations that
 * sum in different orders must agree), or a projector whose outputs a test corrupts the way a faulty
 * kernel would (the only mock: it stands in for the GPU).
 */
import assert from 'node:assert/strict';
import * as path from 'path';
import { test } from 'node:test';
import { loadConfigText } from '../src/engine/config/load';
import { SaeDiffError } from '../src/engine/core/errors';
import {
  afterKernelCheck,
  keepProviderForMeasuring,
  checkDifferences,
  checkKernels,
  checkRunKernels,
  type KernelCheck,
  type MakeProjector,
} from '../src/engine/pipeline/kernelCheck';
import { CHECK_CHUNK, CHECK_HIDDEN, CHECK_TOKENS, checkActivations, checkRows, checkSae } from '../src/engine/pipeline/kernelCheckData';
import { createProjector } from '../src/engine/sae/createProjector';
import type { Projector } from '../src/engine/sae/projector';
import type { ProjectionOutputs, ProjectionSink } from '../src/engine/sae/projectionOutputs';
import type { SaeArchitecture } from '../src/engine/sae/types';
import { fixtureConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const cpu = { provider: 'cpu' as const, threads: 2 };
const options = { k: 32, contexts: 5 };
const WIDTH = 2304;
const standard = { architecture: 'standard' as const, normalization: 'none' as const, applyBDecToInput: true };

test("the check's SAE: pre-activations are exact in float32, distinct within each token and each feature, and about 10% fire", () => {
  const sae = checkSae(standard, WIDTH);
  const { base, fineTune } = checkActivations();
  const d = CHECK_HIDDEN;
  const pre = (h: Float32Array, t: number, j: number) => {
    // float64 sums: exact for these values, so equal to float32's only if float32 is exact too
    let p = sae.b_enc[j];
    for (let i = 0; i < d; i++) p += (h[t * d + i] - sae.b_dec[i]) * sae.W_enc[i * WIDTH + j];
    return p;
  };
  // the first and last 64 tokens over every feature, the first and last 64 features over every token
  const edge = (n: number) => [...Array.from({ length: 64 }, (_, i) => i), ...Array.from({ length: 64 }, (_, i) => n - 64 + i)];
  let fired = 0,
    moved = 0,
    seen = 0;
  const count = (t: number, j: number, p: number) => {
    assert.equal(Math.fround(p), p, `token ${t} feature ${j}: ${p} is not a float32`);
    seen++;
    if (p > 0) fired++;
    if (p > 0 !== pre(fineTune.data, t, j) > 0) moved++;
  };
  for (const t of edge(CHECK_TOKENS)) {
    const values = Array.from({ length: WIDTH }, (_, j) => pre(base.data, t, j));
    values.forEach((p, j) => count(t, j, p));
    assert.equal(new Set(values).size, WIDTH, `token ${t}: two features tie`);
  }
  for (const j of edge(WIDTH)) {
    const values = Array.from({ length: CHECK_TOKENS }, (_, t) => pre(base.data, t, j));
    assert.equal(new Set(values).size, CHECK_TOKENS, `feature ${j}: two tokens tie`);
    const rate = values.filter((p) => p > 0).length / CHECK_TOKENS;
    assert.ok(rate > 0.02 && rate < 0.3, `feature ${j} fires on ${rate} of tokens`);
  }
  assert.ok(fired / seen > 0.05 && fired / seen < 0.2, `firing rate ${fired / seen}`);
  assert.ok(moved / fired > 0.05, `the fine-tune fires differently from base (${moved} of ${fired})`);
  // the chunks take both of WebGPU's TopK paths (above and below 2048 entries)
  const n = checkRows().flat.length;
  assert.ok(CHECK_CHUNK > 2048 && n - CHECK_CHUNK > 0 && n - CHECK_CHUNK < 2048);
});

/** A maker that builds the other reduction path for every second projector (the "device" one). */
function otherPathForDevice(): MakeProjector {
  let calls = 0;
  return (sae, settings, reduction, opts) =>
    createProjector(sae, settings, calls++ % 2 === 1 ? (reduction === 'dense' ? 'sparse' : 'dense') : reduction, opts);
}

test('the sparse and the dense path agree under the check, for every architecture, with and without a per-token normalisation', async () => {
  const shapes = (['standard', 'jumprelu', 'topk', 'gated'] as SaeArchitecture[]).flatMap((architecture) => [
    { architecture, normalization: 'none' as const, applyBDecToInput: true },
    { architecture, normalization: 'layer_norm' as const, applyBDecToInput: false },
  ]);
  const check = await checkKernels(cpu, 'dense', shapes, WIDTH, options, otherPathForDevice());
  assert.equal(check.graphs.length, 8);
  assert.deepEqual(checkDifferences(check), []);
});

/** A device whose projector hands the accumulator corrupted outputs (what a faulty kernel returns). */
function faultyDevice(corrupt: (o: ProjectionOutputs, chunk: number) => void): MakeProjector {
  let calls = 0;
  return async (sae, settings, reduction, opts) => {
    const real = await createProjector(sae, settings, reduction, opts);
    if (calls++ % 2 === 0) return real; // the CPU reference
    let chunk = 0;
    const sinkFor = (acc: ProjectionSink): ProjectionSink => ({
      add: (o, ...rest) => {
        corrupt(o, chunk++);
        acc.add(o, ...rest);
      },
      addReduced: (o, ...rest) => {
        corrupt(o, chunk++);
        acc.addReduced(o, ...rest);
      },
    });
    const device: Projector = {
      reduction: real.reduction,
      width: real.width,
      hidden: real.hidden,
      architecture: real.architecture,
      threshold: real.threshold,
      linearPreActivation: real.linearPreActivation,
      sharesSaeWeights: real.sharesSaeWeights,
      accumulate: (acc, ...rest) => real.accumulate(sinkFor(acc), ...rest),
      fits: (positions, rows) => real.fits(positions, rows),
      preActivationShift: (m) => real.preActivationShift(m),
      release: () => real.release(),
    };
    return device;
  };
}

/** The differences the check finds on a device whose outputs `corrupt` alters (standard SAE). */
async function differencesWith(reduction: 'sparse' | 'dense', corrupt: (o: ProjectionOutputs, chunk: number) => void): Promise<string[]> {
  return checkDifferences(await checkKernels(cpu, reduction, [standard], WIDTH, options, faultyDevice(corrupt)));
}

test('a kernel that miscounts one firing on the last, short chunk is caught, naming the feature', async () => {
  // features: [cnt_b, cnt_s, ...] x width (sae/reducedGraph.ts)
  const found = await differencesWith('dense', (o, chunk) => {
    if (chunk === 1) (o.features.data as Float32Array)[17] += 1;
  });
  const line = found.find((d) => d.includes('firing count (base)'));
  const m =
    /^standard SAE \(b_dec subtracted from the input\), dense path: firing count \(base\): 1 of 2304 differ \(feature 17: (\d+) vs (\d+)\)$/.exec(
      line ?? '',
    );
  assert.ok(m, found.join('\n'));
  assert.equal(Number(m[2]), Number(m[1]) + 1);
});

test('a kernel that orders tied or near top contexts wrongly is caught', async () => {
  // the chunk's best and second-best token of feature 3 swapped: the values stay, the tokens move
  const found = await differencesWith('dense', (o, chunk) => {
    if (chunk !== 0) return;
    const rows = o.ctx_row_s.data as Int32Array; // [contexts, width]
    const m = o.ctx_row_s.dims[1];
    [rows[3], rows[m + 3]] = [rows[m + 3], rows[3]];
  });
  assert.ok(
    found.some((d) => /top contexts \(fine-tune\): (samples|positions)/.test(d)),
    found.join('\n'),
  );
});

test('float noise within docs/metrics.md tolerances (summation order) passes; a 1% error in one sum does not', async () => {
  // row 3 of features is sum_zs (sae/reducedGraph.ts's FEATURE_SUMS)
  const scaleAll = (factor: number) => (o: ProjectionOutputs) => {
    const f = o.features.data as Float32Array;
    for (let i = 3 * WIDTH; i < 4 * WIDTH; i++) f[i] *= factor;
  };
  assert.deepEqual(await differencesWith('dense', scaleAll(1 + 1e-5)), []);
  const wrong = await differencesWith('dense', scaleAll(1.01));
  assert.ok(
    wrong.some((d) => /sum of activations \(fine-tune\): \d+ of 2304 differ/.test(d)),
    wrong.join('\n'),
  );
});

test('the sparse path is checked too: a wrong per-token cosine is caught in the layer sums', async () => {
  const found = await differencesWith('sparse', (o) => {
    const dot = o.dot_h.data as Float32Array;
    for (let i = 0; i < dot.length; i++) dot[i] *= 0.9;
  });
  assert.deepEqual(
    found.map((d) => d.replace(/: -?[\d.e+-]+ vs -?[\d.e+-]+$/, '')),
    ['standard SAE (b_dec subtracted from the input), sparse path: cos_h'],
  );
});

test('a provider that cannot build the graph fails the check with its reason, so that auto falls back to the CPU', async () => {
  let calls = 0;
  const failing: MakeProjector = async (sae, settings, reduction, opts) => {
    if (calls++ % 2 === 1) throw new Error('ONNX Runtime could not load the SAE on webgpu: no kernel for TopK\nstack');
    return createProjector(sae, settings, reduction, opts);
  };
  const check = await checkKernels(cpu, 'dense', [standard], WIDTH, options, failing);
  assert.deepEqual(checkDifferences(check), [
    'standard SAE (b_dec subtracted from the input), dense path: the provider could not run it: ONNX Runtime could not load the SAE on webgpu: no kernel for TopK',
  ]);
  assert.equal(afterKernelCheck(check, { provider: 'webgpu', requested: 'auto' }, false).useCpu, true);
});

test('after the check: agreement goes on; auto or runtime.fallback falls back to the CPU with a warning; a named provider stops', () => {
  const agreed: KernelCheck = { graphs: [{ what: 'standard SAE, dense path', differences: [] }], seconds: 0.42 };
  const ok = afterKernelCheck(agreed, { provider: 'webgpu', requested: 'webgpu' }, false);
  assert.deepEqual(ok, { useCpu: false, note: 'SAE kernels on webgpu agree with the CPU (standard SAE, dense path; 0.4 s)' });

  const differing: KernelCheck = {
    graphs: [{ what: 'standard SAE, dense path', differences: ['a', 'b', 'c', 'd', 'e'] }],
    seconds: 1,
  };
  for (const [requested, fallback] of [
    ['auto', false],
    ['webgpu', true],
  ] as const) {
    const o = afterKernelCheck(differing, { provider: 'webgpu', requested }, fallback);
    assert.equal(o.useCpu, true);
    assert.equal(o.note, "fallback from webgpu: its SAE kernels disagree with the CPU's");
    assert.match(
      o.warning!,
      /^The SAE graph gives different numbers on webgpu than on the CPU: .*: a; .*: b; .*: c; and 2 more\. This run uses the CPU instead\.$/,
    );
  }
  assert.throws(
    () => afterKernelCheck(differing, { provider: 'cuda', requested: 'cuda' }, false),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      /different numbers on cuda than on the CPU: standard SAE, dense path: a;/.test(e.message) &&
      /--provider cpu/.test(e.hint ?? '') &&
      /runtime\.fallback: true/.test(e.hint ?? ''),
  );
});

test('SAE_DIFF_KERNEL_CHECK=report keeps a disagreeing provider for measuring, and says so; it changes nothing when the kernels agree', () => {
  const differing: KernelCheck = { graphs: [{ what: 'standard SAE, dense path', differences: ['count of feature 7'] }], seconds: 1 };
  const agreed: KernelCheck = { graphs: [{ what: 'standard SAE, dense path', differences: [] }], seconds: 1 };
  const report = { SAE_DIFF_KERNEL_CHECK: 'report' };
  const kept = keepProviderForMeasuring(differing, { provider: 'webgpu' }, report)!;
  assert.equal(kept.useCpu, false);
  assert.match(kept.note, /DISAGREE with the CPU; used anyway \(SAE_DIFF_KERNEL_CHECK=report\)/);
  assert.match(kept.warning!, /standard SAE, dense path: count of feature 7\..*not trustworthy/);
  assert.equal(keepProviderForMeasuring(agreed, { provider: 'webgpu' }, report), undefined);
  assert.equal(keepProviderForMeasuring(differing, { provider: 'webgpu' }, {}), undefined);
});

test("a run's check reads its SAEs' shapes from their configs and checks each once", async () => {
  const dir = scratchDir('kernel-check');
  const config = loadConfigText(
    fixtureConfig({ layers: '{ target_indices: [1, 3] }' }).replace(/@\//g, FIXTURES.replace(/\\/g, '/') + '/'),
    path.join(dir, 'check.sae-diff.yaml'),
  );
  const logs: string[] = [];
  const outcome = await checkRunKernels(config, cpu, { provider: 'cpu', requested: 'cpu' }, (l) => logs.push(l));
  assert.equal(outcome.useCpu, false);
  // the fixture's SAEs are standard, 1024 wide: one shape for both layers
  assert.match(logs[0], /^checking the SAE kernels on cpu against the CPU \(1 graph, width 1024\)$/);
  assert.match(outcome.note, /^SAE kernels on cpu agree with the CPU \(standard SAE[^,]*, sparse path; [\d.]+ s\)$/);
});
