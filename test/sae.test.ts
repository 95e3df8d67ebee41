import assert from 'node:assert/strict';
import * as path from 'path';
import { test } from 'node:test';
import { onnx } from 'onnx-proto';
import { checkSae } from '../src/engine/pipeline/kernelCheckData';
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

test('every initialiser of the SAE graphs is used, for every architecture and normalisation (ONNX Runtime warns on each unused one)', () => {
  for (const architecture of ['standard', 'jumprelu', 'topk', 'gated'] as const)
    for (const normalization of ['none', 'expected_average_only_in', 'constant_norm_rescale', 'layer_norm'] as const) {
      const sae = checkSae({ architecture, normalization, applyBDecToInput: true }, 64);
      for (const [name, graph] of [
        ['projection', buildProjectionGraph(sae)],
        ['dense', buildReducedGraph(sae, HISTOGRAM_EDGES)],
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
        assert.deepEqual(unused, [], `${architecture} ${normalization} ${name}`);
      }
    }
});
