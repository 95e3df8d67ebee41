import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { HookPoint } from '../src/engine/config/types';
import { discoverHooks } from '../src/engine/model/hooks';
import { onnx } from 'onnx-proto';
import { readOnnxModel } from '../src/engine/model/onnxGraph';
import type { SaeDiffReport } from '../src/shared/reportTypes';
import { runCli } from './helpers/cli';
import { compareWithGolden } from './helpers/golden';
import { FIXTURES, REPO_ROOT, scratchDir } from './helpers/paths';
import { HookedModel } from '../src/engine/model/runner';

/** A Qwen2 exported by torch 2.11's dynamo exporter: scopes only in node metadata_props (see its README). */
const DYNAMO = path.join(REPO_ROOT, 'test', 'fixtures', 'dynamo-export', 'qwen2');
const BASE = path.join(DYNAMO, 'base', 'model.onnx');
const out = scratchDir('dynamo');

test('dynamo export: golden.yaml reproduces golden.json (PyTorch forward hooks) within docs/metrics.md tolerances', () => {
  const file = path.join(out, 'report.json');
  const res = runCli(['run', path.join(DYNAMO, 'golden.yaml'), '--provider', 'cpu', '--out', file, '--quiet']);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as SaeDiffReport;
  const golden = JSON.parse(fs.readFileSync(path.join(DYNAMO, 'golden.json'), 'utf8'));
  assert.equal(report.run.tokens, golden.tokens, '|T|');
  // The fixture's SAEs have random thresholds with ~3% of features firing, so a token's firing flips on
  // float rounding (its README): l0 within 4e-3 relative, a feature frequency within 8 tokens' worth.
  const flips: string[] = [];
  const problems = compareWithGolden(report.comparisons[0], golden).filter((p) => {
    const l0 = /layer (\d+) (l0_base|l0_sft): (\S+) vs golden (\S+)/.exec(p);
    if (l0 && Math.abs(Number(l0[3]) - Number(l0[4])) <= 4e-3 * Math.abs(Number(l0[4]))) return false;
    const freq = /feature \d+ freq_(base|sft): (\S+) vs golden (\S+)/.exec(p);
    if (freq && Math.abs(Number(freq[2]) - Number(freq[3])) * golden.tokens <= 8) {
      flips.push(p);
      return false;
    }
    return true;
  });
  assert.deepEqual(problems, []);
  assert.ok(flips.length <= 2, `few threshold flips: ${flips}`);
  // layers 0-1 are untouched by the fine-tune: exactly equal
  for (const l of report.comparisons[0].layers.filter((x) => x.layer <= 1)) {
    assert.equal(l.feature_overlap, 1);
    assert.equal(l.l1_divergence, 0);
  }
});

test('dynamo export: resid_pre / resid_mid / resid_post / attn_out / mlp_out found from metadata_props name_scopes', () => {
  const model = readOnnxModel(BASE);
  const at = (layer: number, point: HookPoint) => discoverHooks(model, BASE, [layer], point, new Map()).tensors.get(layer);
  // layer 0 of this export: embedding -> add_377 = embedding + o_proj(linear_3) -> add_427 = add_377 + down_proj(linear_6)
  assert.equal(at(0, 'resid_pre'), 'embedding');
  assert.equal(at(0, 'resid_mid'), 'add_377');
  assert.equal(at(0, 'resid_post'), 'add_427');
  assert.equal(at(0, 'attn_out'), 'linear_3');
  assert.equal(at(0, 'mlp_out'), 'linear_6');
  assert.equal(at(1, 'resid_pre'), 'add_427');
  assert.equal(discoverHooks(model, BASE, [3], 'resid_post', new Map()).blockCount, 4);
  assert.throws(() => discoverHooks(model, BASE, [4], 'resid_post', new Map()), /graph has 4 decoder blocks \(0-3\)/);
});

test('the same graph without its metadata_props (scope-less) keeps the clear error', () => {
  const stripped = path.join(out, 'scopeless.onnx');
  // onnx-proto's encoder has no metadata_props field: re-encoding drops the scopes
  fs.writeFileSync(stripped, onnx.ModelProto.encode(readOnnxModel(BASE)).finish());
  const model = readOnnxModel(stripped);
  assert.throws(
    () => discoverHooks(model, stripped, [0], 'resid_post', new Map()),
    /Cannot find decoder blocks in this ONNX graph: neither its node names nor their metadata_props carry module scopes/,
  );
});

/** Activations of one hook point at layer 1 on a fixed batch. */
async function hooked(file: string, point: HookPoint): Promise<Float32Array> {
  const m = await HookedModel.load(file, { targets: [1], hookPoint: point, tensorNames: new Map() }, { provider: 'cpu', threads: 1 });
  const out = await m.run({ batch: 1, seq: 4, ids: Int32Array.from([1, 40, 41, 42]), mask: Uint8Array.from([1, 1, 1, 1]) });
  await m.release();
  return out.get(1)!.data;
}

for (const [name, file] of [
  ['TorchScript export (tiny-llama)', path.join(FIXTURES, 'base', 'model.onnx')],
  ['dynamo export (qwen2)', BASE],
]) {
  test(`${name}: resid_mid = resid_pre + attn_out and resid_post = resid_mid + mlp_out, numerically`, async () => {
    const [pre, mid, post, attn, mlp] = await Promise.all(
      (['resid_pre', 'resid_mid', 'resid_post', 'attn_out', 'mlp_out'] as const).map((p) => hooked(file, p)),
    );
    let e1 = 0,
      e2 = 0,
      moved = 0;
    for (let i = 0; i < pre.length; i++) {
      e1 = Math.max(e1, Math.abs(pre[i] + attn[i] - mid[i]));
      e2 = Math.max(e2, Math.abs(mid[i] + mlp[i] - post[i]));
      moved = Math.max(moved, Math.abs(mid[i] - pre[i]), Math.abs(post[i] - mid[i]));
    }
    assert.ok(e1 < 1e-5 && e2 < 1e-5, `sums off by ${e1}, ${e2}`);
    assert.ok(moved > 1e-3, 'the three positions differ');
  });
}
