import { InvalidInputError } from '@modularevo/core-tensor';

/** Greatest common divisor of two integers (always non-negative). */
export function gcd(a: number, b: number): number {
  let x = Math.abs(a);
  let y = Math.abs(b);
  while (y !== 0) [x, y] = [y, x % y];
  return x;
}

/** Least common multiple of two non-zero integers. */
export function lcm(a: number, b: number): number {
  return Math.abs(a / gcd(a, b) * b);
}

/**
 * An exact fraction in lowest terms with a positive denominator. Numerator and denominator
 * stay JavaScript safe integers; an operation that would leave that range throws, so no
 * answer is ever rounded.
 */
export class Rational {
  readonly num: number;
  readonly den: number;

  constructor(num: number, den = 1) {
    if (!Number.isSafeInteger(num) || !Number.isSafeInteger(den) || den === 0) {
      throw new InvalidInputError(`Invalid fraction ${num}/${den}: use safe integers and a non-zero denominator`);
    }
    const divisor = gcd(num, den) || 1;
    const sign = den < 0 ? -1 : 1;
    this.num = (sign * num) / divisor + 0;
    this.den = (sign * den) / divisor;
  }

  static of(value: number | Rational): Rational {
    return value instanceof Rational ? value : new Rational(value);
  }

  /** Parses `-3`, `3/4`, `-0.25` or `1e-3`-free decimals such as `12.5`. */
  static parse(text: string): Rational {
    const trimmed = text.trim();
    const fraction = /^(-?\d+)\/(-?\d+)$/.exec(trimmed);
    if (fraction) return new Rational(Number(fraction[1]), Number(fraction[2]));

    const decimal = /^(-?)(\d+)(?:\.(\d+))?$/.exec(trimmed);
    if (!decimal) throw new InvalidInputError(`Invalid number "${text}": use an integer, a fraction a/b or a decimal`);
    const digits = decimal[3] ?? '';
    const magnitude = new Rational(Number(decimal[2] + digits), 10 ** digits.length);
    return decimal[1] === '-' ? magnitude.neg() : magnitude;
  }

  add(other: number | Rational): Rational {
    const o = Rational.of(other);
    return new Rational(this.num * o.den + o.num * this.den, this.den * o.den);
  }

  sub(other: number | Rational): Rational {
    return this.add(Rational.of(other).neg());
  }

  mul(other: number | Rational): Rational {
    const o = Rational.of(other);
    return new Rational(this.num * o.num, this.den * o.den);
  }

  div(other: number | Rational): Rational {
    const o = Rational.of(other);
    if (o.num === 0) throw new InvalidInputError('Division by zero in a generated math problem');
    return new Rational(this.num * o.den, this.den * o.num);
  }

  neg(): Rational {
    return new Rational(-this.num, this.den);
  }

  abs(): Rational {
    return new Rational(Math.abs(this.num), this.den);
  }

  /** Raises to a non-negative integer power. */
  pow(exponent: number): Rational {
    let result = new Rational(1);
    for (let i = 0; i < exponent; i++) result = result.mul(this);
    return result;
  }

  /** Negative, zero or positive as this is less than, equal to or greater than `other`. */
  compare(other: number | Rational): number {
    const o = Rational.of(other);
    return Math.sign(this.num * o.den - o.num * this.den);
  }

  equals(other: number | Rational): boolean {
    return this.compare(other) === 0;
  }

  isInteger(): boolean {
    return this.den === 1;
  }

  toNumber(): number {
    return this.num / this.den;
  }

  /** `-3`, or `-3/4` for a non-integer, as DeepMind Mathematics writes fractions. */
  toString(): string {
    return this.den === 1 ? String(this.num) : `${this.num}/${this.den}`;
  }

  /**
   * The exact decimal form (`-0.0157`), or undefined when the denominator has a prime factor
   * other than 2 and 5 (the decimal would not end).
   */
  toDecimal(): string | undefined {
    let den = this.den;
    let places = 0;
    let scale = 1;
    while (den % 10 === 0) [den, places] = [den / 10, places + 1];
    while (den % 2 === 0) [den, places, scale] = [den / 2, places + 1, scale * 5];
    while (den % 5 === 0) [den, places, scale] = [den / 5, places + 1, scale * 2];
    if (den !== 1) return undefined;

    // num / this.den = num * scale / 10^places
    const scaled = Math.abs(this.num) * scale;
    if (!Number.isSafeInteger(scaled)) throw new InvalidInputError(`Decimal of ${this.toString()} exceeds the safe integer range`);
    const digits = String(scaled).padStart(places + 1, '0');
    const whole = digits.slice(0, digits.length - places);
    const fraction = digits.slice(digits.length - places);
    return `${this.num < 0 ? '-' : ''}${whole}${places > 0 ? `.${fraction}` : ''}`;
  }
}
