/**
 * The highest activations of every feature, with where they happened: O(width x c) memory, fed with
 * every active latent; most are rejected by one comparison with the list's last entry.
 */
export class TopContexts {
  readonly values: Float32Array;
  readonly samples: Int32Array;
  readonly positions: Int32Array;

  constructor(
    readonly width: number,
    readonly capacity: number,
  ) {
    this.values = new Float32Array(width * capacity).fill(-Infinity);
    this.samples = new Int32Array(width * capacity).fill(-1);
    this.positions = new Int32Array(width * capacity).fill(-1);
  }

  /** Whether (value, sample, position) ranks above slot j: higher value first, then earlier token (a total order). */
  private ranksAbove(value: number, sample: number, position: number, j: number): boolean {
    const v = this.values[j];
    if (value !== v) return value > v;
    const s = this.samples[j];
    return s < 0 || sample < s || (sample === s && position < this.positions[j]);
  }

  /** Adds one candidate for a feature, keeping its list sorted by that order. */
  offer(feature: number, value: number, sample: number, position: number): void {
    if (!(value > 0) || this.capacity === 0) return;
    const base = feature * this.capacity;
    const last = base + this.capacity - 1;
    if (!this.ranksAbove(value, sample, position, last)) return;
    let i = last;
    while (i > base && this.ranksAbove(value, sample, position, i - 1)) {
      this.values[i] = this.values[i - 1];
      this.samples[i] = this.samples[i - 1];
      this.positions[i] = this.positions[i - 1];
      i--;
    }
    this.values[i] = value;
    this.samples[i] = sample;
    this.positions[i] = position;
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
