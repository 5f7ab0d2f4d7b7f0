/**
 * Seeded random streams. Randomness in a simulation comes only from here: one root seed, split
 * into independent named streams (one per domain, one per device, ...), so adding a stream or
 * drawing more numbers from one never perturbs another.
 */
import prand from 'pure-rand';

/** FNV-1a over the stream name, mixed with the root seed: a stable 32-bit stream seed. */
function streamSeed(root: number, name: string): number {
  let h = 0x811c9dc5 ^ (root >>> 0);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= root >>> 16;
  return Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
}

export class Rng {
  private g: prand.RandomGenerator;

  constructor(seed: number) {
    this.g = prand.xoroshiro128plus(seed | 0);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  int(lo: number, hi: number): number {
    const [v, next] = prand.uniformIntDistribution(lo, hi, this.g);
    this.g = next;
    return v;
  }

  /** Uniform float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return this.int(0, 0xffffffff) / 0x100000000;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)];
  }
}

export class RngStreams {
  private streams = new Map<string, Rng>();

  constructor(readonly seed: number) {}

  /** The stream with this name; created on first use, deterministic in (seed, name). */
  stream(name: string): Rng {
    let r = this.streams.get(name);
    if (!r) {
      r = new Rng(streamSeed(this.seed, name));
      this.streams.set(name, r);
    }
    return r;
  }
}
