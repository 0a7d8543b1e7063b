import { Draw, fill, phrase } from '../draw';
import { gcd, lcm, Rational } from '../rational';
import type { MathProblem } from '../types';

const PHRASES = {
  gcd: ['Calculate the greatest common divisor of {a} and {b}.', 'What is the highest common factor of {a} and {b}?', 'What is the greatest common factor of {a} and {b}?', 'Find the greatest common divisor of {a} and {b}.', 'Calculate the highest common divisor of {a} and {b}.', 'What is the gcd of {a} and {b}?'],
  lcm: ['What is the least common multiple of {a} and {b}?', 'Calculate the lowest common multiple of {a} and {b}.', 'Find the smallest common multiple of {a} and {b}.', 'What is the lcm of {a} and {b}?', 'Give the least common multiple of {a} and {b}.'],
  prime: ['Is {a} a prime number?', 'Is {a} prime?', 'Is {a} a composite number?', 'Is {a} composite?'],
  divides: ['Does {b} divide {a}?', 'Is {a} a multiple of {b}?', 'Is {a} divisible by {b}?', 'Is {b} a factor of {a}?', 'Is {b} a divisor of {a}?'],
  remainder: ['What is the remainder when {a} is divided by {b}?', 'Calculate the remainder when {a} is divided by {b}.', 'Find the remainder when {a} is divided by {b}.', 'What is the remainder of {a} divided by {b}?'],
  factors: ['List the prime factors of {a}.', 'What are the prime factors of {a}?', 'Find the prime factors of {a}.', 'Give the prime factors of {a}.'],
  round: ['Round {a} to the nearest {place}.', 'What is {a} rounded to the nearest {place}?', 'Round {a} to {places} decimal places.', 'What is {a} rounded to {places} dps?'],
  digit: ['What is the {place} digit of {a}?', 'What is the {place} digit in {a}?', 'Give the {place} digit of {a}.'],
  toBase: ['Convert {a} (base 10) to base {b}.', 'What is {a} in base {b}?', 'Write {a} (base 10) in base {b}.'],
  fromBase: ['What is {a} (base {b}) in base 10?', 'Convert {a} (base {b}) to base 10.', 'Write the base-{b} number {a} in base 10.'],
};

const PLACES = ['units', 'tens', 'hundreds', 'thousands', 'ten thousands'];
const ROUND_PLACES: [string, number][] = [['ten', 10], ['one hundred', 100], ['one thousand', 1000], ['100', 100], ['1000', 1000], ['10', 10]];
const DECIMAL_PLACES = ['one', 'two', 'three'];

/** Whether `n` is a prime, by trial division. */
export function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

/** Distinct prime factors of `n` in increasing order. */
export function primeFactors(n: number): number[] {
  const out: number[] = [];
  let rest = n;
  for (let d = 2; d * d <= rest; d++) {
    if (rest % d === 0) out.push(d);
    while (rest % d === 0) rest /= d;
  }
  if (rest > 1) out.push(rest);
  return out;
}

function problem(template: string, question: string, answer: string, ask: MathProblem['check'] & { kind: 'number' }): MathProblem {
  return { module: 'numbers', template, question, answer, check: ask };
}

/** Numbers: gcd, lcm, primality, divisibility, remainders, prime factors, rounding, place value, bases. */
export function numbersProblem(draw: Draw): MathProblem {
  const kind = draw.pick(['gcd', 'lcm', 'prime', 'divides', 'remainder', 'factors', 'round', 'digit', 'base'] as const);

  if (kind === 'gcd' || kind === 'lcm') {
    // a shared factor makes the answer non-trivial
    const common = draw.int(2, 40);
    const a = common * draw.int(1, 30);
    const b = common * draw.int(1, 30);
    const { text, index } = phrase(draw, PHRASES[kind]);
    return problem(`numbers/${kind}/${index}`, fill(text, { a: String(a), b: String(b) }), String(kind === 'gcd' ? gcd(a, b) : lcm(a, b)), { kind: 'number', ask: kind, args: [String(a), String(b)] });
  }

  if (kind === 'prime') {
    const a = draw.int(2, 5000);
    const { text, index } = phrase(draw, PHRASES.prime);
    const composite = text.includes('composite');
    return problem(`numbers/prime/${index}`, fill(text, { a: String(a) }), isPrime(a) !== composite ? 'True' : 'False', { kind: 'number', ask: 'is-prime', args: [String(a), composite ? 'composite' : 'prime'] });
  }

  if (kind === 'divides' || kind === 'remainder') {
    const b = draw.int(2, 40);
    const a = kind === 'divides' && draw.chance(0.5) ? b * draw.int(2, 300) : draw.int(b + 1, 12000);
    const { text, index } = phrase(draw, PHRASES[kind]);
    const answer = kind === 'divides' ? (a % b === 0 ? 'True' : 'False') : String(a % b);
    return problem(`numbers/${kind}/${index}`, fill(text, { a: String(a), b: String(b) }), answer, { kind: 'number', ask: kind, args: [String(a), String(b)] });
  }

  if (kind === 'factors') {
    const a = draw.int(12, 20000);
    const { text, index } = phrase(draw, PHRASES.factors);
    return problem(`numbers/prime-factors/${index}`, fill(text, { a: String(a) }), primeFactors(a).join(', '), { kind: 'number', ask: 'prime-factors', args: [String(a)] });
  }

  if (kind === 'round') {
    const { text, index } = phrase(draw, PHRASES.round);
    if (text.includes('{place}')) {
      const [place, unit] = draw.pick(ROUND_PLACES);
      let a = draw.signed(999999);
      while (Math.abs(a) % unit === unit / 2) a += 1; // no ties, so the rounding rule never matters
      const rounded = Math.sign(a) * Math.round(Math.abs(a) / unit) * unit + 0;
      return problem(`numbers/round/${index}/${unit}`, fill(text, { a: String(a), place }), String(rounded), { kind: 'number', ask: 'round', args: [String(a), String(unit)] });
    }
    const places = draw.int(1, 3);
    const scale = 10 ** places;
    let a = draw.decimal(draw.pick([1, 10, 1000]), places + 3);
    while (a.mul(scale).isInteger() || a.mul(scale).abs().den === 2) a = draw.decimal(10, places + 3);

    // exact: round |a| * 10^places half up (no ties occur), then restore the sign
    const scaled = a.mul(scale).abs();
    const rounded = new Rational(Math.sign(a.num) * Math.floor((2 * scaled.num + scaled.den) / (2 * scaled.den)), scale);
    return problem(
      `numbers/round/${index}/decimal`,
      fill(text, { a: a.toDecimal()!, places: DECIMAL_PLACES[places - 1] }),
      rounded.toDecimal()!,
      { kind: 'number', ask: 'round', args: [a.toDecimal()!, `1/${scale}`] },
    );
  }

  if (kind === 'digit') {
    const position = draw.int(0, 4);
    const a = draw.int(10 ** position, 9999999);
    const { text, index } = phrase(draw, PHRASES.digit);
    const digit = Math.floor(a / 10 ** position) % 10;
    return problem(`numbers/digit/${index}/${position}`, fill(text, { a: String(a), place: PLACES[position] }), String(digit), { kind: 'number', ask: 'digit', args: [String(a), String(position)] });
  }

  const base = draw.pick([2, 3, 4, 5, 6, 7, 8, 9, 16]);
  const a = draw.int(2, 5000);
  if (draw.chance(0.5)) {
    const { text, index } = phrase(draw, PHRASES.toBase);
    return problem(`numbers/to-base/${index}/${base}`, fill(text, { a: String(a), b: String(base) }), a.toString(base), { kind: 'number', ask: 'to-base', args: [String(a), String(base)] });
  }
  const { text, index } = phrase(draw, PHRASES.fromBase);
  return problem(`numbers/from-base/${index}/${base}`, fill(text, { a: a.toString(base), b: String(base) }), String(a), { kind: 'number', ask: 'from-base', args: [a.toString(base), String(base)] });
}
