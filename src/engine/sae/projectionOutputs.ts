/**
 * What a projector hands to the metrics layer: the SAE graphs' outputs for one chunk of tokens, and the
 * sink that accumulates them. Declared here, in sae/, so that the SAE layer never imports metrics/:
 * metrics/layerAccumulator.ts implements ProjectionSink.
 */
import type { DIM_OUTPUTS, SPARSE_OUTPUTS, TOKEN_OUTPUTS } from './saeGraph';

/** One output tensor as read back from ONNX Runtime (host memory). */
export interface OutputTensor {
  data: Float32Array | BigInt64Array | Int32Array;
  dims: readonly number[];
}

/** A graph's outputs by name (sae/saeGraph.ts for the sparse path, sae/reducedGraph.ts for the dense one). */
export interface ProjectionOutputs {
  [name: string]: OutputTensor;
}

/** A session's results as ProjectionOutputs (host tensors: the SAE graphs' outputs always come back to the host). */
export function toProjectionOutputs(out: Record<string, { data: unknown; dims: readonly number[] }>): ProjectionOutputs {
  const result: ProjectionOutputs = {};
  for (const [name, t] of Object.entries(out)) result[name] = { data: t.data as OutputTensor['data'], dims: t.dims };
  return result;
}

/** The sparse projection graph's outputs that the accumulator reads: the names saeGraph.ts declares. */
export type SparseOutputName = (typeof TOKEN_OUTPUTS)[number] | (typeof DIM_OUTPUTS)[number] | (typeof SPARSE_OUTPUTS)[number];

/** Where a projector puts one chunk of n evaluated tokens; rowSample/rowPosition say where each row came from. */
export interface ProjectionSink {
  /** Sparse graph outputs: per-token scalars and the active latents (LayerAccumulator.add). `k` is sae.k. */
  add(o: ProjectionOutputs, n: number, k: number, rowSample: Int32Array, rowPosition: Int32Array): void;
  /** Dense graph outputs, already reduced over the chunk's tokens. */
  addReduced(o: ProjectionOutputs, n: number, rowSample: Int32Array, rowPosition: Int32Array): void;
}
