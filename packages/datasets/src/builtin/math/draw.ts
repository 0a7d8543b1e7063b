import type { Rng } from '@modularevo/core-tensor';

import { Rational } from './rational';

/** Random choices shared by the problem modules; every draw comes from the seeded stream. */
export class Draw {
  constructor(readonly rng: Rng) {}

  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + this.rng.int(high - low + 1);
  }

  /** A non-zero integer in [-limit, limit]. */
  nonZero(limit: number): number {
    const magnitude = this.int(1, limit);
    return this.rng.bernoulli(0.5) ? -magnitude : magnitude;
  }

  /** An integer in [-limit, limit], zero included. */
  signed(limit: number): number {
    return this.int(-limit, limit);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.rng.int(items.length)];
  }

  /** Index of the chosen item, for template ids. */
  pickIndex(count: number): number {
    return this.rng.int(count);
  }

  chance(p: number): boolean {
    return this.rng.bernoulli(p);
  }

  /** A decimal with 1 to `maxPlaces` places and magnitude below `limit`, never an integer. */
  decimal(limit: number, maxPlaces: number): Rational {
    const places = this.int(1, maxPlaces);
    const scale = 10 ** places;
    let scaled = 0;
    while (scaled % 10 === 0) scaled = this.int(-limit * scale + 1, limit * scale - 1);
    return new Rational(scaled, scale);
  }

  /** A proper or improper fraction with denominator in [2, maxDen], never an integer. */
  fraction(maxNum: number, maxDen: number): Rational {
    for (;;) {
      const value = new Rational(this.nonZero(maxNum), this.int(2, maxDen));
      if (!value.isInteger()) return value;
    }
  }

  /** `count` distinct items of `items`, in random order. */
  sample<T>(items: readonly T[], count: number): T[] {
    return this.rng.shuffle([...items]).slice(0, count);
  }

  /** A lower-case variable name, skipping `e`, `i`, `l` and `o` (constants and look-alikes). */
  variable(): string {
    return this.pick('abcdfghjkmnpqrstuvwxyz'.split(''));
  }

  /** A function name (`f`, `g`, `h` or another letter) that is none of `taken`. */
  functionName(taken: readonly string[]): string {
    for (;;) {
      const name = this.pick('fghjkmnpqrstuvwz'.split(''));
      if (!taken.includes(name)) return name;
    }
  }
}

/** A phrasing picked at random, with its index for the template id. */
export function phrase(draw: Draw, phrasings: readonly string[]): { text: string; index: number } {
  const index = draw.pickIndex(phrasings.length);
  return { text: phrasings[index], index };
}

/** Replaces `{name}` placeholders. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`math template "${template}" has no value for {${name}}`);
    return values[name];
  });
}

/** Writes a number as an operand: negative numbers in brackets where DM Mathematics puts them. */
export function operand(value: Rational | number, style: 'plain' | 'bracketed' = 'plain'): string {
  const r = Rational.of(value);
  const text = r.toDecimal() ?? r.toString();
  return style === 'bracketed' && r.num < 0 ? `(${text})` : text;
}

/** Writes a number in the form an answer takes: decimal when it ends, else a fraction. */
export function answerOf(value: Rational, form: 'decimal' | 'fraction'): string {
  return form === 'decimal' ? (value.toDecimal() ?? value.toString()) : value.toString();
}

/** English words for small counts. */
export const COUNT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
