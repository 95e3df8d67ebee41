/**
 * mulberry32: a small, fast, deterministic generator, good enough for synthetic weights and data (not for
 * cryptography). The bench's workloads and the provider check's data come from it, so both are fixed by
 * their seeds.
 */
export class SeededRandom {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  integer(lo: number, hi: number): number {
    return lo + Math.floor(this.uniform() * (hi - lo + 1));
  }
}
