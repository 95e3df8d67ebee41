import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { selfCheck } from '../src/engine/metrics/selfCheck';
import { checkSaeFits, guaranteedMaxL0, loadSae, readSaeInfo } from '../src/engine/sae/loadSae';
import { latentSubset } from '../src/engine/sae/saeGraph';
import { FIXTURES, scratchDir } from './helpers/paths';
import { encodeWithOrt, layer3Activations, maxAbsDiff } from './helpers/saeDirect';
import { npy, writeZip } from './helpers/npz';
import { writeSafetensors } from './helpers/safetensors';

/**
 * Issue 11's findings: configs written as each library version writes them, over the fixture's layer-3
 * weights (only the cfg is rewritten), each read as meant or refused naming the field.
 */
const dir = scratchDir('sae-configs');
const variants = path.join(FIXTURES, 'saes-variants');
const layer3 = path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post');
const where = { file: 'cfg.yaml' };

/** A folder holding `cfg` as cfg.json (or config.json) beside a copy of `weightsFrom`'s weights. */
function folderWith(name: string, weightsFrom: string, files: Record<string, unknown>): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  for (const f of fs.readdirSync(weightsFrom)) if (!f.endsWith('.json')) fs.copyFileSync(path.join(weightsFrom, f), path.join(folder, f));
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(folder, f), JSON.stringify(v));
  return folder;
}

/** SAELens 4.x cfg.json of a TopK SAE (its own save_model output: architecture standard, topk activation). */
const saelens4TopK = {
  architecture: 'standard',
  d_in: 128,
  d_sae: 1024,
  activation_fn_str: 'topk',
  activation_fn_kwargs: { k: 16 },
  apply_b_dec_to_input: true,
  finetuning_scaling_factor: false,
  context_size: 128,
  model_name: 'tiny-llama/base',
  hook_name: 'blocks.3.hook_resid_post',
  hook_layer: 3,
  hook_head_index: null,
  prepend_bos: true,
  dataset_path: 'x',
  dataset_trust_remote_code: false,
  normalize_activations: 'none',
  dtype: 'float32',
  device: 'cpu',
  sae_lens_training_version: '4.4.1',
  activation_fn: 'topk',
  model_from_pretrained_kwargs: {},
  seqpos_slice: [null],
  neuronpedia_id: null,
};

test('finding 1: a SAELens 4 TopK save (architecture standard, activation_fn_str topk) runs as TopK: L0 <= k on every token', async () => {
  const folder = folderWith('saelens4-topk', path.join(variants, 'topk'), { 'cfg.json': saelens4TopK });
  const sae = loadSae(folder);
  assert.deepEqual([sae.architecture, sae.kSae, guaranteedMaxL0(sae)], ['topk', 16, 16]);
  const { data, n } = await layer3Activations();
  const z = await encodeWithOrt(sae, data, n);
  for (let t = 0; t < n; t++) assert.ok(z.subarray(t * 1024, (t + 1) * 1024).filter((v) => v > 0).length <= 16, `token ${t}`);
  assert.equal(
    maxAbsDiff(z, await encodeWithOrt(loadSae(path.join(variants, 'topk')), data, n)),
    0,
    'the same latents as the SAELens 6 topk save',
  );
  const noK = folderWith('saelens4-topk-nok', path.join(variants, 'topk'), { 'cfg.json': { ...saelens4TopK, activation_fn_kwargs: {} } });
  assert.throws(() => readSaeInfo(noK), /activation_fn_str is topk but activation_fn_kwargs\.k is missing/);
});

const v6 = (hook: string, extra: Record<string, unknown> = {}) => ({
  architecture: 'standard',
  d_in: 128,
  d_sae: 1024,
  dtype: 'float32',
  device: 'cpu',
  apply_b_dec_to_input: true,
  normalize_activations: 'none',
  reshape_activations: 'none',
  metadata: {
    sae_lens_version: '6.5.0',
    sae_lens_training_version: '6.5.0',
    model_name: 'tiny-llama/base',
    hook_name: hook,
    hook_head_index: null,
    prepend_bos: true,
    context_size: 128,
  },
  ...extra,
});

test('findings 2-3: SAELens 6 metadata.hook_name gives the hook point and layer; a contradicting layers.hook_point or layer is refused', () => {
  const mid = readSaeInfo(folderWith('v6-mid', layer3, { 'cfg.json': v6('blocks.3.hook_resid_mid') }));
  assert.deepEqual([mid.hookPoint, mid.hookLayer], ['resid_mid', 3]);
  assert.throws(
    () => checkSaeFits(mid, 3, 128, true, where, 'resid_post'),
    /reads resid_mid \(hook blocks\.3\.hook_resid_mid\), but layers\.hook_point is resid_post/,
  );
  assert.doesNotThrow(() => checkSaeFits(mid, 3, 128, true, where, 'resid_mid'));
  assert.throws(() => checkSaeFits(mid, 2, 128, true, where, 'resid_mid'), /was trained on layer 3/);
  assert.equal(readSaeInfo(folderWith('v6-mlp', layer3, { 'cfg.json': v6('blocks.3.hook_mlp_out') })).hookPoint, 'mlp_out');
  assert.equal(readSaeInfo(folderWith('v6-attn', layer3, { 'cfg.json': v6('blocks.3.hook_attn_out') })).hookPoint, 'attn_out');
  // hook_z: the heads' outputs before W_O, flattened (test/attnZ.test.ts hooks them)
  const z = readSaeInfo(folderWith('v6-z', layer3, { 'cfg.json': v6('blocks.3.attn.hook_z', { reshape_activations: 'hook_z' }) }));
  assert.deepEqual([z.hookPoint, z.hookLayer], ['attn_z', 3]);
  assert.throws(
    () => readSaeInfo(folderWith('v6-embed', layer3, { 'cfg.json': v6('hook_embed') })),
    /hook_name 'hook_embed' cannot be hooked: it reads the embeddings/,
  );
  assert.throws(
    () => readSaeInfo(folderWith('v6-transcoder', layer3, { 'cfg.json': v6('blocks.3.hook_resid_post', { architecture: 'transcoder' }) })),
    /architecture 'transcoder' \(field architecture\) is not supported: a transcoder/,
  );
});

test('findings 2-3: SAELens 2 hook_point / hook_point_layer are read (renamed as handle_pre_6_0_config does)', () => {
  const cfg = {
    d_in: 128,
    d_sae: 1024,
    hook_point: 'blocks.3.hook_resid_pre',
    hook_point_layer: 3,
    hook_point_head_index: null,
    dtype: 'torch.float32',
    model_name: 'tiny-llama/base',
    lp_norm: 1,
    l1_coefficient: 0.001,
  };
  const info = readSaeInfo(folderWith('saelens2', layer3, { 'cfg.json': cfg }));
  assert.deepEqual([info.hookPoint, info.hookLayer, info.architecture, info.applyBDecToInput], ['resid_pre', 3, 'standard', true]);
  assert.throws(() => checkSaeFits(info, 4, 128, true, where, 'resid_pre'), /was trained on layer 3/);
  assert.throws(
    () => readSaeInfo(folderWith('saelens2-head', layer3, { 'cfg.json': { ...cfg, hook_point_head_index: 2 } })),
    /field hook_head_index 2/,
  );
});

test('findings 2-3: sparsify folder names and Gemma Scope paths / config.json give the hook; transcoders, att and embeddings are refused', () => {
  const sp = (name: string, cfg: Record<string, unknown> = {}) =>
    folderWith(name, path.join(variants, 'sparsify'), {
      'cfg.json': {
        activation: 'topk',
        expansion_factor: 8,
        normalize_decoder: true,
        num_latents: 1024,
        k: 16,
        multi_topk: false,
        skip_connection: false,
        transcode: false,
        d_in: 128,
        ...cfg,
      },
    });
  const mlp = readSaeInfo(sp('layers.3.mlp'));
  assert.deepEqual([mlp.hookPoint, mlp.hookLayer, mlp.architecture, mlp.kSae], ['mlp_out', 3, 'topk', 16]);
  const post = readSaeInfo(sp('layers.5'));
  assert.deepEqual([post.hookPoint, post.hookLayer], ['resid_post', 5]);
  const gs = (repo: string) => {
    const folder = path.join(dir, repo, 'layer_3', 'width_1k', 'average_l0_20');
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(path.join(variants, 'gemmascope', 'params.npz'), path.join(folder, 'params.npz'));
    return folder;
  };
  const res = readSaeInfo(gs('gemma-scope-2b-pt-res'));
  assert.deepEqual([res.hookPoint, res.hookLayer, res.declaredL0], ['resid_post', 3, 20]);
  assert.equal(readSaeInfo(gs('gemma-scope-2b-pt-mlp-canonical')).hookPoint, 'mlp_out');
  const att = readSaeInfo(gs('gemma-scope-2b-pt-att'));
  assert.deepEqual([att.hookPoint, att.hookLayer, att.hookName], ['attn_z', 3, 'blocks.3.attn.hook_z']);
  assert.throws(() => readSaeInfo(gs('gemma-scope-2b-pt-transcoders')), /Gemma Scope transcoder/);
  const gs2 = (name: string, config: unknown) => {
    const folder = path.join(dir, 'gs2', name);
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(path.join(variants, 'gemmascope', 'params.npz'), path.join(folder, 'params.npz'));
    fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify(config));
    return folder;
  };
  const g2 = readSaeInfo(
    gs2('layer_3_width_1k_l0_small', {
      hf_hook_point_in: 'model.layers.3.output',
      hf_hook_point_out: 'model.layers.3.output',
      width: 1024,
      model_name: 'google/gemma-3-1b-pt',
      architecture: 'jump_relu',
      l0: 20,
      affine_connection: false,
      type: 'sae',
    }),
  );
  assert.deepEqual([g2.hookPoint, g2.hookLayer, g2.declaredL0], ['resid_post', 3, 20]);
  // Gemma Scope 2's MLP SAEs read what the MLP adds: the post-feedforward norm's output
  const mlpOut = readSaeInfo(
    gs2('layer_3_mlp', {
      hf_hook_point_in: 'model.layers.3.post_feedforward_layernorm.output',
      hf_hook_point_out: 'model.layers.3.post_feedforward_layernorm.output',
      width: 1024,
      architecture: 'jump_relu',
      type: 'sae',
    }),
  );
  assert.deepEqual([mlpOut.hookPoint, mlpOut.hookLayer], ['mlp_out', 3]);
  // the norm in front of the MLP is not what a block adds
  assert.throws(
    () => readSaeInfo(gs2('mlp_in', { hf_hook_point_in: 'model.layers.3.pre_feedforward_layernorm.output', width: 1024, type: 'sae' })),
    /pre_feedforward_layernorm/,
  );
  assert.throws(() => checkSaeFits(g2, 2, 128, true, where, 'resid_post'), /was trained on layer 3/);
  assert.throws(
    () =>
      readSaeInfo(
        gs2('tc', {
          hf_hook_point_in: 'model.layers.3.pre_feedforward_layernorm.output',
          hf_hook_point_out: 'model.layers.3.post_feedforward_layernorm.output',
          type: 'transcoder',
        }),
      ),
    /type 'transcoder' \(field type\)/,
  );
  assert.throws(
    () => readSaeInfo(gs2('affine', { hf_hook_point_in: 'model.layers.3.output', affine_connection: true })),
    /field affine_connection/,
  );
  assert.throws(() => readSaeInfo(gs2('null', null)), /config is null/);
});

test('finding 4: finetuning_scaling_factor + scaling_factor tensor is applied exactly (folded into W_dec); a contradicting cfg is refused', () => {
  const base = loadSae(layer3);
  const m = base.dSae,
    d = base.dIn;
  const scale = Float32Array.from({ length: m }, (_, i) => 0.75 + (i % 5) * 0.1);
  const write = (name: string, finetuning: boolean) => {
    const cfg = JSON.parse(fs.readFileSync(path.join(layer3, 'cfg.json'), 'utf8'));
    cfg.finetuning_scaling_factor = finetuning; // SAELens 2.1-3.x writes the bool and saves the tensor
    const folder = folderWith(name, layer3, { 'cfg.json': cfg });
    writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
      W_enc: { shape: [d, m], data: base.W_enc },
      b_enc: { shape: [m], data: base.b_enc },
      W_dec: { shape: [m, d], data: base.W_dec },
      b_dec: { shape: [d], data: base.b_dec },
      scaling_factor: { shape: [m], data: scale },
    });
    return folder;
  };
  const folder = write('finetuning-scaling', true);
  const sae = loadSae(folder);
  // the feature details read only their latents, scaled the same way
  assert.deepEqual(loadSae(folder, 'auto', [1023, 7, 0]).W_dec, latentSubset(sae, [1023, 7, 0]).W_dec);
  for (const [i, j] of [
    [0, 0],
    [7, 5],
    [1023, 127],
  ])
    assert.equal(sae.W_dec[i * d + j], Math.fround(base.W_dec[i * d + j] * scale[i]));
  assert.throws(
    () => loadSae(write('finetuning-scaling-false', false)),
    /scaling_factor tensor that is not all ones, but finetuning_scaling_factor is false/,
  );
});

test('finding 4: rescale_acts_by_decoder_norm (SAELens TopK) is folded exactly; on another architecture it is refused', () => {
  const topk = loadSae(path.join(variants, 'topk'));
  const cfg = JSON.parse(fs.readFileSync(path.join(variants, 'topk', 'cfg.json'), 'utf8'));
  const sae = loadSae(folderWith('rescale', path.join(variants, 'topk'), { 'cfg.json': { ...cfg, rescale_acts_by_decoder_norm: true } }));
  const d = topk.dIn,
    m = topk.dSae;
  const norm = (i: number) => Math.sqrt(Array.from(topk.W_dec.subarray(i * d, (i + 1) * d)).reduce((s, v) => s + v * v, 0));
  for (const i of [0, 9, 1023]) {
    assert.ok(Math.abs(sae.b_enc[i] - topk.b_enc[i] * norm(i)) <= 1e-6 * Math.abs(topk.b_enc[i] * norm(i)) + 1e-9);
    assert.ok(Math.abs(sae.W_enc[3 * m + i] - topk.W_enc[3 * m + i] * norm(i)) <= 1e-6);
    assert.ok(Math.abs(sae.W_dec[i * d + 4] - topk.W_dec[i * d + 4] / norm(i)) <= 1e-6);
  }
  assert.throws(
    () =>
      readSaeInfo(
        folderWith('rescale-standard', layer3, {
          'cfg.json': { ...JSON.parse(fs.readFileSync(path.join(layer3, 'cfg.json'), 'utf8')), rescale_acts_by_decoder_norm: true },
        }),
      ),
    /rescale_acts_by_decoder_norm is set for a standard SAE/,
  );
});

test('finding 4: sparsify skip_connection / W_skip, transcode, groupmax and signed are refused naming the field', () => {
  const base = JSON.parse(fs.readFileSync(path.join(variants, 'sparsify', 'cfg.json'), 'utf8'));
  const sp = (name: string, edit: Record<string, unknown>) =>
    folderWith(name, path.join(variants, 'sparsify'), { 'cfg.json': { ...base, ...edit } });
  assert.throws(() => readSaeInfo(sp('skip', { skip_connection: true })), /field skip_connection \/ tensor W_skip/);
  assert.throws(() => readSaeInfo(sp('transcode', { transcode: true })), /field transcode: true/);
  assert.throws(() => readSaeInfo(sp('groupmax', { activation: 'groupmax' })), /activation 'groupmax' \(field activation\)/);
  assert.throws(() => readSaeInfo(sp('signed', { signed: true })), /field signed: true/);
});

test('finding 5: normalize_activations false (SAELens 1.5-3.x bool) means none; true without a factor names the bool', () => {
  const cfg = JSON.parse(fs.readFileSync(path.join(layer3, 'cfg.json'), 'utf8'));
  assert.equal(
    readSaeInfo(
      folderWith('norm-false', layer3, { 'cfg.json': { ...cfg, normalize_activations: false, sae_lens_training_version: '3.0.0' } }),
    ).normalization,
    'none',
  );
  assert.throws(
    () => readSaeInfo(folderWith('norm-true', layer3, { 'cfg.json': { ...cfg, normalize_activations: true } })),
    /normalize_activations is true \(SAELens <= 3: expected_average_only_in\) but the SAE gives no scaling factor/,
  );
});

test('finding 5: sparsify num_latents 0 means d_in x expansion_factor; a width the weights do not have is refused', () => {
  const base = JSON.parse(fs.readFileSync(path.join(variants, 'sparsify', 'cfg.json'), 'utf8'));
  const zero = loadSae(
    folderWith('latents0', path.join(variants, 'sparsify'), { 'cfg.json': { ...base, num_latents: 0, expansion_factor: 8 } }),
  );
  assert.equal(zero.dSae, 1024);
  assert.throws(
    () =>
      loadSae(folderWith('latents0-x4', path.join(variants, 'sparsify'), { 'cfg.json': { ...base, num_latents: 0, expansion_factor: 4 } })),
    /'encoder\.weight' has shape \[1024,128\], expected \[512,128\]/,
  );
});

test('readers: cfg.json null, a transposed tensor, negative data_offsets and NaN weights are refused naming the field or tensor', () => {
  assert.throws(() => readSaeInfo(folderWith('cfg-null', layer3, { 'cfg.json': null })), /config is null/);
  const base = loadSae(layer3);
  const m = base.dSae,
    d = base.dIn;
  const cfg = JSON.parse(fs.readFileSync(path.join(layer3, 'cfg.json'), 'utf8'));
  const withWeights = (name: string, wEnc: { shape: number[]; data: Float32Array }, wDec = base.W_dec) => {
    const folder = folderWith(name, layer3, { 'cfg.json': cfg });
    writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
      W_enc: wEnc,
      b_enc: { shape: [m], data: base.b_enc },
      W_dec: { shape: [m, d], data: wDec },
      b_dec: { shape: [d], data: base.b_dec },
    });
    return folder;
  };
  assert.throws(
    () => loadSae(withWeights('transposed', { shape: [m, d], data: base.W_enc })),
    /'W_enc' has shape \[1024,128\], expected \[128,1024\]/,
  );
  const nan = Float32Array.from(base.W_dec);
  nan[77] = NaN;
  assert.throws(() => loadSae(withWeights('nan', { shape: [d, m], data: base.W_enc }, nan)), /Tensor 'W_dec' holds NaN \(element 77\)/);
  const neg = withWeights('negative-offsets', { shape: [d, m], data: base.W_enc });
  const file = path.join(neg, 'sae_weights.safetensors');
  const buf = fs.readFileSync(file);
  const len = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + len));
  header.b_dec.data_offsets = [-512, header.b_dec.data_offsets[1] - header.b_dec.data_offsets[0] - 512];
  const json = Buffer.from(JSON.stringify(header).padEnd(len, ' '));
  assert.equal(json.length, len);
  fs.writeFileSync(file, Buffer.concat([buf.subarray(0, 8), json, buf.subarray(8 + len)]));
  assert.throws(() => readSaeInfo(neg), /tensor 'b_dec' has data_offsets \[-512,.*not two non-negative integers/);
});

test('npz: a zip bomb stops at the size the array needs, a bad offset is a clear error, and validation reads headers only', () => {
  const gsFolder = (name: string) => {
    const f = path.join(dir, 'npz', name);
    fs.mkdirSync(f, { recursive: true });
    return path.join(f, 'params.npz');
  };
  // 64 KB of deflate that inflates to 64 MB, declared as a 2x2 array
  const bombFile = gsFolder('bomb');
  writeZip(bombFile, [
    {
      name: 'W_enc.npy',
      data: Buffer.concat([npy([2, 2], new Float32Array(4)), Buffer.alloc(64 * 1024 * 1024)]),
      deflate: true,
      declaredSize: 144,
    },
  ]);
  const before = process.memoryUsage().rss;
  assert.throws(
    () => loadSae(path.dirname(bombFile), 'gemmascope'),
    /Invalid \.npz file: .*W_enc.npy does not inflate within the size its header declares|claims/,
  );
  assert.ok(process.memoryUsage().rss - before < 32 * 1024 * 1024, 'the bomb was not inflated');
  const badOffset = gsFolder('bad-offset');
  writeZip(badOffset, [{ name: 'W_enc.npy', data: npy([2, 2], new Float32Array(4)), badOffset: true }]);
  assert.throws(
    () => readSaeInfo(path.dirname(badOffset), 'gemmascope'),
    /Invalid \.npz file: entry W_enc\.npy points at offset 7, where no zip entry starts/,
  );
  // arrays whose bodies are short: headers read fine (validation), the weights are refused (run)
  const short = gsFolder('short');
  const a = (shape: number[]) => ({ data: npy(shape, new Float32Array(shape.reduce((x, y) => x * y, 1)), 4) });
  writeZip(short, [
    { name: 'W_enc.npy', ...a([8, 16]) },
    { name: 'W_dec.npy', ...a([16, 8]) },
    { name: 'b_enc.npy', ...a([16]) },
    { name: 'b_dec.npy', ...a([8]) },
    { name: 'threshold.npy', ...a([16]) },
  ]);
  assert.deepEqual([readSaeInfo(path.dirname(short)).dIn, readSaeInfo(path.dirname(short)).dSae], [8, 16]);
  assert.throws(() => loadSae(path.dirname(short)), /entry W_enc\.npy holds 4 bytes, not the 512 its shape \[8,16\] needs/);
});

test('self-check: a TopK SAE whose base L0 exceeds k fails (what the architecture guarantees), within k it passes', () => {
  const declared = { maxL0: 20 };
  const bad = selfCheck(3, 'resid_post', 25.8, 0.9, declared, [], 3);
  assert.equal(bad.ok, false);
  assert.match(bad.messages[0], /Layer 3: base L0 is 25\.8, above the 20 latents per token the SAE's architecture allows \(TopK k\)/);
  assert.equal(selfCheck(3, 'resid_post', 19.7, 0.9, declared, [], 3).ok, true);
});
