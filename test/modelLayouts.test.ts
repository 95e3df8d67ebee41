import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import { loadConfigText } from '../src/engine/config/load';
import { resolveModelFiles } from '../src/engine/model/modelFolder';
import { floatWeightElements, graphOf, readOnnxModel } from '../src/engine/model/onnxGraph';
import type { SaeDiffError } from '../src/engine/core/errors';
import { readUnembedding, type Unembedding } from '../src/engine/report/unembedding';
import { HookedModel } from '../src/engine/model/runner';
import { f16ToF32 } from '../src/engine/sae/safetensors';
import { fixtureConfig } from './helpers/cli';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('layouts');
const cpu = { provider: 'cpu' as const, threads: 0 };
const ALL = [0, 1, 2, 3, 4, 5];
const hooks = (targets = ALL) => ({ targets, hookPoint: 'resid_post' as const, tensorNames: new Map<number, string>() });
const batch = { batch: 2, seq: 4, ids: Int32Array.from([0, 80, 81, 82, 0, 90, 91, 2]), mask: Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 0]) };

/** Rewrites base/model.onnx with its weights in an external data file, as torch does past 2 GB. */
function externalDataExport(folder: string, dataName: string): string {
  fs.mkdirSync(folder, { recursive: true });
  const model = onnx.ModelProto.decode(fs.readFileSync(path.join(FIXTURES, 'base', 'model.onnx')));
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const t of model.graph!.initializer!) {
    if (!t.rawData || t.rawData.length <= 1024) continue;
    chunks.push(Buffer.from(t.rawData));
    t.externalData = [
      { key: 'location', value: dataName },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(t.rawData.length) },
    ];
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    offset += t.rawData.length;
    t.rawData = new Uint8Array(0);
  }
  const file = path.join(folder, 'model.onnx');
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  fs.writeFileSync(path.join(folder, dataName), Buffer.concat(chunks));
  return file;
}

for (const dataName of ['model.onnx_data', 'model.onnx.data']) {
  test(`an export with external data (${dataName}) hooks the same tensors and gives the same activations`, async () => {
    const file = externalDataExport(path.join(dir, dataName.replace(/\W/g, '-')), dataName);
    assert.ok(fs.statSync(file).size < 1_000_000, 'the weights are outside the graph file');
    const ext = await HookedModel.load(file, hooks(), cpu);
    const orig = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), hooks(), cpu);
    assert.deepEqual([...ext.hookTensors], [...orig.hookTensors]);
    const a = await ext.run(batch),
      b = await orig.run(batch);
    for (const l of ALL) assert.deepEqual(a.get(l)!.data, b.get(l)!.data);
    await ext.release();
    await orig.release();
  });
}

/** A Hugging Face hub cache snapshot: every file a symlink into ../../blobs, named by hash there. */
function hubSnapshot(root: string, files: Record<string, string>): string {
  const blobs = path.join(root, 'blobs');
  const snapshot = path.join(root, 'snapshots', 'rev1');
  fs.mkdirSync(blobs, { recursive: true });
  fs.mkdirSync(snapshot, { recursive: true });
  Object.entries(files).forEach(([name, source], i) => {
    fs.copyFileSync(source, path.join(blobs, `blob${i}`));
    fs.symlinkSync(path.join('..', '..', 'blobs', `blob${i}`), path.join(snapshot, name));
  });
  return path.join(snapshot, 'model.onnx');
}

test('a hub cache snapshot (symlinks into blobs/) loads, inline weights and external data alike, with the same activations', async () => {
  const ext = externalDataExport(path.join(dir, 'for-hub'), 'model.onnx_data');
  const inline = hubSnapshot(path.join(dir, 'hub-inline'), { 'model.onnx': path.join(FIXTURES, 'base', 'model.onnx') });
  const external = hubSnapshot(path.join(dir, 'hub-external'), {
    'model.onnx': ext,
    'model.onnx_data': path.join(path.dirname(ext), 'model.onnx_data'),
  });
  const orig = await HookedModel.load(path.join(FIXTURES, 'base', 'model.onnx'), hooks(), cpu);
  const expected = await orig.run(batch);
  for (const file of [inline, external]) {
    const m = await HookedModel.load(file, hooks(), cpu);
    const got = await m.run(batch);
    for (const l of ALL) assert.deepEqual(got.get(l)!.data, expected.get(l)!.data, `${file} layer ${l}`);
    await m.release();
  }
  await orig.release();
});

test('the graph is read without its weights: large initialisers become references to their bytes in the file', () => {
  const file = path.join(FIXTURES, 'base', 'model.onnx');
  const bytes = fs.readFileSync(file);
  const full = onnx.ModelProto.decode(bytes);
  const skeleton = readOnnxModel(file);
  assert.deepEqual(
    graphOf(skeleton).node.map((n) => n.name),
    full.graph!.node!.map((n) => n.name),
  );
  assert.deepEqual(skeleton.opsetImport, full.opsetImport);
  let external = 0;
  for (const [i, t] of graphOf(skeleton).initializer.entries()) {
    const original = full.graph!.initializer![i];
    assert.equal(t.name, original.name);
    assert.deepEqual(t.dims, original.dims);
    if (original.rawData!.length < 1024) {
      assert.deepEqual(t.rawData, original.rawData);
      continue;
    }
    external++;
    const at = Object.fromEntries(t.externalData!.map((e) => [e.key, e.value]));
    assert.equal(t.dataLocation, onnx.TensorProto.DataLocation.EXTERNAL);
    assert.equal(at.location, 'model.onnx');
    assert.ok(bytes.subarray(Number(at.offset), Number(at.offset) + Number(at.length)).equals(original.rawData!), t.name!);
  }
  assert.ok(external > 10, `${external} external initialisers`);
  assert.ok(onnx.ModelProto.encode(skeleton).finish().length < bytes.length / 20, 'the skeleton holds no weights');
});

test('external data outside the model folder, or missing, is refused naming the tensor and what to do', async () => {
  const file = externalDataExport(path.join(dir, 'escaping'), 'model.onnx_data');
  const model = onnx.ModelProto.decode(fs.readFileSync(file));
  const escaping = path.join(dir, 'escaping', 'escaping.onnx');
  for (const t of model.graph!.initializer!)
    for (const e of t.externalData ?? []) if (e.key === 'location') e.value = path.join('..', 'for-hub', 'model.onnx_data');
  fs.writeFileSync(escaping, onnx.ModelProto.encode(model).finish());
  await assert.rejects(
    HookedModel.load(escaping, hooks(), cpu),
    /The weights of 'model\.embed_tokens\.weight' are in '\.\.\/for-hub\/model\.onnx_data', outside the model's folder/,
  );
  fs.rmSync(path.join(dir, 'escaping', 'model.onnx_data'));
  await assert.rejects(HookedModel.load(file, hooks(), cpu), (e: SaeDiffError) => {
    assert.match(e.message, /'model\.onnx_data', which is missing beside the model/);
    assert.equal(e.location?.file, file);
    assert.match(e.hint ?? '', /the whole onnx\/ folder/);
    return true;
  });
});

test('a truncated ONNX file is refused as not an ONNX model, naming the file', () => {
  const truncated = path.join(dir, 'truncated.onnx');
  fs.writeFileSync(truncated, fs.readFileSync(path.join(FIXTURES, 'base', 'model.onnx')).subarray(0, 500_000));
  assert.throws(
    () => readOnnxModel(truncated),
    (e: SaeDiffError) => /^Not an ONNX model/.test(e.message) && e.location?.file === truncated,
  );
});

test('the unembedding is read from external data, and a bfloat16 one behind an Identity is widened exactly', () => {
  const inline = readUnembedding(path.join(FIXTURES, 'base', 'model.onnx')) as Unembedding;
  const ext = readUnembedding(externalDataExport(path.join(dir, 'unembed'), 'model.onnx_data')) as Unembedding;
  assert.equal(typeof ext, 'object', String(ext));
  assert.deepEqual(ext.data, inline.data);
  // the same lm_head, truncated to bfloat16 (its top 16 bits), inline
  const model = onnx.ModelProto.decode(fs.readFileSync(path.join(FIXTURES, 'base', 'model.onnx')));
  const head = model.graph!.initializer!.find((t) => t.name === inline.name)!;
  const f32 = new Float32Array(Uint8Array.from(head.rawData!).buffer);
  assert.deepEqual(inline.data, f32, 'this export stores W_U as [hidden, vocab], as read');
  const bf16 = Uint16Array.from(new Uint32Array(f32.buffer), (u) => u >>> 16);
  head.dataType = onnx.TensorProto.DataType.BFLOAT16;
  head.rawData = new Uint8Array(bf16.buffer);
  // and handed on to the logits output through an Identity, as half-precision exports may do
  const logits = model.graph!.output![0].name!;
  model.graph!.node!.find((n) => n.output!.includes(logits))!.output = ['logits_product'];
  model.graph!.node!.push(onnx.NodeProto.create({ opType: 'Identity', input: ['logits_product'], output: [logits], name: 'to_logits' }));
  const file = path.join(dir, 'bf16-head.onnx');
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  const widened = readUnembedding(file) as Unembedding;
  assert.equal(typeof widened, 'object', String(widened));
  const truncatedHead = new Float32Array(new Uint32Array(f32.buffer).map((u) => (u >>> 16) << 16).buffer);
  assert.deepEqual(widened.data, truncatedHead);
});

/** A small Llama-scoped graph computed in float16: embed -> layers.0 (x + x*x, then + x) -> norm. */
const halves = new Uint16Array(10 * 4).map((_, i) => 0x3800 + (i % 8) * 0x0100); // 0.5 .. 1.75, exact in fp16

function float16Graph(file: string): void {
  const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
  const vi = (name: string, elemType: number, dims: (number | string)[]) => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const node = (name: string, opType: string, input: string[], output: string[], attribute: onnx.IAttributeProto[] = []) => ({
    name,
    opType,
    input,
    output,
    attribute,
  });
  const model = onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'fp16',
      initializer: [{ name: 'model.embed_tokens.weight', dataType: FLOAT16, dims: [10, 4], rawData: new Uint8Array(halves.buffer) }],
      input: [vi('input_ids', onnx.TensorProto.DataType.INT64, ['batch', 'seq'])],
      output: [vi('logits', onnx.TensorProto.DataType.FLOAT, ['batch', 'seq', 4])],
      node: [
        node('/model/embed_tokens/Gather', 'Gather', ['model.embed_tokens.weight', 'input_ids'], ['/model/embed_tokens/Gather_output_0']),
        node(
          '/model/layers.0/mlp/Mul',
          'Mul',
          ['/model/embed_tokens/Gather_output_0', '/model/embed_tokens/Gather_output_0'],
          ['/model/layers.0/mlp/Mul_output_0'],
        ),
        node(
          '/model/layers.0/Add',
          'Add',
          ['/model/embed_tokens/Gather_output_0', '/model/layers.0/mlp/Mul_output_0'],
          ['/model/layers.0/Add_output_0'],
        ),
        node(
          '/model/layers.0/Add_1',
          'Add',
          ['/model/layers.0/Add_output_0', '/model/embed_tokens/Gather_output_0'],
          ['/model/layers.0/Add_1_output_0'],
        ),
        node(
          '/model/norm/Cast',
          'Cast',
          ['/model/layers.0/Add_1_output_0'],
          ['logits'],
          [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
        ),
      ],
    },
  }).finish();
  fs.writeFileSync(file, model);
}

test('a float16 graph: hooked tensors come back as float32 with the right values', async () => {
  const file = path.join(dir, 'fp16.onnx');
  float16Graph(file);
  const ids = Int32Array.from([1, 2, 3, 9]);
  const post = await HookedModel.load(file, hooks([0]), cpu);
  assert.equal(post.hookTensors.get(0), '/model/layers.0/Add_1_output_0');
  const out = (await post.run({ batch: 1, seq: 4, ids, mask: new Uint8Array(4).fill(1) })).get(0)!;
  assert.ok(out.data instanceof Float32Array);
  assert.equal(out.hidden, 4);
  for (let t = 0; t < 4; t++) {
    for (let j = 0; j < 4; j++) {
      const x = f16ToF32(halves.subarray(ids[t] * 4 + j, ids[t] * 4 + j + 1))[0];
      assert.equal(out.data[t * 4 + j], 2 * x + x * x, 'x + x*x + x, computed in float16, exact here');
    }
  }
  const pre = await HookedModel.load(file, { ...hooks([0]), hookPoint: 'resid_pre' }, cpu);
  assert.equal(pre.hookTensors.get(0), '/model/embed_tokens/Gather_output_0');
  await post.release();
  await pre.release();
});

test('weight elements per float type: what decides whether a half-precision model keeps the CPU arena (runtime/session.ts)', () => {
  const file = path.join(dir, 'fp16-count.onnx');
  float16Graph(file);
  const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
  const half = floatWeightElements(onnx.ModelProto.decode(fs.readFileSync(file)).graph!);
  assert.deepEqual([...half], [[FLOAT16, 40]]);
  const base = floatWeightElements(onnx.ModelProto.decode(fs.readFileSync(path.join(FIXTURES, 'base', 'model.onnx'))).graph!);
  assert.equal(base.get(FLOAT16), undefined);
  assert.ok(base.get(onnx.TensorProto.DataType.FLOAT)! > 1_000_000, 'the base fixture holds its float32 weights');
});

test('transformers.js layout: onnx/model.onnx is found, and onnx_file picks another file', () => {
  const folder = path.join(dir, 'tjs');
  fs.mkdirSync(path.join(folder, 'onnx'), { recursive: true });
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(path.join(FIXTURES, 'base', f), path.join(folder, f));
  fs.copyFileSync(path.join(FIXTURES, 'base', 'model.onnx'), path.join(folder, 'onnx', 'model.onnx'));
  fs.copyFileSync(path.join(FIXTURES, 'base', 'model_with_past.onnx'), path.join(folder, 'onnx', 'decoder_with_past.onnx'));
  const config = loadConfigText(
    fixtureConfig({ models: `{ base: "${folder}", sft: { path: "${folder}", onnx_file: "onnx/decoder_with_past.onnx" } }` }).replace(
      /@\//g,
      FIXTURES + '/',
    ),
    path.join(dir, 'c.yaml'),
  );
  assert.equal(resolveModelFiles(config.models.base, config).source.file, path.join(folder, 'onnx', 'model.onnx'));
  assert.equal(resolveModelFiles(config.models.sfts[0], config).source.file, path.join(folder, 'onnx', 'decoder_with_past.onnx'));
});
