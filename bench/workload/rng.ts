import { SeededRandom } from '../../src/engine/core/seededRandom';

/**
 * Deterministic random weights: every tensor draws from its own stream, seeded by the workload seed and
 * the tensor's name, so a tensor can be generated (and regenerated) alone, in any order, in bounded memory.
 */

/** FNV-1a over the name, mixed with the seed. */
export function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The engine's mulberry32 (core/seededRandom.ts), with the distributions random weights need. */
export class Rng extends SeededRandom {
  private spare: number | undefined;

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spare !== undefined) {
      const v = this.spare;
      this.spare = undefined;
      return v;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform())),
      a = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }

  fillNormal(out: Float32Array, std: number, add = false): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = (add ? out[i] : 0) + this.normal() * std;
    return out;
  }

  /**
   * Zero-mean uniform values with the given standard deviation: one draw per value, several times faster
   * than normal() (a 1B-class model is 1.5 billion values); for random weights only the scale matters.
   */
  fillUniform(out: Float32Array, std: number, add = false): Float32Array {
    const width = std * Math.sqrt(12);
    for (let i = 0; i < out.length; i++) out[i] = (add ? out[i] : 0) + (this.uniform() - 0.5) * width;
    return out;
  }
}

/** float32 bits -> IEEE half bits, round to nearest even (the bits torch's .half() stores). */
function halfBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1),
      half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

const one = new Float32Array(1);
const oneBits = new Uint32Array(one.buffer);

export function toHalf(v: number): number {
  one[0] = v;
  return halfBits(oneBits[0]);
}

export function toHalfArray(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = halfBits(bits[i]);
  return out;
}
