/**
 * Checkpoints and LoRA adapters saved as torch.save pickles (pytorch_model.bin, its shards, adapter_model.bin), as
 * transformers < 5 and PEFT < 0.7 saved them by default (test/fixtures/pytorch_bin_fixtures.py): read weights-only,
 * each tensor located in place, they must give what the same weights give from safetensors and what PyTorch computes.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { modelFacts } from '../src/engine/authoring/facts';
import { invalidateFileCache } from '../src/engine/authoring/fileCache';
import { SaeDiffError } from '../src/engine/core/errors';
import { readRange } from '../src/engine/io/readAt';
import { checkpointMainFile, readCheckpointFiles } from '../src/engine/model/checkpoint/checkpointFiles';
import { decoderSpec } from '../src/engine/model/checkpoint/decoderConfig';
import { readLoraAdapter } from '../src/engine/model/checkpoint/loraAdapter';
import { loadConfigText } from '../src/engine/config/load';
import { adapterSource, checkpointSource, type CheckpointSource, weightFiles } from '../src/engine/model/modelSource';
import { HookedModel } from '../src/engine/model/runner';
import { resolveModels } from '../src/engine/pipeline/models';
import { checkpointFolder } from './helpers/checkpoints';
import { differenceFromExpected, expectedIn, type ExpectedActivations } from './helpers/expectedActivations';
import { REPO_ROOT, scratchDir } from './helpers/paths';

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');
const BIN = path.join(FIXTURES, 'pytorch-bin');
const QWEN3 = path.join(FIXTURES, 'qwen3-tiny');
const cpu = { provider: 'cpu' as const, threads: 1 };
const out = scratchDir('pytorch-bin');

/** The checkpoint a folder holds, as a run takes it (checkpointMainFile), with its config.json's spec. */
function sourceOf(folder: string, configFolder = folder): CheckpointSource {
  const main = checkpointMainFile(folder);
  assert.ok(main, `a checkpoint in ${folder}`);
  const config = path.join(configFolder, 'config.json');
  return checkpointSource(main, config, decoderSpec(JSON.parse(fs.readFileSync(config, 'utf8')), config));
}

async function resid(source: CheckpointSource, expected: ExpectedActivations, layers: number[]): Promise<Float32Array[]> {
  const model = await HookedModel.load(source, { targets: layers, hookPoint: 'resid_post', tensorNames: new Map() }, cpu);
  try {
    const outs = await model.run(expected.batch);
    return layers.map((l) => outs.get(l)!.data.slice());
  } finally {
    await model.release();
  }
}

for (const [folder, main] of [
  ['qwen3', 'pytorch_model.bin'],
  ['qwen3-sharded', 'pytorch_model.bin.index.json'],
] as const) {
  test(`a checkpoint saved as ${main} locates every tensor at the bytes model.safetensors holds (test/fixtures/pytorch-bin/${folder})`, () => {
    const bin = readCheckpointFiles(path.join(BIN, folder, main));
    const safetensors = readCheckpointFiles(path.join(QWEN3, 'model.safetensors'));
    assert.equal(bin.shards.length, folder === 'qwen3' ? 1 : 2);
    assert.deepEqual([...bin.tensors.keys()].sort(), [...safetensors.tensors.keys()].sort());
    for (const [name, t] of bin.tensors) {
      const want = safetensors.tensors.get(name)!;
      assert.equal(t.dtype, want.dtype, name);
      assert.deepEqual(t.shape, want.shape, name);
      assert.ok(readRange(t.file, t.offset, t.length).equals(readRange(want.file, want.offset, want.length)), `${name}'s bytes`);
    }
  });

  test(`a checkpoint saved as ${main} gives what transformers' Qwen3 gives, and what its safetensors give bit for bit`, async () => {
    const expected = expectedIn(QWEN3);
    const source = sourceOf(path.join(BIN, folder));
    assert.equal(path.basename(source.file), main);
    for (const d of await differenceFromExpected(source, expected, 'resid_post', cpu))
      assert.ok(d.absolute < 1e-5 * Math.max(1, d.largest) && d.largest > 0.5, `layer ${d.layer}: ${d.absolute} (largest ${d.largest})`);
    const [fromBin, fromSafetensors] = [await resid(source, expected, [0, 2]), await resid(sourceOf(QWEN3), expected, [0, 2])];
    assert.deepEqual(fromBin, fromSafetensors);
  });
}

test('an adapter PEFT 0.21 saved as adapter_model.bin (safe_serialization=False) gives what PEFT computes with it', async () => {
  const base = sourceOf(path.join(FIXTURES, 'tiny-llama', 'base'));
  const adapter = readLoraAdapter(path.join(BIN, 'peft-lora'));
  assert.equal(path.basename(adapter.file), 'adapter_model.bin');
  assert.equal(adapter.modules.size, 6 * 7);
  assert.equal(adapter.modules.get('model.layers.4.mlp.down_proj')!.a.shape[0], 2, 'rank_pattern');
  const expected = expectedIn(path.join(FIXTURES, 'peft-lora'));
  for (const d of await differenceFromExpected(adapterSource(base, adapter), expected, 'resid_post', cpu))
    assert.ok(d.relative < 5e-5, `layer ${d.layer}: ${d.relative}`);
  const same = readLoraAdapter(path.join(FIXTURES, 'peft-lora'));
  assert.deepEqual(await resid(adapterSource(base, adapter), expected, [1, 5]), await resid(adapterSource(base, same), expected, [1, 5]));
});

test('a run resolves an adapter_model.bin fine-tune on a base checkpoint, and hashes the pickle with its config', () => {
  const base = checkpointFolder(path.join(FIXTURES, 'tiny-llama', 'base'), path.join(out, 'base'));
  const sft = path.join(BIN, 'peft-lora');
  const config = loadConfigText(
    `diagnostic_pipeline:
  models: { base: ${JSON.stringify(base)}, sft: ${JSON.stringify(sft)} }
  sae: { path: "${FIXTURES}/tiny-llama/saes/blocks.{layer}.hook_resid_post", k: 16 }
  layers: { target_indices: [0] }
  dataset: { path: "${FIXTURES}/tiny-llama/eval/general.jsonl" }
`,
    path.join(out, 'run.sae-diff.yaml'),
  );
  const { files } = resolveModels(config, () => {});
  const source = files.fineTunes[0].source;
  assert.equal(source.file, path.join(sft, 'adapter_model.bin'));
  assert.deepEqual(weightFiles(source).slice(-2), [path.join(sft, 'adapter_config.json'), path.join(sft, 'adapter_model.bin')]);
});

test('safetensors are taken before a pickle beside them, as from_pretrained and load_peft_weights take them', () => {
  const model = path.join(out, 'both-model');
  fs.mkdirSync(model, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) fs.copyFileSync(path.join(QWEN3, f), path.join(model, f));
  fs.copyFileSync(path.join(BIN, 'qwen3', 'pytorch_model.bin'), path.join(model, 'pytorch_model.bin'));
  assert.equal(checkpointMainFile(model), path.join(model, 'model.safetensors'));
  fs.rmSync(path.join(model, 'model.safetensors'));
  assert.equal(checkpointMainFile(model), path.join(model, 'pytorch_model.bin'));
  // the editor sees the pickle as the folder's checkpoint
  invalidateFileCache();
  assert.equal(modelFacts(model).checkpointPath, path.join(model, 'pytorch_model.bin'));

  const adapter = path.join(out, 'both-adapter');
  fs.mkdirSync(adapter, { recursive: true });
  for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
    fs.copyFileSync(path.join(FIXTURES, 'peft-lora', f), path.join(adapter, f));
  fs.copyFileSync(path.join(BIN, 'peft-lora', 'adapter_model.bin'), path.join(adapter, 'adapter_model.bin'));
  assert.equal(path.basename(readLoraAdapter(adapter).file), 'adapter_model.safetensors');
  fs.rmSync(path.join(adapter, 'adapter_model.safetensors'));
  assert.equal(path.basename(readLoraAdapter(adapter).file), 'adapter_model.bin');
  fs.rmSync(path.join(adapter, 'adapter_model.bin'));
  assert.throws(
    () => readLoraAdapter(adapter),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      /The adapter folder has neither adapter_model\.safetensors nor adapter_model\.bin/.test(e.message) &&
      e.location?.file === path.join(adapter, 'adapter_config.json'),
  );
});

test('pickled checkpoints the engine cannot read are refused, naming the file: the legacy format, a missing shard, no state dict', () => {
  const folder = path.join(out, 'refused');
  fs.mkdirSync(folder, { recursive: true });
  // torch < 1.6 (or _use_new_zipfile_serialization=False): a bare pickle stream, protocol 2
  const legacy = path.join(folder, 'pytorch_model.bin');
  fs.writeFileSync(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a]));
  assert.throws(
    () => readCheckpointFiles(legacy),
    (e: unknown) => e instanceof SaeDiffError && /legacy format/.test(e.message) && e.location?.file === legacy,
  );

  const sharded = path.join(folder, 'sharded');
  fs.mkdirSync(sharded, { recursive: true });
  const index = path.join(sharded, 'pytorch_model.bin.index.json');
  fs.copyFileSync(path.join(BIN, 'qwen3-sharded', 'pytorch_model.bin.index.json'), index);
  fs.copyFileSync(
    path.join(BIN, 'qwen3-sharded', 'pytorch_model-00001-of-00002.bin'),
    path.join(sharded, 'pytorch_model-00001-of-00002.bin'),
  );
  assert.throws(
    () => readCheckpointFiles(index),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      /The shard pytorch_model-00002-of-00002\.bin that pytorch_model\.bin\.index\.json names is missing/.test(e.message) &&
      /pytorch_model-\*\.bin/.test(e.hint ?? ''),
  );

  const list = path.join(BIN, 'not-a-state-dict', 'pytorch_model.bin');
  assert.throws(
    () => readCheckpointFiles(list),
    (e: unknown) => e instanceof SaeDiffError && /holds no state dict/.test(e.message) && e.location?.file === list,
  );
});
