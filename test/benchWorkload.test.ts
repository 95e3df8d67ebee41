// The bench's synthetic workload: a tiny one is generated (weights forced into external data), the
// engine finds its hooks and runs on it end to end, and generation is deterministic and cached.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { ensureWorkload } from '../bench/workload/generate';
import { workloadOptions } from '../bench/workload/options';
import { discoverHooks } from '../src/engine/model/hooks';
import { readOnnxModel } from '../src/engine/model/onnxGraph';
import { readSaeInfo } from '../src/engine/sae/loadSae';
import { runCli } from './helpers/cli';
import { scratchDir } from './helpers/paths';

const tmp = scratchDir('bench-workload');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const flags: Record<string, string> = {
  hidden: '64',
  layers: '2',
  heads: '4',
  'kv-heads': '2',
  'd-sae': '256',
  'sae-layers': '0,1',
  k: '16',
  prompts: '8',
  'max-tokens': '32',
};
const tiny = (extra: Record<string, string> = {}, fp16 = false) =>
  workloadOptions(
    (n) => ({ ...flags, ...extra })[n],
    (n) => n === 'fp16' && fp16,
  );

interface Layer {
  layer: number;
  dense_cosine: number;
  feature_overlap: number;
  l1_divergence: number;
  l0_base: number;
  explained_variance_base: number;
}

function runEngine(config: string): Layer[] {
  const out = path.join(path.dirname(config), 'report.json');
  const r = runCli(['run', config, '--provider', 'cpu', '--out', out, '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(fs.readFileSync(out, 'utf8')).comparisons[0].layers;
}

describe('bench workload generator', () => {
  const dir = path.join(tmp, 'f32');
  let w: Awaited<ReturnType<typeof ensureWorkload>>;

  test('writes a Llama ONNX model whose resid_post hooks the engine finds, with weights in external data', async () => {
    w = await ensureWorkload(tiny(), dir, () => {}, 0);
    assert.equal(w.reused, false);
    const onnxPath = path.join(dir, 'base', 'model.onnx');
    assert.ok(fs.statSync(path.join(dir, 'base', 'model.onnx_data')).size > fs.statSync(onnxPath).size);
    const model = readOnnxModel(onnxPath);
    const post = discoverHooks(model, onnxPath, [0, 1], 'resid_post', new Map());
    assert.equal(post.blockCount, 2);
    assert.deepEqual([...post.tensors.values()], ['/model/layers.0/Add_1_output_0', '/model/layers.1/Add_1_output_0']);
    const pre = discoverHooks(model, onnxPath, [0], 'resid_pre', new Map());
    assert.equal(pre.tensors.get(0), '/model/embed_tokens/Gather_output_0');
    const sae = readSaeInfo(path.join(dir, 'saes', 'blocks.1.hook_resid_post'));
    assert.deepEqual([sae.format, sae.architecture, sae.dIn, sae.dSae, sae.hookLayer], ['saelens', 'standard', 64, 256, 1]);
  });

  test('the engine runs on it: finite metrics, the fine-tune changes only the later layer, SAEs sparse', () => {
    const layers = runEngine(w.config);
    assert.deepEqual(
      layers.map((l) => l.layer),
      [0, 1],
    );
    for (const l of layers)
      for (const v of [l.dense_cosine, l.feature_overlap, l.l1_divergence, l.l0_base, l.explained_variance_base])
        assert.ok(Number.isFinite(v));
    // noise is added to layers >= layers/2 = 1 only, so layer 0's stream is identical
    assert.ok(Math.abs(layers[0].dense_cosine - 1) < 1e-6, String(layers[0].dense_cosine));
    assert.ok(layers[1].dense_cosine < 0.999, String(layers[1].dense_cosine));
    // calibrated to fire on ~0.8% of tokens: about 2 of 256 latents
    for (const l of layers) assert.ok(l.l0_base > 0.5 && l.l0_base < 10, `L0 ${l.l0_base}`);
  });

  test('a second call with the same sizes reuses the folder; another folder gets the same bytes', async () => {
    const again = await ensureWorkload(tiny(), dir, () => {}, 0);
    assert.equal(again.reused, true);
    const other = path.join(tmp, 'f32-again');
    await ensureWorkload(tiny(), other, () => {}, 0);
    for (const f of [
      'base/model.onnx',
      'base/model.onnx_data',
      'sft/model.onnx_data',
      'saes/blocks.0.hook_resid_post/sae_weights.safetensors',
      'eval/prompts.jsonl',
    ]) {
      assert.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(other, f))), f);
    }
    assert.ok(!fs.readFileSync(path.join(dir, 'base/model.onnx_data')).equals(fs.readFileSync(path.join(dir, 'sft/model.onnx_data'))));
  });

  test('--fine-tunes 2: a second fine-tune with noise of its own, the first as in the one-fine-tune workload; one run compares both', async () => {
    const two = await ensureWorkload(tiny({ 'fine-tunes': '2' }), path.join(tmp, 'two'), () => {}, 0);
    const bytes = (d: string, f: string) => fs.readFileSync(path.join(d, f));
    assert.ok(
      bytes(two.dir, 'sft/model.onnx_data').equals(bytes(dir, 'sft/model.onnx_data')),
      'sft is the same as in the one-fine-tune workload',
    );
    assert.ok(!bytes(two.dir, 'sft2/model.onnx_data').equals(bytes(two.dir, 'sft/model.onnx_data')));
    assert.match(fs.readFileSync(two.config, 'utf8'), /sft: \[\{ path: "sft" \}, \{ path: "sft2" \}\]/);
    const out = path.join(two.dir, 'report.json');
    const r = runCli(['run', two.config, '--provider', 'cpu', '--out', out, '--quiet']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(fs.readFileSync(out, 'utf8'));
    assert.deepEqual(
      report.comparisons.map((c: { sft: { name: string } }) => c.sft.name),
      ['sft', 'sft2'],
    );
    // the same numbers as the one-fine-tune run (activation_histograms cover the features listed by any comparison)
    const withoutHistograms = (layers: Record<string, unknown>[]) => layers.map(({ activation_histograms: _histograms, ...rest }) => rest);
    assert.deepEqual(
      withoutHistograms(report.comparisons[0].layers),
      withoutHistograms(runEngine(w.config) as unknown as Record<string, unknown>[]),
    );
  });

  test('float16 weights and SAEs run through the engine too', async () => {
    const w16 = await ensureWorkload(tiny({ 'sae-layers': '1' }, true), path.join(tmp, 'f16'));
    assert.equal(readSaeInfo(path.join(w16.dir, 'saes', 'blocks.1.hook_resid_post')).dtype, 'float16');
    const [l] = runEngine(w16.config);
    assert.ok(Number.isFinite(l.dense_cosine) && l.dense_cosine < 0.999 && l.l0_base > 0);
  });

  test('sizes that cannot be built are refused, naming the flag', () => {
    assert.throws(() => tiny({ 'sae-layers': '2' }), /--sae-layers 2: the model has layers 0-1/);
    assert.throws(() => tiny({ hidden: '0' }), /--hidden must be a positive integer/);
  });
});
