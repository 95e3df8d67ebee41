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
   * Merges a batch's top tokens per feature: values/rows are [width, c] row-major (feature f's c best
   * tokens of the batch, best first); rowSample/rowPosition map a batch row to its token.
   */
  offerBatch(values: Float32Array, rows: BigInt64Array | Int32Array, c: number, rowSample: Int32Array, rowPosition: Int32Array): void {
    const m = this.width;
    for (let f = 0; f < m; f++) {
      for (let r = 0; r < c; r++) {
        const v = values[f * c + r];
        // sorted: once one candidate does not make the list, the rest will not either
        if (!(v > this.values[f * this.capacity + this.capacity - 1]) || !(v > 0)) break;
        const row = Number(rows[f * c + r]);
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
