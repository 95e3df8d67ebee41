/**
 * The highest activations of every feature, with where they happened: O(width x c) memory,
 * fed from the projection graph's per-batch top tokens of each feature.
 */
export class TopContexts {
  readonly values: Float32Array;
  readonly samples: Int32Array;
  readonly positions: Int32Array;

  constructor(readonly width: number, readonly capacity: number) {
    this.values = new Float32Array(width * capacity).fill(-Infinity);
    this.samples = new Int32Array(width * capacity).fill(-1);
    this.positions = new Int32Array(width * capacity).fill(-1);
  }

  /** Adds one candidate for a feature, keeping its list sorted (highest first, earlier token on ties). */
  offer(feature: number, value: number, sample: number, position: number): void {
    if (!(value > 0) || this.capacity === 0) return;
    const base = feature * this.capacity;
    const last = base + this.capacity - 1;
    if (value <= this.values[last]) return;
    let i = last;
    while (i > base && this.values[i - 1] < value) {
      this.values[i] = this.values[i - 1];
      this.samples[i] = this.samples[i - 1];
      this.positions[i] = this.positions[i - 1];
      i--;
    }
    this.values[i] = value;
    this.samples[i] = sample;
    this.positions[i] = position;
  }

  /**
   * Merges a batch's top tokens per feature: values/rows are [c, width] row-major (row r holds each
   * feature's r-th best token of the batch); rowSample/rowPosition map a batch row to its token.
   */
  offerBatch(values: Float32Array, rows: BigInt64Array | Int32Array, c: number, rowSample: Int32Array, rowPosition: Int32Array): void {
    const m = this.width;
    for (let r = 0; r < c; r++) {
      for (let f = 0; f < m; f++) {
        const v = values[r * m + f];
        if (!(v > this.values[f * this.capacity + this.capacity - 1]) || !(v > 0)) continue;
        const row = Number(rows[r * m + f]);
        this.offer(f, v, rowSample[row], rowPosition[row]);
      }
    }
  }

  list(feature: number): { activation: number; sample: number; position: number }[] {
    const out = [];
    for (let i = 0; i < this.capacity; i++) {
      const j = feature * this.capacity + i;
      if (this.samples[j] < 0) break;
      out.push({ activation: this.values[j], sample: this.samples[j], position: this.positions[j] });
    }
    return out;
  }

  mergeFrom(other: TopContexts): void {
    for (let f = 0; f < this.width; f++) for (const e of other.list(f)) this.offer(f, e.activation, e.sample, e.position);
  }
}
