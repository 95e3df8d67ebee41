import type { TokenBatch } from '../model/runner';

export interface PlannedBatch extends TokenBatch {
  /** Dataset index of each row. */
  samples: number[];
}

/**
 * Groups sequences into right-padded batches. Sequences are ordered by length first so that a batch
 * holds similar lengths and little padding is computed; metrics are sums, so order does not matter.
 */
export function planBatches(sequences: number[][], batchSize: number, padId: number, only?: number[]): PlannedBatch[] {
  const order = (only ?? sequences.map((_, i) => i)).slice().sort((a, b) => sequences[b].length - sequences[a].length || a - b);
  const batches: PlannedBatch[] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    // within a batch, rows follow dataset order: ONNX TopK breaks ties by lower row, which is then the
    // earlier token, the same tie rule the context lists use, so sharded and single runs pick the same contexts
    const samples = order.slice(start, start + batchSize).sort((a, b) => a - b);
    const seq = Math.max(...samples.map((s) => sequences[s].length));
    const ids = new Int32Array(samples.length * seq).fill(padId);
    const mask = new Uint8Array(samples.length * seq);
    samples.forEach((s, r) => {
      const toks = sequences[s];
      for (let c = 0; c < toks.length; c++) {
        ids[r * seq + c] = toks[c];
        mask[r * seq + c] = 1;
      }
    });
    batches.push({ batch: samples.length, seq, ids, mask, samples });
  }
  return batches;
}

/** The evaluated token set T of a batch: (row, position) with mask 1, position 0 excluded when excludeBos. */
export function evaluatedRows(b: PlannedBatch, excludeBos: boolean): { flat: Int32Array; sample: Int32Array; position: Int32Array } {
  const flat: number[] = [],
    sample: number[] = [],
    position: number[] = [];
  for (let r = 0; r < b.batch; r++) {
    for (let c = excludeBos ? 1 : 0; c < b.seq; c++) {
      if (!b.mask[r * b.seq + c]) continue;
      flat.push(r * b.seq + c);
      sample.push(b.samples[r]);
      position.push(c);
    }
  }
  return { flat: Int32Array.from(flat), sample: Int32Array.from(sample), position: Int32Array.from(position) };
}

/** |T| of a batch (evaluatedRows' length) without building the rows. */
export function evaluatedTokenCount(b: PlannedBatch, excludeBos: boolean): number {
  let n = 0;
  for (let r = 0; r < b.batch; r++) for (let c = excludeBos ? 1 : 0; c < b.seq; c++) n += b.mask[r * b.seq + c] ? 1 : 0;
  return n;
}

/** Copies the rows of T out of a [batch*seq, hidden] activation tensor into a dense [|T|, hidden] one. */
export function gatherRows(src: Float32Array, hidden: number, rows: Int32Array, from = 0, to = rows.length): Float32Array {
  const out = new Float32Array((to - from) * hidden);
  for (let i = from; i < to; i++) out.set(src.subarray(rows[i] * hidden, rows[i] * hidden + hidden), (i - from) * hidden);
  return out;
}

/** The i-th of n contiguous slices of the dataset (0-based), as dataset indices. */
export function shardSamples(total: number, shard?: { index: number; count: number }): number[] {
  const from = shard ? Math.floor((shard.index * total) / shard.count) : 0;
  const to = shard ? Math.floor(((shard.index + 1) * total) / shard.count) : total;
  return Array.from({ length: to - from }, (_, i) => from + i);
}
