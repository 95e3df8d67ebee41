import { WEBGPU_WORKGROUP_SORT_MAX } from '../runtime/webgpuOptions';
import { FLOAT, type GraphOps, int, LOWEST_FLOAT32, topK } from './graphBuilder';

/**
 * How the dense graph compares two top-k sets: as [n, m] masks (addTopKMembership), or as the k feature ids of
 * each row compared pairwise ([n, k, k], addTopKIds). The ids read and write fewer numbers when k^2 <= m (k 64
 * against a 16,384-wide SAE: a quarter of one [n, m] pass, where the masks write and read about ten); both give
 * the same sets, so the choice is speed alone.
 */
export type TopKSets = 'ids' | 'masks';

export function topKSetsFor(k: number, m: number): TopKSets {
  return k * k <= m ? 'ids' : 'masks';
}

/**
 * Each row's top k (ties to the lower index, as ONNX TopK and docs/metrics.md break them): their values [n, k] in
 * TopK order, their indices, and `ids()`, which adds their feature ids as float32 [n, k] (exact below 2^24) to the
 * graph when asked; with two levels, also the pieces addTopKMembership scatters back. `k` names an int64 [1] tensor
 * with 1 <= k <= m.
 *
 * Up to WEBGPU_WORKGROUP_SORT_MAX columns: one TopK. Wider: two levels, so that no TopK sorts more columns than a
 * WebGPU workgroup holds. TopK within blocks of that many columns (the last padded with the lowest float), then
 * TopK over the blocks' candidates, in block order. The global top-k lies among the candidates (each of its
 * members is in its own block's top-k), and among equal values the candidates stand in original index order
 * (lower block first, then lower index within the block), so the second TopK picks the set the one-level TopK
 * would. Feature ids travel as float32 gathered from a table (no int64 arithmetic, which WebGPU leaves to the CPU).
 */
function topKLevels(g: GraphOps, z: string, k: string, m: number, tag: string) {
  const block = WEBGPU_WORKGROUP_SORT_MAX;
  const idTable = (size: number) =>
    g.floats(
      `${tag}_ids`,
      Float32Array.from({ length: size }, (_, i) => i),
      [size],
    );
  if (m <= block) {
    const [values, indices] = topK(g, z, k, 1);
    return { values, indices, ids: () => g.one('Gather', [idTable(m), indices], [int('axis', 0)]), levels: 1 as const };
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
  const [values, i2] = topK(g, candidates, k, 1);
  const ids = () => {
    const offsets = g.floats(
      `${tag}_block_offsets`,
      Float32Array.from({ length: blocks }, (_, b) => b * block),
      [1, blocks, 1],
    );
    const candidateIds = g.one('Reshape', [g.one('Add', [g.one('Gather', [idTable(block), i1], [int('axis', 0)]), offsets]), rowShape]);
    return g.one('GatherElements', [candidateIds, i2], [int('axis', 1)]);
  };
  return { values, indices: i2, ids, levels: 2 as const, inBlocks, i1, v1, candidates, rowShape, pad };
}

/**
 * Each row's top-k set as the feature ids of its members [n, k] float32, those whose code is not above 0 (fewer
 * than k active) replaced by `absent` (a negative number, different for the two sets a graph compares, so that
 * absent members never match).
 */
export function addTopKIds(g: GraphOps, z: string, k: string, m: number, tag: string, absent: number): string {
  const { values, ids } = topKLevels(g, z, k, m, tag);
  const above = g.one('Greater', [values, g.floats(`${tag}_zero`, Float32Array.of(0), [])]);
  return g.one('Where', [above, ids(), g.floats(`${tag}_absent`, Float32Array.of(absent), [])]);
}

/**
 * Each row's top-k set as a float mask [n, m]: 1 where feature f is among the k largest codes of row t
 * (ties to the lower index, as ONNX TopK and docs/metrics.md break them) and its code is above 0, else 0.
 * `k` names an int64 [1] tensor with 1 <= k <= m. The levels are topKLevels'; the chosen candidates are
 * scattered back into their blocks.
 */
export function addTopKMembership(g: GraphOps, z: string, k: string, m: number, tag: string): string {
  const zero = g.floats(`${tag}_zero`, Float32Array.of(0), []);
  const positive = (values: string) => g.one('Cast', [g.one('Greater', [values, zero])], [int('to', FLOAT)]);
  // zeros shaped like `like`: Expand writes them in one pass (Mul by 0 read `like` as well)
  const scatter = (like: string, indices: string, updates: string, axis: number) =>
    g.one('ScatterElements', [g.one('Expand', [zero, g.one('Shape', [like])]), indices, updates], [int('axis', axis)]);

  const top = topKLevels(g, z, k, m, tag);
  if (top.levels === 1) return scatter(z, top.indices, positive(top.values), 1);
  const { inBlocks, i1, v1, candidates, rowShape, pad } = top;
  const chosen = g.one('Reshape', [scatter(candidates, top.indices, positive(top.values), 1), g.one('Shape', [v1])]);
  const mask = g.one('Reshape', [scatter(inBlocks, i1, chosen, 2), rowShape]);
  return pad
    ? g.one('Slice', [mask, g.ints(`${tag}_slice_start`, [0]), g.ints(`${tag}_slice_end`, [m]), g.ints(`${tag}_slice_axis`, [1])])
    : mask;
}
