import assert from 'node:assert/strict';
import * as path from 'path';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import { checkActivations, checkSae } from '../src/engine/pipeline/kernelCheckData';
import { HISTOGRAM_EDGES } from '../src/engine/sae/histogramEdges';
import { bufferSource, fields } from '../src/engine/model/protobufFields';
import { loadSae } from '../src/engine/sae/loadSae';
import { buildReducedGraph } from '../src/engine/sae/reducedGraph';
import { buildProjectionGraph } from '../src/engine/sae/saeGraph';
import { FIXTURES } from './helpers/paths';
import { encodeDirect, encodeWithOrt, layer3Activations, maxAbsDiff } from './helpers/saeDirect';

const variants = path.join(FIXTURES, 'saes-variants');

for (const variant of ['jumprelu', 'topk', 'bf16', 'sparsify', 'gemmascope']) {
  test(`SAE variant ${variant}: ONNX Runtime encodings equal a direct computation (1e-5)`, async () => {
    const sae = loadSae(path.join(variants, variant));
    const { data, n } = await layer3Activations();
    const z = await encodeWithOrt(sae, data, n);
    assert.ok(maxAbsDiff(z, encodeDirect(sae, data, n)) <= 1e-5);
    assert.ok(
      z.some((v) => v > 0),
      'some features fire',
    );
  });
}

test('SAE variant architectures and layouts are read as documented', () => {
  const expect: Record<string, [string, string, boolean, number | undefined]> = {
    jumprelu: ['saelens', 'jumprelu', true, undefined],
    topk: ['saelens', 'topk', true, 16],
    bf16: ['saelens', 'standard', true, undefined],
    sparsify: ['sparsify', 'standard', true, undefined],
    gemmascope: ['gemmascope', 'jumprelu', false, undefined],
  };
  for (const [v, [format, arch, applyBDec, k]] of Object.entries(expect)) {
    const sae = loadSae(path.join(variants, v));
    assert.deepEqual([sae.format, sae.architecture, sae.applyBDecToInput, sae.kSae], [format, arch, applyBDec, k], v);
    assert.deepEqual([sae.dIn, sae.dSae], [128, 1024]);
  }
});

test('bf16 weights are the float32 layer-3 SAE rounded (differences within bf16 precision)', () => {
  const f32 = loadSae(path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post'));
  const bf16 = loadSae(path.join(variants, 'bf16'));
  const d = maxAbsDiff(f32.W_enc, bf16.W_enc);
  assert.ok(d > 0 && d <= 9.1e-3, `max diff ${d}`);
});

test('sparsify and Gemma Scope layouts give the latents of their SAELens twins', async () => {
  const { data, n } = await layer3Activations();
  const standard = await encodeWithOrt(loadSae(path.join(FIXTURES, 'saes', 'blocks.3.hook_resid_post')), data, n);
  const sparsify = await encodeWithOrt(loadSae(path.join(variants, 'sparsify')), data, n);
  assert.ok(maxAbsDiff(standard, sparsify) <= 1e-5);
  const jumprelu = await encodeWithOrt(loadSae(path.join(variants, 'jumprelu')), data, n);
  const gemmascope = await encodeWithOrt(loadSae(path.join(variants, 'gemmascope')), data, n);
  assert.ok(maxAbsDiff(jumprelu, gemmascope) <= 1e-5);
});

test('every initialiser of the SAE graphs is used, for every architecture and normalisation, top-k sets whole or in blocks, as masks or ids (ONNX Runtime warns on each unused one)', () => {
  for (const architecture of ['standard', 'jumprelu', 'topk', 'gated'] as const)
    for (const [normalization, width] of [
      ['none', 64],
      ['expected_average_only_in', 64],
      ['constant_norm_rescale', 64],
      ['layer_norm', 64],
      ['none', 2304],
    ] as const) {
      const sae = checkSae({ architecture, normalization, applyBDecToInput: true }, width);
      for (const [name, graph] of [
        ['projection', buildProjectionGraph(sae)],
        ['dense, top-k masks', buildReducedGraph(sae, HISTOGRAM_EDGES, {}, 'masks')],
        ['dense, top-k ids', buildReducedGraph(sae, HISTOGRAM_EDGES, {}, 'ids')],
      ] as const) {
        // encodeOnnxModel writes the graph twice (nodes, then initialisers) for protobuf to merge: read both
        const parts = [...fields(bufferSource(graph.model), 0, graph.model.length)]
          .filter((f) => f.number === 7)
          .map((f) => onnx.GraphProto.decode(graph.model.subarray(f.value, f.end)));
        const g = { node: parts.flatMap((p) => p.node), initializer: parts.flatMap((p) => p.initializer) };
        const used = new Set<string>();
        const visit = (nodes: onnx.INodeProto[]) =>
          nodes.forEach((n) => {
            n.input?.forEach((i) => used.add(i));
            n.attribute?.forEach((a) => a.g && visit(a.g.node ?? []));
          });
        visit(g.node);
        assert.ok(g.node.length > 10 && g.initializer.length > 3);
        const unused = g.initializer.map((i) => i.name!).filter((n) => !used.has(n));
        assert.deepEqual(unused, [], `${architecture} ${normalization} ${width} ${name}`);
      }
    }
});

test('a TopK SAE wider than 2048 latents (its top-k taken in blocks, the last padded) encodes as docs/metrics.md says, with the same firing set', async () => {
  const sae = checkSae({ architecture: 'topk', normalization: 'none', applyBDecToInput: true }, 3000);
  const n = 40;
  const x = (checkActivations().base.data as Float32Array).slice(0, n * sae.dIn);
  const z = await encodeWithOrt(sae, x, n);
  const direct = encodeDirect(sae, x, n);
  assert.ok(maxAbsDiff(z, direct) <= 1e-4, `max |z - direct| ${maxAbsDiff(z, direct)}`);
  const firing = (v: ArrayLike<number>) => Array.from(v, (e) => (e > 0 ? 1 : 0)).join('');
  assert.equal(firing(z), firing(direct));
  assert.equal(
    firing(z)
      .split('')
      .filter((c) => c === '1').length,
    n * (sae.kSae ?? 0),
    'k latents fire on every token',
  );
});
