/**
 * saprmarks/dictionary_learning SAEs (ae.pt + config.json), read from the torch.save archives that library writes
 * (test/fixtures/dictionary-learning, built by dictionary_learning_fixtures.py) and checked against what its own
 * classes compute (expected.safetensors).
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import type { SaeDiffError } from '../src/engine/core/errors';
import { readTorchCheckpoint, stateDictIndex } from '../src/engine/io/torchCheckpoint';
import { loadSae, readSaeInfo } from '../src/engine/sae/loadSae';
import { readSafetensors } from '../src/engine/sae/safetensors';
import { runLayer3 } from './helpers/cli';
import { REPO_ROOT, scratchDir } from './helpers/paths';
import { assertLikeLibrary } from './helpers/saeDirect';
import { writeSafetensors } from './helpers/safetensors';
import { LAYER_SCALARS } from './helpers/golden';

const DL = path.join(REPO_ROOT, 'test', 'fixtures', 'dictionary-learning');
const dir = scratchDir('dictionary-learning');
const expected = readSafetensors(path.join(DL, 'expected.safetensors'));
const x = expected.get('x')!.data;
const n = expected.get('x')!.shape[0];

/** Each class's folder, the architecture it runs as, and whether its latents are each latent's own (not TopK). */
const CLASSES: [string, string][] = [
  ['AutoEncoder', 'standard'],
  ['AutoEncoderNew', 'standard'],
  ['GatedAutoEncoder', 'gated'],
  ['JumpReluAutoEncoder', 'jumprelu'],
  ['AutoEncoderTopK', 'topk'],
  ['BatchTopKSAE', 'jumprelu'],
  ['BatchTopKSAE-bf16', 'jumprelu'],
  ['MatryoshkaBatchTopKSAE', 'jumprelu'],
];

for (const [folder, architecture] of CLASSES) {
  test(`dictionary_learning ${folder}: latents and reconstructions equal the library's own encode and decode`, async () => {
    const sae = loadSae(path.join(DL, folder));
    assert.deepEqual([sae.format, sae.architecture, sae.dIn, sae.dSae], ['dictionary_learning', architecture, 128, 64]);
    assert.deepEqual([sae.hookLayer, sae.hookPoint, sae.modelName], [3, 'resid_post', 'tiny-llama/base']);
    assert.equal(
      sae.sourceKind,
      folder === 'AutoEncoder'
        ? 'AutoEncoder, decoder normalised'
        : /BatchTopK/.test(folder)
          ? `${folder.replace('-bf16', '')}, threshold ${folder.endsWith('bf16') ? 0.400391 : 0.4}`
          : folder,
    );
    await assertLikeLibrary(sae, x, n, {
      latents: expected.get(`${folder}.latents`)!.data,
      reconstruction: expected.get(`${folder}.reconstruction`)!.data,
    });
  });
}

test('dictionary_learning: AutoEncoder is read with its decoder normalised, as from_pretrained does by default', () => {
  const sae = loadSae(path.join(DL, 'AutoEncoder'));
  for (let f = 0; f < sae.dSae; f++) {
    let s = 0;
    for (let j = 0; j < sae.dIn; j++) s += sae.W_dec[f * sae.dIn + j] ** 2;
    assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-5, `decoder row ${f} has norm ${Math.sqrt(s)}`);
  }
});

test('torch.save archives: tensors at a storage offset, bfloat16 and int buffers are located as torch lays them out', () => {
  const ckpt = readTorchCheckpoint(path.join(DL, 'BatchTopKSAE', 'ae.pt'));
  const index = stateDictIndex(ckpt)!;
  assert.deepEqual([...index.tensors.keys()].sort(), ['b_dec', 'decoder.weight', 'encoder.bias', 'encoder.weight', 'k', 'threshold']);
  assert.deepEqual(
    ['k', 'threshold', 'encoder.weight'].map((k) => [index.tensors.get(k)!.dtype, index.tensors.get(k)!.shape]),
    [
      ['I32', []],
      ['F32', []],
      ['F32', [64, 128]],
    ],
  );
  // encoder.bias is a view 7 elements into a longer storage
  const bias = (ckpt.root as Map<string, any>).get('encoder.bias');
  assert.equal(bias.storageOffset, 7);
  const bf16 = readSaeInfo(path.join(DL, 'BatchTopKSAE-bf16'));
  assert.equal(bf16.dtype, 'BF16');
});

test('dictionary_learning: the hook comes from trainer.submodule_name, the folder name or trainer.layer; buffer.io in reads the block input', () => {
  const copy = (name: string, edit: (cfg: any) => void, parent = '.'): string => {
    const folder = path.join(dir, parent, name);
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(path.join(DL, 'BatchTopKSAE', 'ae.pt'), path.join(folder, 'ae.pt'));
    const cfg = JSON.parse(fs.readFileSync(path.join(DL, 'BatchTopKSAE', 'config.json'), 'utf8'));
    edit(cfg);
    fs.writeFileSync(path.join(folder, 'config.json'), JSON.stringify(cfg));
    return folder;
  };
  const hook = (folder: string) => {
    const i = readSaeInfo(folder);
    return [i.hookLayer, i.hookPoint, i.hookName];
  };
  assert.deepEqual(hook(path.join(DL, 'BatchTopKSAE')), [3, 'resid_post', 'resid_post_layer_3']);
  // the Pythia-70m dictionaries of Sparse Feature Circuits: the folder names the submodule
  const mlp = copy(
    '10_32768',
    (c) => {
      delete c.trainer.submodule_name;
      c.trainer.layer = 1;
    },
    'mlp_out_layer1',
  );
  assert.deepEqual(hook(mlp), [1, 'mlp_out', 'mlp_out_layer1']);
  const byLayer = copy('by-layer', (c) => {
    delete c.trainer.submodule_name;
    c.trainer.layer = 2;
  });
  assert.deepEqual(hook(byLayer), [2, 'resid_post', 'model.layers.2']);
  const input = copy('input', (c) => {
    c.buffer.io = 'in';
  });
  assert.deepEqual(hook(input), [3, 'resid_pre', 'resid_post_layer_3 (input)']);
  const refusals: [string, (c: any) => void, RegExp][] = [
    ['mismatch', (c) => (c.trainer.layer = 4), /trainer\.submodule_name 'resid_post_layer_3' says layer 3, but trainer\.layer is 4/],
    ['transcoder', (c) => (c.buffer.io = 'in_and_out'), /buffer\.io is "in_and_out": a transcoder/],
    [
      'mlp-in',
      (c) => ((c.buffer.io = 'in'), (c.trainer.submodule_name = 'mlp_layer_3')),
      /reads the input of mlp_layer_3 \(buffer\.io: in\)/,
    ],
    ['embedding-submodule', (c) => (c.trainer.submodule_name = 'embed'), /reads the embeddings/],
    [
      'unknown-class',
      (c) => (c.trainer.dict_class = 'CrossCoder'),
      /Dictionary class "CrossCoder" \(field trainer\.dict_class\) is not supported/,
    ],
    [
      'wrong-class',
      (c) => (c.trainer.dict_class = 'GatedAutoEncoder'),
      /The GatedAutoEncoder state dict has no decoder_bias, r_mag, gate_bias, mag_bias/,
    ],
    ['wrong-size', (c) => (c.trainer.dict_size = 4096), /trainer\.dict_size is 4096, but ae\.pt's encoder has 64/],
  ];
  for (const [name, edit, message] of refusals) {
    assert.throws(() => readSaeInfo(copy(name, edit)), message, name);
  }
});

test('torch.save archives the engine refuses: a training backup, the legacy format, a strided view, a pickled module', () => {
  const refusals = path.join(DL, 'refusals');
  const asSae = (file: string): string => {
    const folder = path.join(dir, `refused-${path.basename(file, '.pt')}`);
    fs.mkdirSync(folder, { recursive: true });
    fs.copyFileSync(file, path.join(folder, 'ae.pt'));
    fs.copyFileSync(path.join(DL, 'AutoEncoder', 'config.json'), path.join(folder, 'config.json'));
    return folder;
  };
  assert.throws(() => readSaeInfo(asSae(path.join(refusals, 'backup.pt'))), /ae\.pt is a training backup \(keys step, ae, optimizer\)/);
  assert.throws(() => readSaeInfo(asSae(path.join(refusals, 'legacy.pt'))), /torch\.save's legacy format/);
  assert.throws(() => {
    const ckpt = readTorchCheckpoint(path.join(refusals, 'strided.pt'));
    stateDictIndex(ckpt);
  }, /Tensor 'encoder\.weight' is a strided view \(shape \[4,4\], stride \[8,1\]\)/);
  assert.throws(
    () => readTorchCheckpoint(path.join(refusals, 'module.pt')),
    /names torch\.nn\.modules\.linear\.Linear, which a weights-only load does not build/,
  );
  // a truncated archive names the file
  const cut = path.join(dir, 'cut.pt');
  const whole = fs.readFileSync(path.join(DL, 'AutoEncoder', 'ae.pt'));
  fs.writeFileSync(cut, whole.subarray(0, whole.length - 200));
  assert.throws(
    () => readTorchCheckpoint(cut),
    (e: SaeDiffError) =>
      /Not a readable torch\.save archive: no end-of-central-directory record/.test(e.message) && e.location?.file === cut,
  );
});

test('a run with a dictionary_learning BatchTopKSAE equals the run with the same weights as a SAELens JumpReLU', () => {
  const dl = path.join(DL, 'resid_post_layer_3', 'trainer_0');
  const sae = loadSae(dl);
  assert.deepEqual([sae.architecture, sae.dSae, sae.threshold![0], sae.threshold![1023]], ['jumprelu', 1024, 0.5, 0.5]);
  const twin = path.join(dir, 'saelens-twin');
  fs.mkdirSync(twin, { recursive: true });
  const cfg = {
    architecture: 'jumprelu',
    d_in: 128,
    d_sae: 1024,
    dtype: 'float32',
    hook_name: 'blocks.3.hook_resid_post',
    apply_b_dec_to_input: true,
  };
  fs.writeFileSync(path.join(twin, 'cfg.json'), JSON.stringify(cfg));
  writeSafetensors(path.join(twin, 'sae_weights.safetensors'), {
    W_enc: { shape: [128, 1024], data: sae.W_enc },
    b_enc: { shape: [1024], data: sae.b_enc },
    W_dec: { shape: [1024, 128], data: sae.W_dec },
    b_dec: { shape: [128], data: sae.b_dec },
    threshold: { shape: [1024], data: sae.threshold! },
  });
  const dlRun = runLayer3(dir, 'dictionary-learning', dl);
  const a = dlRun.report.comparisons[0].layers[0];
  const b = runLayer3(dir, 'saelens', twin).report.comparisons[0].layers[0];
  for (const key of LAYER_SCALARS) assert.ok(Math.abs(a[key] - b[key]) <= 1e-6, `${key}: ${a[key]} vs ${b[key]}`);
  assert.deepEqual(
    a.shifted_features.map((f) => [f.id, f.category]),
    b.shifted_features.map((f) => [f.id, f.category]),
  );
  assert.ok(a.explained_variance_base > 0.5 && a.shifted_features.length > 0, 'the SAE reconstructs the stream, and features shift');
  // the run says what the SAE is in dictionary_learning's terms
  assert.match(dlRun.log, /SAE layer 3: dictionary_learning jumprelu \(BatchTopKSAE, threshold 0\.5\)/);
});
