import { WEBGPU_WORKGROUP_SORT_MAX } from '../runtime/webgpuOptions';
import { FLOAT, type GraphOps, int, INT32, LOWEST_FLOAT32, topK } from './graphBuilder';

/**
 * Tokens per block of the first level. ONNX Runtime's TopK sorts a whole padded row with a bitonic network
 * (log2 P (log2 P + 1) / 2 steps over P elements): one sort over a chunk's 2048 tokens takes 66 steps of
 * 1024 compare-exchanges per feature, blocks of 64 take 21 steps of 32 in each of 32 blocks, 3x less work.
 */
export const CONTEXT_BLOCK_TOKENS = 64;

/**
 * The most tokens per SAE chunk on WebGPU that keeps both levels' sorts in workgroup memory: the blocks' candidates,
 * min(k_ctx, block) per block, at most WEBGPU_WORKGROUP_SORT_MAX (26,176 tokens at the default 5 contexts).
 */
export function contextChunkCap(contexts: number): number {
  const perBlock = Math.min(Math.max(1, contexts), CONTEXT_BLOCK_TOKENS);
  return Math.floor(WEBGPU_WORKGROUP_SORT_MAX / perBlock) * CONTEXT_BLOCK_TOKENS;
}

/**
 * Each feature's k_ctx highest codes over the chunk's n tokens, and the rows (tokens) they come from, in the
 * order TopK gives them (value descending, ties to the earlier row, the order metrics/topContexts.ts uses):
 * values [k_ctx, m] float32 and rows [k_ctx, m] int32, into the tensors named by `out`.
 * `kCtx` names an int64 [1] tensor with 1 <= k_ctx <= n.
 *
 * Two levels: the rows are padded (lowest float) to whole blocks of CONTEXT_BLOCK_TOKENS, each block's top
 * min(k_ctx, block) are its candidates, and the top k_ctx of the candidates, kept in block order, are the
 * result. Every member of the result is among its own block's top, and among equal values the candidates
 * stand in row order (earlier block first, then earlier row within the block), so the second TopK picks what
 * one TopK over all rows would. Row numbers travel as float32 (exact below 2^24), gathered with the values, so
 * that no int64 arithmetic, which WebGPU leaves to the CPU, touches a [*, m] tensor.
 */
export function addContextCandidates(g: GraphOps, z: string, kCtx: string, tag: string, out: { values: string; rows: string }): void {
  const block = CONTEXT_BLOCK_TOKENS;
  const blockInt = g.ints(`${tag}_block`, [block]);
  const zeroInt = g.ints(`${tag}_zero`, [0]);
  const n = g.one('Slice', [g.one('Shape', [z]), zeroInt, g.ints(`${tag}_one`, [1])]);
  const padRows = g.one('Mod', [g.one('Sub', [blockInt, g.one('Mod', [n, blockInt])]), blockInt]);
  const padded = g.one('Pad', [
    z,
    g.one('Concat', [zeroInt, zeroInt, padRows, zeroInt], [int('axis', 0)]),
    g.floats(`${tag}_lowest`, Float32Array.of(LOWEST_FLOAT32), []),
  ]);
  const m = g.one('Slice', [g.one('Shape', [z]), g.ints(`${tag}_one_b`, [1]), g.ints(`${tag}_two`, [2])]);
  const inBlocks = g.one('Reshape', [padded, g.one('Concat', [g.ints(`${tag}_minus_one`, [-1]), blockInt, m], [int('axis', 0)])]);

  // first level: each block's top min(k_ctx, block), with its rows (local row + the block's first row)
  const [v1, i1] = topK(g, inBlocks, g.one('Min', [kCtx, blockInt]), 1);
  const localRows = g.floats(
    `${tag}_local_rows`,
    Float32Array.from({ length: block }, (_, r) => r),
    [block],
  );
  const blocks = g.one('Div', [g.one('Add', [n, padRows]), blockInt]);
  const firstRows = g.one('Reshape', [
    g.one('Mul', [
      g.one('Range', [
        g.floats(`${tag}_range_start`, Float32Array.of(0), []),
        g.one('Cast', [g.one('Squeeze', [blocks, zeroInt])], [int('to', FLOAT)]),
        g.floats(`${tag}_range_step`, Float32Array.of(1), []),
      ]),
      g.floats(`${tag}_block_f`, Float32Array.of(block), []),
    ]),
    g.ints(`${tag}_offsets_shape`, [-1, 1, 1]),
  ]);
  const rows1 = g.one('Add', [g.one('Gather', [localRows, i1], [int('axis', 0)]), firstRows]);

  // second level over the candidates, in block order
  const candidateShape = g.one('Concat', [g.ints(`${tag}_minus_one_b`, [-1]), m], [int('axis', 0)]);
  const [values, i2] = topK(g, g.one('Reshape', [v1, candidateShape]), kCtx, 0);
  const rows = g.one('GatherElements', [g.one('Reshape', [rows1, candidateShape]), i2], [int('axis', 0)]);
  g.one('Identity', [values], [], out.values);
  g.one('Cast', [rows], [int('to', INT32)], out.rows);
}
