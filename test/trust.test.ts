import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import { loadSae } from '../src/engine/sae/loadSae';
import { HookedModel } from '../src/engine/model/runner';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { anonymousSaes } from './helpers/anonymousSaes';
import { fixtureConfig, runCli, writeConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('trust');
const FLOAT = onnx.TensorProto.DataType.FLOAT,
  FLOAT16 = onnx.TensorProto.DataType.FLOAT16;

function run(name: string, yaml: string): SaeDiffReport {
  const out = path.join(dir, `${name}.json`);
  const res = runCli(['run', writeConfig(dir, `${name}.sae-diff.yaml`, yaml), '--out', out, '--quiet']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(fs.readFileSync(out, 'utf8'));
}
const general = '{ path: "@/eval/general.jsonl", max_samples: 32 }';

test("self-check: silent on a correct hook, fires on resid_pre and on a neighbouring layer's SAE", () => {
  const ok = run('self-ok', fixtureConfig({ models: '{ base: "@/base", sft: "@/sft-domain" }', dataset: general }));
  assert.equal(ok.run.self_check_failed, false);
  for (const l of ok.comparisons[0].layers) assert.equal(l.self_check!.ok, true, `layer ${l.layer}`);
  // an SAE that declares resid_post is refused at resid_pre before any run (saeHookPoint.test.ts); one
  // that does not say its hook (cfg without hook_name / hook_layer) is caught by the statistical check
  const anon = anonymousSaes(dir, [2, 3, 4]);
  const pre = run(
    'self-pre',
    fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      dataset: general,
      sae: `{ path: "${anon}", k: 16 }`,
      layers: '{ target_indices: [2, 3, 4], hook_point: resid_pre }',
    }),
  );
  assert.equal(pre.run.self_check_failed, true);
  for (const l of pre.comparisons[0].layers)
    assert.match(l.self_check!.messages[0], /explains the stream leaving the block \(resid_post\) better/);
  assert.ok(pre.run.warnings.some((w) => w.startsWith('SAE self-check failed')));
  const nb = run(
    'self-neighbour',
    fixtureConfig({
      models: '{ base: "@/base", sft: "@/sft-domain" }',
      dataset: general,
      layers: '{ target_indices: [3] }',
      sae: '{ path: { "3": "@/saes/blocks.4.hook_resid_post" }, k: 16, check_hook_layer: false }',
    }),
  );
  assert.equal(nb.run.self_check_failed, true);
  assert.match(nb.comparisons[0].layers[0].self_check!.messages[0], /explains the stream leaving the next block better/);
});

/** A copy of base whose weights are rounded to float16 (stored as float16, cast back to float32 in the graph). */
function float16WeightsCopy(folder: string): string {
  fs.mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(FIXTURES, 'base', f), path.join(folder, f));
  const model = onnx.ModelProto.decode(fs.readFileSync(path.join(FIXTURES, 'base', 'model.onnx')));
  const graph = model.graph!;
  const casts: onnx.INodeProto[] = [];
  const f32 = new Float32Array(1),
    u32 = new Uint32Array(f32.buffer);
  const toHalf = (v: number) => {
    // round to nearest even (normal range is enough for these weights)
    f32[0] = v;
    const x = u32[0],
      sign = (x >>> 16) & 0x8000,
      exp = ((x >>> 23) & 0xff) - 112,
      mant = x & 0x7fffff;
    if (exp <= 0) return sign;
    let h = sign | (exp << 10) | (mant >> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
    return h;
  };
  for (const t of graph.initializer!) {
    if (t.dataType !== FLOAT || !t.rawData || t.rawData.length < 4096) continue;
    const src = new Float32Array(new Uint8Array(t.rawData).buffer);
    const half = Uint16Array.from(src, toHalf);
    casts.push({
      opType: 'Cast',
      input: [`${t.name}_fp16`],
      output: [t.name!],
      name: `/fp16/Cast_${t.name}`,
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT }],
    });
    t.name = `${t.name}_fp16`;
    t.dataType = FLOAT16;
    t.rawData = new Uint8Array(half.buffer);
  }
  graph.node = [...casts, ...graph.node!];
  fs.writeFileSync(path.join(folder, 'model.onnx'), onnx.ModelProto.encode(model).finish());
  return folder;
}

test('noise floor: base as reference gives a zero floor; its float16 version a small non-zero one', () => {
  const zero = run(
    'floor-zero',
    fixtureConfig({ models: '{ base: "@/base", sft: "@/sft-refusal", reference: "@/base" }', dataset: general }),
  );
  assert.equal(zero.noise_floor!.reference.name, 'base');
  for (const l of zero.comparisons[0].layers) {
    assert.deepEqual(l.noise_floor, { dense_cosine: 1, feature_overlap: 1, l1_divergence: 0, recon_cosine: 1 });
    assert.equal(l.within_noise_floor, false);
    assert.ok(Math.abs(l.relative_to_floor!.l1_divergence - l.l1_divergence) < 1e-12);
  }
  const fp16 = float16WeightsCopy(path.join(dir, 'base-fp16'));
  const small = run(
    'floor-fp16',
    fixtureConfig({ models: `{ base: "@/base", sft: "@/sft-refusal", reference: "${fp16}" }`, dataset: general }),
  );
  for (const l of small.comparisons[0].layers) {
    assert.ok(l.noise_floor!.l1_divergence > 0 && l.noise_floor!.l1_divergence < 0.05, `layer ${l.layer}: ${l.noise_floor!.l1_divergence}`);
    assert.ok(l.noise_floor!.dense_cosine > 0.999);
    assert.ok(l.l1_divergence > l.noise_floor!.l1_divergence, 'the real fine-tune is above the floor');
  }
  // a "fine-tune" that is only the float16 rounding stays within the floor: its flags are cancelled
  const within = run(
    'floor-within',
    fixtureConfig({
      models: `{ base: "@/base", sft: "${fp16}", reference: "${fp16}" }`,
      dataset: general,
      metrics: '{ l1_divergence_threshold: 0.0001 }',
    }),
  );
  for (const l of within.comparisons[0].layers) {
    assert.equal(l.within_noise_floor, true);
    assert.deepEqual(l.flags, []);
    assert.deepEqual(l.flags_suppressed_by_floor, ['divergent']);
  }
});

test("significance keeps every one of sft-late layer 5's top 10; the Δh decomposition adds up", () => {
  const r = run(
    'late',
    fixtureConfig({ models: '{ base: "@/base", sft: "@/sft-late" }', dataset: '{ path: "@/eval/domain.jsonl", max_samples: 64 }' }),
  );
  assert.equal(r.run.fdr, 0.05);
  const l5 = r.comparisons[0].layers.find((l) => l.layer === 5)!;
  for (const f of l5.shifted_features.slice(0, 10)) {
    assert.equal(f.significant, true, `feature ${f.id}`);
    assert.ok(f.q_value! <= 0.05 && f.p_value! <= f.q_value!);
    assert.ok(f.freq_sft_ci![0] <= f.freq_sft && f.freq_sft <= f.freq_sft_ci![1]);
  }
  for (const l of r.comparisons[0].layers) {
    const d = l.decomposition!;
    assert.ok(Math.abs(d.inside + d.outside - d.delta_sq) <= 1e-5 * Math.max(1, d.delta_sq), `layer ${l.layer}`);
    if (l.layer <= 3) assert.equal(d.delta_sq, 0);
    else assert.ok(d.fraction_inside > 0 && d.fraction_inside < 1);
  }
});

test('threshold margin: JumpReLU shifts carry their pre-activation change and are marked against the threshold', () => {
  const sae = `{ path: { "3": "@/saes-variants/jumprelu" }, k: 16, check_hook_layer: true }`;
  const marked = (margin: number) =>
    run(
      `margin-${margin}`,
      fixtureConfig({
        models: '{ base: "@/base", sft: "@/sft-domain" }',
        dataset: general,
        layers: '{ target_indices: [3] }',
        sae,
        metrics: `{ threshold_margin: ${margin} }`,
      }),
    );
  const threshold = loadSae(path.join(FIXTURES, 'saes-variants', 'jumprelu')).threshold!;
  const r = marked(0.5);
  const features = r.comparisons[0].layers[0].shifted_features;
  assert.ok(features.length > 0);
  for (const f of features) {
    assert.equal(typeof f.pre_activation_shift, 'number');
    assert.equal(f.near_threshold, Math.abs(f.pre_activation_shift!) < 0.5 * threshold[f.id]);
  }
  assert.ok(marked(0).comparisons[0].layers[0].shifted_features.every((f) => f.near_threshold === false));
});

test('parity: special tokens that differ and a doubled BOS are warned about', () => {
  const folder = path.join(dir, 'sft-parity');
  fs.mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'model.onnx'])
    fs.copyFileSync(path.join(FIXTURES, 'sft-refusal', f), path.join(folder, f));
  const tc = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'sft-refusal', 'tokenizer_config.json'), 'utf8'));
  tc.pad_token = '</s>';
  tc.chat_template = '{{ bos_token }}' + tc.chat_template; // the template adds a BOS, and so does the tokenizer
  fs.writeFileSync(path.join(folder, 'tokenizer_config.json'), JSON.stringify(tc));
  const r = run(
    'parity',
    fixtureConfig({
      models: `{ base: "@/base", sft: "${folder}" }`,
      layers: '{ target_indices: [1] }',
      dataset: '{ path: "@/eval/chat.jsonl", max_samples: 8 }',
    }),
  );
  assert.ok(r.run.parity_warnings!.some((w) => /Special tokens of base and sft-parity differ: pad_token "<pad>" vs "<\/s>"/.test(w)));
  assert.ok(r.run.parity_warnings!.some((w) => /8 of 8 prompts start with two BOS tokens/.test(w)));
  const clean = run(
    'parity-clean',
    fixtureConfig({ layers: '{ target_indices: [1] }', dataset: '{ path: "@/eval/chat.jsonl", max_samples: 8 }' }),
  );
  assert.deepEqual(clean.run.parity_warnings, []);
});

test('fused graph without module scopes: resid_post is found by position (SkipSimplifiedLayerNormalization sums)', async () => {
  const d = 4;
  const vi = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((x) => (typeof x === 'number' ? { dimValue: x } : { dimParam: x })) } } },
  });
  const w = (name: string, dims: number[], seed: number) => ({
    name,
    dataType: FLOAT,
    dims,
    rawData: new Uint8Array(Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed + i) * 0.5).buffer),
  });
  const skip = (i: number, input: string, skipIn: string) => ({
    name: `SkipSimplifiedLayerNormalization_${i}`,
    opType: 'SkipSimplifiedLayerNormalization',
    domain: 'com.microsoft',
    input: [input, skipIn, 'gamma'],
    output: [`y${i}`, '', '', `sum${i}`],
    attribute: [{ name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1e-5 }],
  });
  const mm = (name: string, a: string, b: string) => ({ name, opType: 'MatMul', input: [a, b], output: [`${name}_out`] });
  const model = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: {
      name: 'fused',
      initializer: [
        w('E', [16, d], 1),
        w('gamma', [d], 2),
        w('Wa0', [d, d], 3),
        w('Wm0', [d, d], 4),
        w('Wa1', [d, d], 5),
        w('Wm1', [d, d], 6),
      ],
      input: [vi('input_ids', onnx.TensorProto.DataType.INT64, ['b', 's'])],
      output: [vi('y3', FLOAT, ['b', 's', d])],
      node: [
        { name: 'Gather_0', opType: 'Gather', input: ['E', 'input_ids'], output: ['emb'] },
        {
          name: 'SimplifiedLayerNormalization_0',
          opType: 'SimplifiedLayerNormalization',
          input: ['emb', 'gamma'],
          output: ['n0'],
          attribute: [
            { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: 1e-5 },
            { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 },
          ],
        },
        mm('MatMul_a0', 'n0', 'Wa0'),
        skip(0, 'MatMul_a0_out', 'emb'),
        mm('MatMul_m0', 'y0', 'Wm0'),
        skip(1, 'MatMul_m0_out', 'sum0'),
        mm('MatMul_a1', 'y1', 'Wa1'),
        skip(2, 'MatMul_a1_out', 'sum1'),
        mm('MatMul_m1', 'y2', 'Wm1'),
        skip(3, 'MatMul_m1_out', 'sum2'),
      ],
    },
  }).finish();
  const file = path.join(dir, 'fused.onnx');
  fs.writeFileSync(file, model);
  const cpu = { provider: 'cpu' as const, threads: 1 };
  const post = await HookedModel.load(file, { targets: [0, 1], hookPoint: 'resid_post', tensorNames: new Map() }, cpu);
  assert.deepEqual(
    [...post.hookTensors],
    [
      [0, 'sum1'],
      [1, 'sum3'],
    ],
  );
  const out = await post.run({ batch: 1, seq: 3, ids: Int32Array.from([1, 2, 3]), mask: Uint8Array.from([1, 1, 1]) });
  assert.equal(out.get(1)!.data.length, 3 * d);
  const pre = await HookedModel.load(file, { targets: [0, 1], hookPoint: 'resid_pre', tensorNames: new Map() }, cpu);
  assert.deepEqual(
    [...pre.hookTensors],
    [
      [0, 'emb'],
      [1, 'sum1'],
    ],
  );
  const mid = await HookedModel.load(file, { targets: [0, 1], hookPoint: 'resid_mid', tensorNames: new Map() }, cpu);
  assert.deepEqual(
    [...mid.hookTensors],
    [
      [0, 'sum0'],
      [1, 'sum2'],
    ],
  );
  await mid.release();
  await assert.rejects(
    HookedModel.load(file, { targets: [0], hookPoint: 'mlp_out', tensorNames: new Map() }, cpu),
    /Cannot locate mlp_out in this fused graph: its node names carry no module scopes/,
  );
  await post.release();
  await pre.release();
});
