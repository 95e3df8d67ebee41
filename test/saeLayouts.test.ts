import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { ARCHITECTURES } from '../src/engine/sae/architectures';
import { loadSae, type SaeWeights } from '../src/engine/sae/loadSae';
import { latentSubset } from '../src/engine/sae/saeGraph';
import { FIXTURES, scratchDir } from './helpers/paths';
import { encodeDirect, encodeWithOrt, layer3Activations, maxAbsDiff } from './helpers/saeDirect';
import { writeSafetensors } from './helpers/safetensors';

const dir = scratchDir('sae-layouts');
const layer3 = path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post');
const standard = () => loadSae(layer3);

/** The layer-3 SAE with cfg.json edited (weights shared). */
function variant(name: string, edit: (cfg: any) => void): string {
  const folder = path.join(dir, name);
  fs.mkdirSync(folder, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(layer3, 'cfg.json'), 'utf8'));
  edit(cfg);
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify(cfg));
  fs.copyFileSync(path.join(layer3, 'sae_weights.safetensors'), path.join(folder, 'sae_weights.safetensors'));
  return folder;
}

async function expectEncodingsEqualDirect(folder: string): Promise<void> {
  const sae = loadSae(folder);
  const { data, n } = await layer3Activations();
  const z = await encodeWithOrt(sae, data, n);
  const direct = encodeDirect(sae, data, n);
  const scale = Math.max(1, ...Array.from(direct, Math.abs));
  assert.ok(maxAbsDiff(z, direct) <= 1e-5 * scale, `max diff ${maxAbsDiff(z, direct)}`);
  assert.ok(
    z.some((v) => v > 0),
    'some features fire',
  );
  await expectSubsetEqualsFull(sae, data, n, z);
}

/** The feature-detail replay encodes only the listed latents (latentSubset): the same z at those latents, or refused for TopK. */
async function expectSubsetEqualsFull(sae: SaeWeights, data: Float32Array, n: number, full: Float32Array): Promise<void> {
  // the latents that fire most, plus some that never do, in a scrambled order
  const fired = Array.from({ length: sae.dSae }, (_, f) => f).sort((a, b) => count(b) - count(a) || a - b);
  function count(f: number): number {
    let c = 0;
    for (let t = 0; t < n; t++) if (full[t * sae.dSae + f] > 0) c++;
    return c;
  }
  const ids = [...fired.slice(0, 12), ...fired.slice(-3)].reverse();
  if (!ARCHITECTURES[sae.architecture].featureWise) {
    assert.throws(() => latentSubset(sae, ids), /depend on each other/);
    assert.throws(() => loadSae(sae.folder, sae.format, ids), /depend on each other/);
    return;
  }
  expectLatentReadEqualsSubset(sae, ids);
  const z = await encodeWithOrt(latentSubset(sae, ids), data, n);
  let worst = 0;
  for (let t = 0; t < n; t++)
    ids.forEach((f, j) => {
      worst = Math.max(worst, Math.abs(z[t * ids.length + j] - full[t * sae.dSae + f]));
    });
  assert.ok(worst <= 1e-5, `subset vs full: max diff ${worst}`);
  assert.ok(
    z.some((v) => v > 0),
    'the subset fires',
  );
}

/** The feature details read only the listed latents from the file (loadSae with latents): exactly latentSubset of the whole SAE. */
function expectLatentReadEqualsSubset(sae: SaeWeights, ids: number[]): void {
  const read = loadSae(sae.folder, sae.format, ids);
  const cut = latentSubset(sae, ids);
  assert.equal(read.dSae, ids.length);
  for (const key of ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold', 'W_mag', 'b_mag'] as const)
    assert.deepEqual(read[key], cut[key], `${sae.folder}: ${key}`);
}

test('latent reads: each format and dtype reads exactly latentSubset of the whole SAE (first, last, scrambled latents)', () => {
  const folders = [layer3, ...['bf16', 'jumprelu', 'sparsify', 'gemmascope'].map((name) => path.join(FIXTURES, 'saes-variants', name))];
  for (const folder of folders) {
    const sae = loadSae(folder);
    assert.ok(ARCHITECTURES[sae.architecture].featureWise, folder);
    const m = sae.dSae;
    expectLatentReadEqualsSubset(sae, [m - 1, 0, 17, 5, m - 2, 300]);
    expectLatentReadEqualsSubset(sae, [42]);
    assert.throws(() => loadSae(folder, 'auto', [3, m]), new RegExp(`latent ${m} is (past|not among)`));
  }
  assert.deepEqual(
    new Set(folders.map((f) => loadSae(f)).map((s) => `${s.format} ${s.dtype}`)),
    new Set(['saelens float32', 'saelens bfloat16', 'sparsify F32', 'gemmascope float32']),
    'the formats and dtypes covered',
  );
});

test('latent subsets: JumpReLU equals the full encoder at its latents; TopK is refused', async () => {
  for (const name of ['jumprelu', 'topk']) {
    const sae = loadSae(path.join(FIXTURES, 'saes-variants', name));
    const { data, n } = await layer3Activations();
    await expectSubsetEqualsFull(sae, data, n, await encodeWithOrt(sae, data, n));
  }
});

for (const mode of ['constant_norm_rescale', 'layer_norm'] as const) {
  test(`SAELens normalize_activations ${mode}: encodings equal a direct computation`, async () => {
    const folder = variant(mode, (c) => {
      c.normalize_activations = mode;
    });
    assert.equal(loadSae(folder).normalization, mode);
    await expectEncodingsEqualDirect(folder);
  });
}

test('SAELens expected_average_only_in: applied with its scaling factor (cfg or activation_scaler.json), refused without', async () => {
  const inCfg = variant('expected-cfg', (c) => {
    c.normalize_activations = 'expected_average_only_in';
    c.scaling_factor = 0.37;
  });
  assert.equal(loadSae(inCfg).scalingFactor, 0.37);
  await expectEncodingsEqualDirect(inCfg);
  const inFile = variant('expected-file', (c) => {
    c.normalize_activations = 'expected_average_only_in';
  });
  fs.writeFileSync(path.join(inFile, 'activation_scaler.json'), JSON.stringify({ scaling_factor: 1.7 }));
  assert.equal(loadSae(inFile).scalingFactor, 1.7);
  const missing = variant('expected-missing', (c) => {
    c.normalize_activations = 'expected_average_only_in';
  });
  assert.throws(() => loadSae(missing), /gives no scaling factor/);
  assert.throws(
    () =>
      loadSae(
        variant('unknown-norm', (c) => {
          c.normalize_activations = 'whiten';
        }),
      ),
    /normalisation 'whiten' is not known/,
  );
});

test('SAELens gated: encodings equal a direct computation', async () => {
  const base = standard();
  const m = base.dSae;
  const folder = path.join(dir, 'gated');
  fs.mkdirSync(folder, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(layer3, 'cfg.json'), 'utf8'));
  cfg.architecture = 'gated';
  fs.writeFileSync(path.join(folder, 'cfg.json'), JSON.stringify(cfg));
  writeSafetensors(path.join(folder, 'sae_weights.safetensors'), {
    W_enc: { shape: [base.dIn, m], data: base.W_enc },
    b_gate: { shape: [m], data: base.b_enc },
    r_mag: { shape: [m], data: Float32Array.from({ length: m }, (_, i) => Math.sin(i) * 0.3) },
    b_mag: { shape: [m], data: Float32Array.from({ length: m }, (_, i) => Math.cos(i) * 0.1) },
    W_dec: { shape: [m, base.dIn], data: base.W_dec },
    b_dec: { shape: [base.dIn], data: base.b_dec },
  });
  assert.equal(loadSae(folder).architecture, 'gated');
  await expectEncodingsEqualDirect(folder);
});

test('Gemma Scope 2 params.safetensors (lowercase w_enc, w_dec, …) gives the latents of its Gemma Scope twin', async () => {
  const npz = loadSae(path.join(FIXTURES, 'saes-variants', 'gemmascope'));
  const folder = path.join(dir, 'gemmascope2');
  fs.mkdirSync(folder, { recursive: true });
  writeSafetensors(path.join(folder, 'params.safetensors'), {
    w_enc: { shape: [npz.dIn, npz.dSae], data: npz.W_enc },
    w_dec: { shape: [npz.dSae, npz.dIn], data: npz.W_dec },
    b_enc: { shape: [npz.dSae], data: npz.b_enc },
    b_dec: { shape: [npz.dIn], data: npz.b_dec },
    threshold: { shape: [npz.dSae], data: npz.threshold! },
  });
  const gs2 = loadSae(folder);
  assert.deepEqual([gs2.format, gs2.architecture, gs2.applyBDecToInput], ['gemmascope', 'jumprelu', false]);
  const { data, n } = await layer3Activations();
  assert.ok(maxAbsDiff(await encodeWithOrt(gs2, data, n), await encodeWithOrt(npz, data, n)) === 0);
  await expectEncodingsEqualDirect(folder);
});
