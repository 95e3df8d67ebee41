import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { graphOf, readOnnxModel } from '../src/engine/model/onnxGraph';
import { decoderSpec } from '../src/engine/model/checkpoint/decoderConfig';
import { checkpointSource, type ModelSource } from '../src/engine/model/modelSource';
import { hookGraph, HookedModel } from '../src/engine/model/runner';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { FIXTURES, REPO_ROOT } from './helpers/paths';

const ALL = [0, 1, 2, 3, 4, 5];
const cpu = { provider: 'cpu' as const, threads: 0 };
const noNames = new Map<number, string>();

const cases: [string, string][] = [
  ['base', 'model.onnx'],
  ['base', 'model_with_past.onnx'],
  ['sft-domain', 'model.onnx'],
  ['sft-refusal', 'model.onnx'],
  ['sft-late', 'model.onnx'],
];

for (const [folder, file] of cases) {
  for (const hookPoint of ['resid_post', 'resid_pre'] as const) {
    test(`${folder}/${file}: ${hookPoint} hooks are exactly the tensors of hooks.json`, () => {
      const hooks = JSON.parse(fs.readFileSync(path.join(FIXTURES, folder, 'hooks.json'), 'utf8'));
      const model = readOnnxModel(path.join(FIXTURES, folder, file));
      const { tensors } = hookGraph(model, file, { targets: ALL, hookPoint, tensorNames: noNames });
      for (const l of hooks.layers) assert.equal(tensors.get(l.layer), l[hookPoint], `layer ${l.layer}`);
    });
  }
}

test('the hooked graph stops after the deepest hooked layer', () => {
  const model = readOnnxModel(path.join(FIXTURES, 'base', 'model.onnx'));
  hookGraph(model, 'model.onnx', { targets: [1, 2], hookPoint: 'resid_post', tensorNames: noNames });
  const names = graphOf(model).node.map((n) => n.name ?? '');
  assert.ok(names.some((n) => n.startsWith('/model/layers.2/')));
  assert.ok(!names.some((n) => /^\/model\/layers\.[3-5]\//.test(n)), 'no later block');
  assert.ok(!names.some((n) => n.startsWith('/lm_head') || n.startsWith('/model/norm')), 'no final norm nor lm_head');
  assert.deepEqual(
    graphOf(model).output.map((o) => o.name),
    ['/model/layers.1/Add_1_output_0', '/model/layers.2/Add_1_output_0'],
  );
});

test('an explicit tensor name per layer is used, and an unknown one is refused', () => {
  const model = readOnnxModel(path.join(FIXTURES, 'base', 'model.onnx'));
  const { tensors } = hookGraph(model, 'model.onnx', {
    targets: [2],
    hookPoint: 'resid_post',
    tensorNames: new Map([[2, '/model/layers.2/Add_output_0']]),
  });
  assert.equal(tensors.get(2), '/model/layers.2/Add_output_0');
  assert.throws(
    () =>
      hookGraph(readOnnxModel(path.join(FIXTURES, 'base', 'model.onnx')), 'model.onnx', {
        targets: [2],
        hookPoint: 'resid_post',
        tensorNames: new Map([[2, 'nope']]),
      }),
    /'nope' named for layer 2 is not produced/,
  );
});

test('model.onnx and model_with_past.onnx (empty past) give the same activations, with left and right padding', async () => {
  const hooks = { targets: ALL, hookPoint: 'resid_post' as const, tensorNames: noNames };
  const plain = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), hooks, cpu);
  const past = await HookedModel.load(path.join(FIXTURES, 'base', 'model_with_past.onnx'), hooks, cpu);
  const batch = {
    batch: 2,
    seq: 5,
    ids: Int32Array.from([0, 80, 81, 82, 83, 0, 90, 91, 2, 2]),
    mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  };
  const a = await plain.run(batch);
  const b = await past.run(batch);
  for (const l of ALL) {
    const x = a.get(l)!.data,
      y = b.get(l)!.data;
    let max = 0;
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
    assert.ok(max < 1e-4, `layer ${l}: ${max}`);
  }
  // a row's real tokens do not depend on padding: row 1 alone equals row 1 padded
  const alone = await plain.run({ batch: 1, seq: 3, ids: Int32Array.from([0, 90, 91]), mask: Uint8Array.from([1, 1, 1]) });
  const padded = a.get(5)!.data.subarray(5 * 128, 8 * 128);
  const single = alone.get(5)!.data;
  for (let i = 0; i < single.length; i++) assert.ok(Math.abs(single[i] - padded[i]) < 1e-4);
  await plain.release();
  await past.release();
});

test('the probes (neighbouring positions) are fetched only when asked: the same hooked activations either way', async () => {
  const hooks = { targets: [1, 2], hookPoint: 'resid_post' as const, tensorNames: noNames, probeNeighbours: true };
  const model = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), hooks, cpu);
  try {
    const batch = { batch: 1, seq: 4, ids: Int32Array.from([0, 80, 81, 82]), mask: Uint8Array.from([1, 1, 1, 1]) };
    const probed = await model.runWithProbes(batch);
    const plain = await model.runWithProbes(batch, false);
    const probeNames = new Set([...model.probes.values()].flatMap((m) => [...m.values()]));
    for (const n of probeNames) assert.ok(probed.outputs.has(n), `${n} is fetched with the probes`);
    // without them, only the two hooked layers' tensors (resid_pre of layer 1, for one, is left in the graph)
    assert.deepEqual([...plain.outputs.keys()].sort(), [...new Set(model.hookTensors.values())].sort());
    assert.ok(
      [...probeNames].some((n) => !plain.outputs.has(n)),
      'a probe that is not a hooked layer stays unfetched',
    );
    for (const l of [1, 2]) assert.deepEqual(plain.layers.get(l)!.data, probed.layers.get(l)!.data);
  } finally {
    await model.release();
  }
});

/**
 * Gemma 2 exported by both torch exporters (test/fixtures/gemma2_export_fixtures.py), with dynamic axes, and the
 * checkpoint they were exported from: every hook point against transformers' forward hooks. Its sandwich norms put a
 * norm after attention and after the MLP, so attn_out and mlp_out are those norms' outputs (what the residual sums
 * add), and its sliding window binds.
 */
const GEMMA2_EXPORTS = path.join(REPO_ROOT, 'test', 'fixtures', 'gemma2-exports');
const GEMMA2_CHECKPOINT = path.join(REPO_ROOT, 'test', 'fixtures', 'sliding-window', 'gemma2');
const gemma2Sources: [string, () => ModelSource | string][] = [
  ['torchscript export', () => path.join(GEMMA2_EXPORTS, 'torchscript', 'model.onnx')],
  ['dynamo export', () => path.join(GEMMA2_EXPORTS, 'dynamo', 'model.onnx')],
  [
    'checkpoint',
    () => {
      const config = path.join(GEMMA2_CHECKPOINT, 'config.json');
      return checkpointSource(
        path.join(GEMMA2_CHECKPOINT, 'model.safetensors'),
        config,
        decoderSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config),
      );
    },
  ],
];
for (const [what, source] of gemma2Sources) {
  test(`Gemma 2 (${what}): all five hook points give what transformers gives`, async () => {
    const expected = expectedIn(GEMMA2_EXPORTS);
    for (const hookPoint of ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out'] as const)
      for (const d of await differenceFromExpected(source(), expected, hookPoint, cpu))
        assert.ok(d.relative < 1e-5, `${hookPoint} layer ${d.layer}: ${d.relative}`);
  });
}
