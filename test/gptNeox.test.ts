/**
 * GPT-NeoX (Pythia's architecture; test/fixtures/gpt-neox, built by gpt_neox_fixtures.py with transformers): its
 * checkpoints run from safetensors as transformers runs them, parallel and sequential blocks alike, and its export's
 * parallel blocks hook attn_out and mlp_out (and refuse resid_mid, which they do not have).
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { HookPoint } from '../src/engine/config/types';
import { SaeDiffError } from '../src/engine/core/errors';
import { normalisesWithLayerNorm } from '../src/engine/model/centring';
import { checkpointSpec } from '../src/engine/model/checkpoint/decoderConfig';
import type { GptNeoxSpec } from '../src/engine/model/checkpoint/gptNeoxConfig';
import { type ModelSource, readModelGraph } from '../src/engine/model/modelSource';
import { HookedModel } from '../src/engine/model/runner';
import { readUnembedding, type Unembedding } from '../src/engine/report/unembedding';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { REPO_ROOT } from './helpers/paths';
import { checkpointOf } from './helpers/checkpoints';

const NEOX = path.join(REPO_ROOT, 'test', 'fixtures', 'gpt-neox');
const cpu = { provider: 'cpu' as const, threads: 1 };
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** Every layer at `points` within 1e-5 (relative to the values' size) of `section` of `folder`'s expected.json. */
async function assertMatchesTransformers(source: ModelSource | string, folder: string, points: HookPoint[], section?: string) {
  const expected = expectedIn(folder, section);
  for (const point of points) {
    const centred = section === 'centred' ? { centred: new Set([0, 1, 2]) } : {};
    for (const d of await differenceFromExpected(source, expected, point, cpu, centred)) {
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
      assert.ok(d.largest > 0.1, `${point} layer ${d.layer}: activations of size ${d.largest}`);
    }
  }
}

const PARALLEL_POINTS: HookPoint[] = ['resid_pre', 'resid_post', 'attn_out', 'mlp_out'];

test("a GPT-NeoX checkpoint with parallel blocks (Pythia: partial rotary, per-head fused qkv) gives transformers' activations", async () => {
  const folder = path.join(NEOX, 'parallel');
  await assertMatchesTransformers(checkpointOf(folder), folder, PARALLEL_POINTS);
  // and TransformerLens's centred stream where an SAE asks for it
  await assertMatchesTransformers(checkpointOf(folder), folder, PARALLEL_POINTS, 'centred');
  const spec = checkpointSpec(readJson(path.join(folder, 'config.json')), 'config.json') as GptNeoxSpec;
  assert.deepEqual([spec.rotaryDim, spec.parallelResidual], [4, true]);
});

test("a GPT-NeoX checkpoint with sequential blocks gives transformers' activations at all five hook points", async () => {
  const folder = path.join(NEOX, 'sequential');
  await assertMatchesTransformers(checkpointOf(folder), folder, ['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out']);
});

test('the TorchScript export of parallel blocks hooks attn_out and mlp_out, and refuses resid_mid, which they lack', async () => {
  const file = path.join(NEOX, 'onnx', 'torchscript', 'model.onnx');
  await assertMatchesTransformers(file, path.join(NEOX, 'parallel'), PARALLEL_POINTS);
  await assert.rejects(
    HookedModel.load(file, { targets: [1], hookPoint: 'resid_mid', tensorNames: new Map() }, cpu),
    (e: SaeDiffError) => /Cannot find the resid_mid tensor/.test(e.message) && /have no resid_mid/.test(e.hint ?? ''),
  );
  assert.equal(normalisesWithLayerNorm(readModelGraph(checkpointOf(path.join(NEOX, 'parallel'))).model), true);
});

test("Pythia's config.json as published (transformers 4: rotary_pct, rotary_emb_base, rope_scaling null) reads as transformers 5 reads it", () => {
  const saved = readJson(path.join(NEOX, 'parallel', 'config.json'));
  const { rope_parameters: rope, ...rest } = saved;
  const published = { ...rest, rotary_pct: rope.partial_rotary_factor, rotary_emb_base: rope.rope_theta, rope_scaling: null };
  const [a, b] = [checkpointSpec(saved, 'config.json'), checkpointSpec(published, 'config.json')] as GptNeoxSpec[];
  assert.deepEqual(a, b);
  // transformers' defaults: a quarter of each head rotated, base 10000
  const bare = checkpointSpec({ ...rest }, 'config.json') as GptNeoxSpec;
  assert.deepEqual([bare.rotaryDim, bare.invFreq], [a.rotaryDim, a.invFreq]);
  const key = (change: Record<string, unknown>) => {
    try {
      checkpointSpec({ ...saved, ...change }, 'config.json');
    } catch (e) {
      return (e as SaeDiffError).location?.key;
    }
  };
  assert.equal(key({ hidden_act: 'quick_gelu' }), 'hidden_act');
  assert.equal(key({ rope_parameters: { ...rope, rope_type: 'dynamic', factor: 2 } }), 'rope_parameters.rope_type');
});

test("GPT-NeoX's W_U is embed_out, untied (transformers saves the head under that name)", () => {
  const u = readUnembedding(checkpointOf(path.join(NEOX, 'parallel'))) as Unembedding;
  assert.equal(typeof u, 'object', String(u));
  assert.deepEqual([u.name, u.hidden, u.vocab], ['embed_out.weight', 64, 1024]);
});
