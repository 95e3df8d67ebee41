/**
 * WebGPU's per-buffer limit (runtime/bufferLimit.ts): SAE weight matrices above it are split into blocks
 * that give the whole matrix's products, and the batching keeps every tensor below it. The limit is forced
 * on the CPU through SAE_DIFF_MAX_BUFFER_MB, so CI runs the split graphs end to end.
 */
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadConfigText } from '../src/engine/config/load';
import { onnx } from 'onnx-proto';
import { SaeDiffError } from '../src/engine/core/errors';
import { graphOf, readOnnxModel } from '../src/engine/model/onnxGraph';
import { embeddingsOnCpu } from '../src/engine/model/oversizedWeights';
import { hookGraph } from '../src/engine/model/runner';
import { runDiagnostic } from '../src/engine/pipeline/pipeline';
import { bufferLimit, MAX_BUFFER_ENV, WEBGPU_PLANNED_BUFFER_BYTES } from '../src/engine/runtime/bufferLimit';
import { bufferCaps, chooseBatching, planDeviceBatch } from '../src/engine/runtime/deviceBatch';
import { probeModel, sessionOptions } from '../src/engine/runtime/session';
import { probeProviderEntry, WEBGPU_BUFFER_CACHE_ENV, webgpuProvider, webgpuStorageCache } from '../src/engine/runtime/webgpuOptions';
import { HISTOGRAM_EDGES } from '../src/engine/sae/histogramEdges';
import { loadSae, type SaeWeights } from '../src/engine/sae/loadSae';
import { buildReducedGraph } from '../src/engine/sae/reducedGraph';
import { buildProjectionGraph } from '../src/engine/sae/saeGraph';
import { compareWithGolden } from './helpers/golden';
import { FIXTURES, scratchDir } from './helpers/paths';
import { encodeAndDecodeWithOrt, layer3Activations, maxAbsDiff } from './helpers/saeDirect';

const dir = scratchDir('buffer-limit');
const layer3 = path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post');
const variants = path.join(FIXTURES, 'saes-variants');

test('buffer limit: 1 GiB planned on WebGPU, none elsewhere; SAE_DIFF_MAX_BUFFER_MB overrides on any provider and a bad value is refused naming it', () => {
  assert.deepEqual(bufferLimit('webgpu', {}).bytes, WEBGPU_PLANNED_BUFFER_BYTES);
  assert.equal(WEBGPU_PLANNED_BUFFER_BYTES, 2 ** 30);
  for (const p of ['cpu', 'cuda', 'dml', 'coreml'] as const) assert.equal(bufferLimit(p, {}).bytes, undefined, p);
  assert.equal(bufferLimit('webgpu', { [MAX_BUFFER_ENV]: '256' }).bytes, 256 * 2 ** 20);
  assert.equal(bufferLimit('cpu', { [MAX_BUFFER_ENV]: '0.5' }).bytes, 2 ** 19);
  assert.equal(bufferLimit('cpu', { [MAX_BUFFER_ENV]: ' ' }).bytes, undefined, 'blank means unset');
  for (const bad of ['lots', '-1', '0', '0.001']) {
    assert.throws(
      () => bufferLimit('webgpu', { [MAX_BUFFER_ENV]: bad }),
      (e: unknown) => e instanceof SaeDiffError && e.message.includes(`${MAX_BUFFER_ENV}=${bad}`),
      bad,
    );
  }
});

/** The fixture SAEs of every architecture and a per-token normalisation (in memory: gated and layer_norm). */
function saesOfEveryKind(): { name: string; sae: SaeWeights }[] {
  const standard = loadSae(layer3);
  const m = standard.dSae;
  return [
    { name: 'standard', sae: standard },
    { name: 'jumprelu', sae: loadSae(path.join(variants, 'jumprelu')) },
    { name: 'topk', sae: loadSae(path.join(variants, 'topk')) },
    {
      name: 'gated',
      sae: {
        ...standard,
        architecture: 'gated',
        W_mag: standard.W_enc.map((v, i) => v * Math.exp(Math.sin(i % m) * 0.3)),
        b_mag: Float32Array.from({ length: m }, (_, i) => Math.cos(i) * 0.1),
      },
    },
    { name: 'layer_norm', sae: { ...standard, normalization: 'layer_norm' } },
  ];
}

test('split SAE weights: every block within the limit, and the encoder and decoder equal the whole matrices on every architecture', async () => {
  const { data, n } = await layer3Activations();
  for (const { name, sae } of saesOfEveryKind()) {
    // W_enc is 128 x 1024 float32 (512 KiB): 200 KB gives blocks of 390 columns (3 blocks), W_dec blocks of 390 rows
    const limit = 200_000;
    const graph = buildProjectionGraph(sae, { maxBufferBytes: limit });
    const blocks = graph.externalData.filter((e) => /^W_(enc|dec|mag)\.\d+\.bin$/.test(e.path));
    assert.equal(blocks.length, name === 'gated' ? 9 : 6, `${name}: ${graph.externalData.map((e) => e.path)}`);
    assert.ok(
      graph.externalData.every((e) => e.data.byteLength <= limit),
      name,
    );
    const whole = await encodeAndDecodeWithOrt(sae, data, n);
    const split = await encodeAndDecodeWithOrt(sae, data, n, limit);
    assert.ok(
      whole.z.some((v) => v > 0),
      `${name}: some latent fires`,
    );
    // column blocks compute each latent's dot product as the whole matrix does; the decoder's row blocks add partial sums
    assert.ok(maxAbsDiff(split.z, whole.z) <= 1e-5, `${name} z: ${maxAbsDiff(split.z, whole.z)}`);
    assert.ok(maxAbsDiff(split.r, whole.r) <= 1e-4, `${name} r: ${maxAbsDiff(split.r, whole.r)}`);
  }
});

test('split SAE weights: the dense-reduce graph gives the same sums, histograms and contexts as the whole one', async () => {
  const sae = loadSae(layer3);
  const { data, n } = await layer3Activations();
  const d = sae.dIn;
  const shifted = data.map((v, i) => v + Math.sin(i) * 0.3);
  const feeds = {
    hb: new ort.Tensor('float32', data, [n, d]),
    hs: new ort.Tensor('float32', shifted, [n, d]),
    rows: new ort.Tensor(
      'int32',
      Int32Array.from({ length: n }, (_, i) => i),
      [n],
    ),
    k_top: new ort.Tensor('int64', BigInt64Array.of(16n), [1]),
    k_ctx: new ort.Tensor('int64', BigInt64Array.of(3n), [1]),
    dmean: new ort.Tensor('float32', shifted.slice(0, d), [1, d]),
  };
  const outputs = async (limit?: number) => {
    const g = buildReducedGraph(sae, HISTOGRAM_EDGES, { maxBufferBytes: limit });
    const s = await ort.InferenceSession.create(g.model, { externalData: g.externalData });
    const out = await s.run(feeds);
    await s.release();
    return out;
  };
  const whole = await outputs(),
    split = await outputs(100_000);
  for (const name of ['features', 'hist_b', 'hist_s', 'ctx_row_b', 'ctx_row_s', 'sum_hb'])
    assert.deepEqual(Array.from(split[name].data as ArrayLike<number>), Array.from(whole[name].data as ArrayLike<number>), name);
  for (const name of ['token_sums', 'ctx_val_s', 'dpre'])
    assert.ok(maxAbsDiff(split[name].data as Float32Array, whole[name].data as Float32Array) <= 1e-4, name);
});

test('batching under a buffer limit: no tensor above it, whoever chose the sizes, and the log says what was lowered', () => {
  const shape = { dModel: 2048, dSae: 65536, layers: 3, maxTokens: 256, maxBufferBytes: 2 ** 30 };
  // a chunk token's widest SAE tensor is 4·65536 bytes: 4096 tokens; a prompt's widest forward tensor 256·4·8·2048: 64 prompts
  assert.deepEqual(bufferCaps(shape), { batch: 64, chunk: 4096, fits: true });
  const plan = planDeviceBatch({ ...shape, budgetBytes: 40 * 2 ** 30 });
  assert.deepEqual([plan.batchSize, plan.chunkTokens, plan.fits], [64, 4096, true]);
  assert.equal(planDeviceBatch({ ...shape, maxBufferBytes: 1000, budgetBytes: 40 * 2 ** 30 }).fits, false, 'one token is above it');
  const base = {
    batchSize: 128,
    chunkTokens: 8192,
    keysSet: new Set(['batch_size', 'sae_batch_tokens']),
    shape,
    budget: () => ({ bytes: 40 * 2 ** 30, source: 'test' }),
  };
  for (const gpuDense of [true, false]) {
    const c = chooseBatching({ ...base, gpuDense, maxBufferBytes: shape.maxBufferBytes });
    assert.deepEqual([c.batchSize, c.chunkTokens, c.lowered], [64, 4096, 'batch 128 -> 64 prompts, SAE chunk 8192 -> 4096 tokens']);
  }
  const unlimited = chooseBatching({ ...base, gpuDense: false });
  assert.deepEqual([unlimited.batchSize, unlimited.chunkTokens, unlimited.lowered], [128, 8192, undefined]);
});

test('a run under a forced buffer limit (split SAEs, small chunks) on the dense path, the one WebGPU runs, reproduces the golden', async () => {
  const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'golden', 'sft-domain__general.json'), 'utf8'));
  const configPath = path.join(FIXTURES, 'golden', 'sft-domain__general.yaml');
  const yaml = fs.readFileSync(configPath, 'utf8');
  const previous = process.env[MAX_BUFFER_ENV];
  // 0.2 MiB: W_enc and W_dec (512 KiB each) in 3 blocks, at most 51 tokens per SAE call
  process.env[MAX_BUFFER_ENV] = '0.2';
  try {
    const logs: string[] = [];
    const { report } = await runDiagnostic(loadConfigText(yaml.replace(/runtime: \{/, 'runtime: { reduction: dense,'), configPath), {
      provider: 'cpu',
      outPath: path.join(dir, 'dense.json'),
      onLog: (l) => logs.push(l),
    });
    assert.ok(logs.includes(`buffer limit: 0.20 MiB per tensor (${MAX_BUFFER_ENV}=0.2)`), logs.join('\n'));
    assert.ok(
      logs.some((l) => /^buffer limit lowered the batching: .*SAE chunk \d+ -> 51 tokens/.test(l)),
      logs.join('\n'),
    );
    assert.equal(report.run.tokens, golden.tokens);
    assert.deepEqual(compareWithGolden(report.comparisons[0], golden), []);
  } finally {
    if (previous === undefined) delete process.env[MAX_BUFFER_ENV];
    else process.env[MAX_BUFFER_ENV] = previous;
  }
});

test("model weights above WebGPU's limit: embedding lookups move to the CPU; any other reader is refused, naming the weight", () => {
  const modelFile = path.join(FIXTURES, 'base', 'model.onnx');
  const kib = 2 ** 10;
  // the fixture: embedding and lm_head 512 KiB each, MLP matrices 176 KiB
  const hooked = () => {
    const model = readOnnxModel(modelFile);
    hookGraph(model, modelFile, { targets: [1, 3], hookPoint: 'resid_post', tensorNames: new Map() });
    return graphOf(model);
  };
  const g = hooked();
  assert.deepEqual(embeddingsOnCpu(g, 256 * kib, modelFile), {
    nodes: ['/model/embed_tokens/Gather'],
    tables: ['model.embed_tokens.weight (0.50 MiB)'],
  });
  assert.deepEqual(embeddingsOnCpu(g, 512 * kib, modelFile), { nodes: [], tables: [] }, 'at the limit is within it');
  // an unnamed lookup is named, so that the provider option can name it
  const unnamed = hooked();
  unnamed.node.find((n) => n.opType === 'Gather' && n.input![0] === 'model.embed_tokens.weight')!.name = '';
  const named = embeddingsOnCpu(unnamed, 256 * kib, modelFile).nodes;
  assert.deepEqual(named, ['sae_diff/embedding_gather_model.embed_tokens.weight_0']);
  assert.ok(unnamed.node.some((n) => n.name === named[0]));
  // the whole graph still has lm_head, and below 176 KiB the MLP weights are too large: refused, naming them
  const refused = (graph: onnx.IGraphProto, max: number, what: RegExp) =>
    assert.throws(
      () => embeddingsOnCpu(graph, max, modelFile),
      (e: unknown) =>
        e instanceof SaeDiffError && what.test(e.message) && /SAE_DIFF_MAX_BUFFER_MB/.test(e.hint ?? '') && e.location?.file === modelFile,
    );
  refused(
    graphOf(readOnnxModel(modelFile)),
    256 * kib,
    /'onnx::MatMul_\d+' \(0\.50 MiB, read by MatMul '\/lm_head\/MatMul'\) is larger than the 0\.25 MiB/,
  );
  refused(g, 128 * kib, /read by MatMul '\/model\/layers\.0\/mlp\/gate_proj\/MatMul'/);
});

test('the lookups to move reach the WebGPU provider as forceCpuNodeNames; other providers are unchanged', () => {
  const graph = new Uint8Array(0);
  const plan = { cpuNodes: ['/model/embed_tokens/Gather'] };
  assert.deepEqual(sessionOptions(graph, { provider: 'webgpu', threads: 1 }, plan).executionProviders, [
    { name: 'webgpu', storageBufferCacheMode: 'simple', forceCpuNodeNames: ['/model/embed_tokens/Gather'] },
    'cpu',
  ]);
  assert.deepEqual(sessionOptions(graph, { provider: 'webgpu', threads: 1 }, {}).executionProviders, [
    { name: 'webgpu', storageBufferCacheMode: 'simple' },
    'cpu',
  ]);
  assert.deepEqual(sessionOptions(graph, { provider: 'cuda', threads: 1 }, plan).executionProviders, ['cuda', 'cpu']);
  assert.deepEqual(sessionOptions(graph, { provider: 'cpu', threads: 1 }, plan).executionProviders, ['cpu']);
});

test("onnxruntime-node's WebGPU provider reads forceCpuNodeNames (a wrong element type is refused; a string list gets past the options)", async () => {
  const attempt = async (names: unknown[]) => {
    try {
      const s = await ort.InferenceSession.create(probeModel(), {
        executionProviders: [{ name: 'webgpu', forceCpuNodeNames: names } as ort.InferenceSession.ExecutionProviderConfig],
      });
      await s.release();
      return 'created';
    } catch (e) {
      return (e as Error).message;
    }
  };
  assert.match(await attempt([3]), /elements of "forceCpuNodeNames" must be strings/);
  // without a GPU this fails later, finding no adapter: not on the option
  assert.doesNotMatch(await attempt(['id']), /Invalid argument/);
});

test("WebGPU sessions keep freed buffers of every size ('simple'); the variable overrides it, a bad value is refused, and onnxruntime-node passes the mode to ONNX Runtime", async () => {
  assert.equal(webgpuStorageCache({}), 'simple');
  assert.equal(webgpuStorageCache({ [WEBGPU_BUFFER_CACHE_ENV]: 'bucket' }), 'bucket');
  assert.throws(
    () => webgpuStorageCache({ [WEBGPU_BUFFER_CACHE_ENV]: 'big' }),
    (e: unknown) =>
      e instanceof SaeDiffError &&
      /SAE_DIFF_WEBGPU_BUFFER_CACHE=big/.test(e.message) &&
      /disabled, lazyRelease, simple, bucket/.test(e.hint ?? ''),
  );
  assert.deepEqual(probeProviderEntry('cpu'), 'cpu');
  assert.deepEqual(probeProviderEntry('webgpu'), webgpuProvider([]));
  const attempt = async (mode: string) => {
    try {
      const entry = { name: 'webgpu', storageBufferCacheMode: mode } as ort.InferenceSession.ExecutionProviderConfig;
      const s = await ort.InferenceSession.create(probeModel(), { executionProviders: [entry] });
      await s.release();
      return 'created';
    } catch (e) {
      return (e as Error).message;
    }
  };
  // ONNX Runtime parses the mode before it looks for an adapter: a wrong one is refused there
  assert.match(await attempt('nonsense'), /Invalid buffer cache mode: nonsense/);
  assert.doesNotMatch(await attempt('simple'), /Invalid buffer cache mode/);
});
