/**
 * Phi-1.5 / Phi-2 (model_type phi; test/fixtures/phi, built by phi_fixtures.py with transformers): the checkpoint runs
 * from safetensors as transformers runs it, its parallel block (one norm feeding attention and the MLP) hooked at the
 * four points it has.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { HookPoint } from '../src/engine/config/types';
import { SaeDiffError } from '../src/engine/core/errors';
import { checkpointSpec } from '../src/engine/model/checkpoint/decoderConfig';
import type { PhiSpec } from '../src/engine/model/checkpoint/phiConfig';
import { HookedModel } from '../src/engine/model/runner';
import { readUnembedding, type Unembedding } from '../src/engine/report/unembedding';
import { differenceFromExpected, expectedIn } from './helpers/expectedActivations';
import { REPO_ROOT } from './helpers/paths';
import { checkpointOf } from './helpers/checkpoints';

const PHI = path.join(REPO_ROOT, 'test', 'fixtures', 'phi');
const cpu = { provider: 'cpu' as const, threads: 1 };
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8'));
const POINTS: HookPoint[] = ['resid_pre', 'resid_post', 'attn_out', 'mlp_out'];

for (const [fixture, what] of [
  ['base', 'a Phi checkpoint (one LayerNorm feeding attention and the MLP, partial rotary, biased q/k/v)'],
  ['qk-layernorm', 'a Phi checkpoint with qk_layernorm (a LayerNorm over each head of q and k)'],
] as const) {
  test(`${what} gives transformers' activations at resid_pre, resid_post, attn_out and mlp_out`, async () => {
    const folder = path.join(PHI, fixture);
    const expected = expectedIn(folder);
    for (const point of POINTS) {
      for (const d of await differenceFromExpected(checkpointOf(folder), expected, point, cpu)) {
        assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest), `${point} layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
        assert.ok(d.largest > 0.1, `${point} layer ${d.layer}: activations of size ${d.largest}`);
      }
    }
  });
}

test("Phi's config reads as transformers 4 and 5 write it; resid_mid, which its block lacks, is refused; W_U is lm_head", async () => {
  const folder = path.join(PHI, 'base');
  const saved = readJson(path.join(folder, 'config.json'));
  const { rope_parameters: rope, ...rest } = saved;
  // transformers 4 (Phi-2's own config.json): rope_theta and partial_rotary_factor at the top level
  const v4 = { ...rest, rope_theta: rope.rope_theta, partial_rotary_factor: rope.partial_rotary_factor, rope_scaling: null };
  assert.deepEqual(checkpointSpec(v4, 'config.json'), checkpointSpec(saved, 'config.json'));
  const spec = checkpointSpec(saved, 'config.json') as PhiSpec;
  assert.deepEqual([spec.rotaryDim, spec.headDim, spec.qkLayerNorm], [8, 16, false]);
  const key = (change: Record<string, unknown>) => {
    try {
      checkpointSpec({ ...saved, ...change }, 'config.json');
    } catch (e) {
      return (e as SaeDiffError).location?.key;
    }
  };
  assert.equal(key({ num_key_value_heads: 2 }), 'num_key_value_heads');
  assert.equal(key({ hidden_act: 'quick_gelu' }), 'hidden_act');
  await assert.rejects(
    HookedModel.load(checkpointOf(folder), { targets: [1], hookPoint: 'resid_mid', tensorNames: new Map() }, cpu),
    (e: SaeDiffError) => /Cannot find the resid_mid tensor/.test(e.message),
  );
  const u = readUnembedding(checkpointOf(folder)) as Unembedding;
  assert.deepEqual([u.name, u.hidden, u.vocab], ['lm_head.weight', 64, 1024]);
});
