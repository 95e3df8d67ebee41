import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { loadSae } from '../src/engine/sae/loadSae';
import { encodeBaseFeeds } from '../src/engine/sae/projector';
import { f16ToF32, readSafetensors } from '../src/engine/sae/safetensors';
import { buildProjectionGraph, saeGraphOptions } from '../src/engine/sae/saeGraph';
import { createSession, feedsArraysOf, halfWeightsKeepArena, PREPACK_MAX_BYTES, sessionOptions } from '../src/engine/runtime/session';
import { FIXTURES, scratchDir } from './helpers/paths';

const dir = scratchDir('sae-loading');
const layer3 = path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post');

/** IEEE 754 binary16 -> binary32 by moving the bit fields (a different route from the loader's table). */
function halfByBits(h: number): number {
  const sign = (h & 0x8000) << 16,
    e = (h >> 10) & 0x1f,
    f = h & 0x3ff;
  if (e === 0) return (h & 0x8000 ? -1 : 1) * f * 2 ** -24; // subnormal (and signed zero)
  const bits = new Uint32Array(1);
  bits[0] = e === 31 ? sign | 0x7f800000 | (f << 13) : sign | ((e - 15 + 127) << 23) | (f << 13);
  return new Float32Array(bits.buffer)[0];
}

test('float16 decoding is exact for all 65,536 bit patterns (subnormals, infinities and NaN included)', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const got = f16ToF32(all);
  for (let h = 0; h < 65536; h++) {
    const want = halfByBits(h);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(got[h]), `0x${h.toString(16)}`);
    else assert.ok(Object.is(got[h], want), `0x${h.toString(16)}: ${got[h]} vs ${want}`);
  }
  assert.deepEqual([...f16ToF32(Uint16Array.of(0x3c00, 0xc000, 0x7bff, 0x0001, 0xfc00))], [1, -2, 65504, 2 ** -24, -Infinity]);
});

test('half, bfloat16 and float64 tensors larger than one read chunk (16 MB) decode exactly, wherever they start', () => {
  // 9M halves = 18 MB: two chunks; a one-element tensor first puts the big one at an odd half offset
  const n = 9 * 1024 * 1024;
  const halves = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const h = (i * 7919) & 0xffff;
    halves[i] = ((h >> 10) & 0x1f) === 31 ? h & 0xfbff : h;
  }
  const bf = Uint16Array.of(0x3f80, 0xc000, 0x0001, 0x7f7f);
  const f64 = Float64Array.of(0.1, -3.5, 1e-40, 6e4);
  const tensors: [string, string, number[], Uint8Array][] = [
    ['one', 'F16', [1], new Uint8Array(Uint16Array.of(0x3c00).buffer)],
    ['big', 'F16', [3, n / 3], new Uint8Array(halves.buffer)],
    ['bf', 'BF16', [4], new Uint8Array(bf.buffer)],
    ['f64', 'F64', [4], new Uint8Array(f64.buffer)],
  ];
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, dtype, shape, bytes] of tensors) {
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
    offset += bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(dir, 'mixed.safetensors');
  fs.writeFileSync(file, Buffer.concat([len, json, ...tensors.map((t) => t[3])]));

  const t = readSafetensors(file);
  assert.deepEqual([...t.get('one')!.data], [1]);
  const big = t.get('big')!;
  assert.deepEqual(big.shape, [3, n / 3]);
  assert.equal(big.data.length, n);
  // bit for bit (no NaNs here, so equal bits is Object.is), against the bit-field decoding of each pattern
  const byPattern = Float32Array.from({ length: 65536 }, (_, h) => halfByBits(h));
  const want = Float32Array.from(halves, (h) => byPattern[h]);
  const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
  const got = bits(big.data),
    wanted = bits(want);
  const first = got.findIndex((b, i) => b !== wanted[i]);
  assert.equal(first, -1, `element ${first}: ${big.data[first]} vs ${want[first]}`);
  assert.deepEqual(
    [...t.get('bf')!.data],
    [1, -2, new Float32Array(Uint32Array.of(0x00010000).buffer)[0], new Float32Array(Uint32Array.of(0x7f7f0000).buffer)[0]],
  );
  assert.deepEqual([...t.get('f64')!.data], [...Float32Array.from(f64)]);
  fs.rmSync(file);
});

test('SAE weights reach ONNX Runtime as in-memory external data, not inside the protobuf, read as ONNX external-data files are', async () => {
  const sae = loadSae(layer3);
  const graph = buildProjectionGraph(sae);
  const weightBytes = sae.W_enc.byteLength + sae.W_dec.byteLength;
  assert.ok(graph.externalData.some((e) => e.path === 'W_enc.bin') && graph.externalData.some((e) => e.path === 'W_dec.bin'));
  assert.ok(graph.model.length < weightBytes / 10, `the protobuf holds ${graph.model.length} bytes for ${weightBytes} bytes of weights`);
  // the in-memory buffers must mean what the same bytes mean as external-data files
  const inline = await fileSession(graph);
  const external = await createSession(graph, { provider: 'cpu', threads: 1 }, 'test');
  const d = sae.dIn,
    n = 5;
  const hb = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i) * 2);
  const hs = Float32Array.from({ length: n * d }, (_, i) => Math.cos(i * 1.3) * 2);
  const feeds = {
    hb: new ort.Tensor('float32', hb, [n, d]),
    hs: new ort.Tensor('float32', hs, [n, d]),
    dmean: new ort.Tensor('float32', hb.slice(0, d), [1, d]),
    ...encodeBaseFeeds(d),
  };
  const a = await inline.run(feeds),
    b = await external.run(feeds);
  for (const name of ['err_b', 'sq_rs', 'dot_r', 'blkval_b', 'dpre'])
    assert.deepEqual([...(b[name].data as Float32Array)], [...(a[name].data as Float32Array)], name);
  assert.ok(
    (a.blkval_b.data as Float32Array).some((v) => v > 0),
    'some latent fires',
  );
  await inline.release();
  await external.release();
});

/** The same graph with its external initialisers in real files beside it, as ONNX's external-data format stores them. */
async function fileSession(graph: {
  model: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
}): Promise<ort.InferenceSession> {
  const folder = path.join(dir, 'external');
  fs.mkdirSync(folder, { recursive: true });
  for (const e of graph.externalData) fs.writeFileSync(path.join(folder, e.path), e.data);
  return ort.InferenceSession.create(graph.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    extra: { session: { model_external_initializers_file_folder_path: folder } },
  });
}

test('session memory: the arena is off for weights over 512 MB (no pre-packing either) and for half-precision models too large to hold twice in float32', () => {
  const cpu = { provider: 'cpu' as const, threads: 1 };
  const GB = 2 ** 30;
  const small = { model: new Uint8Array(0), externalData: [{ path: 'w.bin', data: new Uint8Array(4096) }] };
  const large = { model: new Uint8Array(0), externalData: [{ path: 'w.bin', data: { byteLength: PREPACK_MAX_BYTES + 1 } as Uint8Array }] };
  const arena = (o: ReturnType<typeof sessionOptions>) => [o.enableCpuMemArena, (o.extra as any)?.session?.disable_prepacking];
  assert.deepEqual(arena(sessionOptions(small, cpu)), [true, undefined]);
  assert.deepEqual(arena(sessionOptions(large, cpu)), [false, '1']);
  // a 1.1B fp16 model (2.2 GB of halves): base + fine-tune in float32 take 8.8 GB, kept on 24 GB, not on 16 GB
  const half = { halfWeightBytes: 2.2 * GB };
  assert.deepEqual(arena(sessionOptions(new Uint8Array(0), cpu, half, 24 * GB)), [true, undefined]);
  assert.deepEqual(arena(sessionOptions(new Uint8Array(0), cpu, half, 16 * GB)), [false, undefined]);
  assert.equal(halfWeightsKeepArena(2 * GB, 16 * GB), true, 'exactly half the memory');
  assert.equal(halfWeightsKeepArena(2 * GB + 1, 16 * GB), false);
  // on a GPU provider the half-precision products run natively: the CPU arena is left as it is
  assert.deepEqual(arena(sessionOptions(new Uint8Array(0), { provider: 'cuda', threads: 1 }, half, 16 * GB)), [true, undefined]);
});

test('large SAE weights on the CPU are graph inputs fed with every run: the same outputs, no copy in ONNX Runtime, arena and pre-packing off', async () => {
  const sae = loadSae(layer3);
  assert.deepEqual(saeGraphOptions({ provider: 'cpu', threads: 1 }).feedWeightsOver, PREPACK_MAX_BYTES);
  assert.equal(
    saeGraphOptions({ provider: 'webgpu', threads: 1 }).feedWeightsOver,
    undefined,
    'a GPU would upload fed weights on every run',
  );
  // the fixture SAE is 1 MB: a threshold of 0 feeds it as a 65k SAE would be fed
  const fed = buildProjectionGraph(sae, { feedWeightsOver: 0 });
  const kept = buildProjectionGraph(sae, { feedWeightsOver: 2 ** 30 });
  // every weight that would have been external data (1 KB and more) is fed
  assert.deepEqual(
    fed.weightInputs!.map((w) => [w.name, w.dims]),
    [
      ['W_enc', [sae.dIn, sae.dSae]],
      ['b_enc', [sae.dSae]],
      ['W_dec', [sae.dSae, sae.dIn]],
    ],
  );
  assert.equal(fed.weightInputs![0].data.buffer, sae.W_enc.buffer, 'a view of the weights, not a copy');
  // so the feature details may keep such an SAE at no cost (report/featureDetails.ts's keepLoadedSae)
  assert.equal(feedsArraysOf(fed, [sae.W_enc, sae.W_dec]), true);
  assert.equal(feedsArraysOf(kept, [sae.W_enc, sae.W_dec]), false, 'ONNX Runtime copies external data');
  // a width that is not a multiple of the code block is padded: the graph is fed copies, not the SAE's arrays
  // (the values are beside the point: only the shapes)
  const odd = {
    ...sae,
    dSae: sae.dSae - 1,
    W_enc: sae.W_enc.slice(0, sae.dIn * (sae.dSae - 1)),
    W_dec: sae.W_dec.slice(sae.dIn),
    b_enc: sae.b_enc.slice(1),
  };
  assert.equal(feedsArraysOf(buildProjectionGraph(odd, { feedWeightsOver: 0 }), [odd.W_enc, odd.W_dec]), false);
  assert.deepEqual(fed.externalData, []);
  assert.equal(kept.weightInputs, undefined);
  const options = sessionOptions(fed, { provider: 'cpu', threads: 1 });
  assert.deepEqual([options.enableCpuMemArena, (options.extra as any)?.session?.disable_prepacking], [true, undefined], '1 MB: small');
  const d = sae.dIn,
    n = 6;
  const feeds = {
    hb: new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * d }, (_, i) => Math.sin(i) * 2),
      [n, d],
    ),
    hs: new ort.Tensor(
      'float32',
      Float32Array.from({ length: n * d }, (_, i) => Math.cos(i * 1.3) * 2),
      [n, d],
    ),
    dmean: new ort.Tensor('float32', new Float32Array(d).fill(0.1), [1, d]),
    ...encodeBaseFeeds(d),
  };
  const a = await createSession(fed, { provider: 'cpu', threads: 1 }, 'fed');
  const b = await createSession(kept, { provider: 'cpu', threads: 1 }, 'kept');
  const [x, y] = [await a.run(feeds), await b.run(feeds)];
  // the same active blocks; values within float32 rounding (a fed matrix is multiplied unpacked, a small constant one pre-packed)
  assert.deepEqual(Array.from(x.blk_b.data as BigInt64Array), Array.from(y.blk_b.data as BigInt64Array));
  for (const name of ['err_b', 'sq_rs', 'dot_r', 'blkval_b', 'dpre']) {
    const [u, v] = [x[name].data as Float32Array, y[name].data as Float32Array];
    assert.equal(u.length, v.length, name);
    u.forEach((value, i) => assert.ok(Math.abs(value - v[i]) <= 1e-5 * Math.max(1, Math.abs(v[i])), `${name}[${i}]: ${value} vs ${v[i]}`));
  }
  await a.release();
  await b.release();
  const large = { ...fed, weightInputs: [{ name: 'W', data: { byteLength: PREPACK_MAX_BYTES + 1 } as Float32Array, dims: [1] }] };
  const largeOptions = sessionOptions(large, { provider: 'cpu', threads: 1 });
  assert.deepEqual([largeOptions.enableCpuMemArena, (largeOptions.extra as any)?.session?.disable_prepacking], [false, '1']);
});
