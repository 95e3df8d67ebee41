import { WEBGPU_WORKGROUP_SORT_MAX } from '../runtime/webgpuOptions';
import { FLOAT, type GraphOps, int, LOWEST_FLOAT32, topK } from './graphBuilder';

/**
 * Each row's top-k set as a float mask [n, m]: 1 where feature f is among the k largest codes of row t
 * (ties to the lower index, as ONNX TopK and docs/metrics.md break them) and its code is above 0, else 0.
 * `k` names an int64 [1] tensor with 1 <= k <= m.
 *
 * Up to WEBGPU_WORKGROUP_SORT_MAX columns: one TopK, its set scattered into a zero mask. Wider: two levels,
 * so that no TopK sorts more columns than a WebGPU workgroup holds. TopK within blocks of that many
 * columns (the last padded with the lowest float), then TopK over the blocks' candidates, in block order.
 * The global top-k lies among the candidates (each of its members is in its own block's top-k), and among
 * equal values the candidates stand in original index order (lower block first, then lower index within
 * the block), so the second TopK picks the set the one-level TopK would. The chosen candidates are
 * scattered back into their blocks.
 */
export function addTopKMembership(g: GraphOps, z: string, k: string, m: number, tag: string): string {
  const zero = g.floats(`${tag}_zero`, Float32Array.of(0), []);
  const positive = (values: string) => g.one('Cast', [g.one('Greater', [values, zero])], [int('to', FLOAT)]);
  // zeros shaped like `like`: Expand writes them in one pass (Mul by 0 read `like` as well)
  const scatter = (like: string, indices: string, updates: string, axis: number) =>
    g.one('ScatterElements', [g.one('Expand', [zero, g.one('Shape', [like])]), indices, updates], [int('axis', axis)]);

  const block = WEBGPU_WORKGROUP_SORT_MAX;
  if (m <= block) {
    const [v, i] = topK(g, z, k, 1);
    return scatter(z, i, positive(v), 1);
  }
  const blocks = Math.ceil(m / block);
  const pad = blocks * block - m;
  const padded = pad
    ? g.one('Pad', [z, g.ints(`${tag}_pads`, [0, 0, 0, pad]), g.floats(`${tag}_pad_value`, Float32Array.of(LOWEST_FLOAT32), [])])
    : z;
  const inBlocks = g.one('Reshape', [padded, g.ints(`${tag}_blocks_shape`, [0, blocks, block])]);
  // k per block: all of k, or the whole block when k is larger
  const kBlock = g.one('Min', [k, g.ints(`${tag}_block`, [block])]);
  const [v1, i1] = topK(g, inBlocks, kBlock, 2);
  const rowShape = g.ints(`${tag}_row_shape`, [0, -1]);
  const candidates = g.one('Reshape', [v1, rowShape]);
  const [v2, i2] = topK(g, candidates, k, 1);
  const chosen = g.one('Reshape', [scatter(candidates, i2, positive(v2), 1), g.one('Shape', [v1])]);
  const mask = g.one('Reshape', [scatter(inBlocks, i1, chosen, 2), rowShape]);
  return pad
    ? g.one('Slice', [mask, g.ints(`${tag}_slice_start`, [0]), g.ints(`${tag}_slice_end`, [m]), g.ints(`${tag}_slice_axis`, [1])])
    : mask;
}
