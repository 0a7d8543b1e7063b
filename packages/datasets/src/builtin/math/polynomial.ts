import { Rational } from './rational';

/** A polynomial in one variable with integer coefficients: `coefficients[k]` multiplies `x**k`. */
export type Polynomial = number[];

/** Removes trailing zero coefficients (the zero polynomial becomes `[]`). */
export function trim(p: Polynomial): Polynomial {
  const out = [...p];
  while (out.length > 0 && out[out.length - 1] === 0) out.pop();
  return out;
}

export function add(a: Polynomial, b: Polynomial): Polynomial {
  return trim(Array.from({ length: Math.max(a.length, b.length) }, (_, k) => (a[k] ?? 0) + (b[k] ?? 0)));
}

export function scale(p: Polynomial, factor: number): Polynomial {
  return trim(p.map((c) => c * factor));
}

export function multiply(a: Polynomial, b: Polynomial): Polynomial {
  if (a.length === 0 || b.length === 0) return [];
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => b.forEach((y, j) => (out[i + j] += x * y)));
  return trim(out);
}

export function derivative(p: Polynomial): Polynomial {
  return trim(p.slice(1).map((c, k) => c * (k + 1)));
}

export function evaluate(p: Polynomial, at: Rational): Rational {
  // Horner's rule from the highest power down
  let value = new Rational(0);
  for (let k = p.length - 1; k >= 0; k--) value = value.mul(at).add(p[k]);
  return value;
}

/** Degree of a non-zero polynomial (-1 for zero). */
export function degree(p: Polynomial): number {
  return trim(p).length - 1;
}

/** One term `c*x**k` without its sign, as DM Mathematics writes it (`3*x**2`, `x`, `7`). */
function termBody(magnitude: number, power: number, variable: string): string {
  if (power === 0) return String(magnitude);
  const base = power === 1 ? variable : `${variable}**${power}`;
  return magnitude === 1 ? base : `${magnitude}*${base}`;
}

/** Writes terms in the order given: `[[3, 2], [-1, 1], [5, 0]]` as `3*x**2 - x + 5`. */
export function formatTerms(terms: readonly [number, number][], variable: string): string {
  const nonZero = terms.filter(([c]) => c !== 0);
  if (nonZero.length === 0) return '0';
  return nonZero
    .map(([c, power], index) => {
      const body = termBody(Math.abs(c), power, variable);
      if (index === 0) return c < 0 ? `-${body}` : body;
      return c < 0 ? ` - ${body}` : ` + ${body}`;
    })
    .join('');
}

/** Writes a polynomial highest power first (`-3*d**4 + 2*d - 5`). */
export function formatPolynomial(p: Polynomial, variable: string): string {
  const terms: [number, number][] = [];
  for (let k = p.length - 1; k >= 0; k--) terms.push([p[k], k]);
  return formatTerms(terms, variable);
}

/** Writes a linear combination of named variables (`''` for the constant): `3*x - y + 5`. */
export function formatLinear(terms: readonly [number, string][]): string {
  const nonZero = terms.filter(([c]) => c !== 0);
  if (nonZero.length === 0) return '0';
  return nonZero
    .map(([c, name], index) => {
      const magnitude = Math.abs(c);
      const body = name === '' ? String(magnitude) : magnitude === 1 ? name : `${magnitude}*${name}`;
      if (index === 0) return c < 0 ? `-${body}` : body;
      return c < 0 ? ` - ${body}` : ` + ${body}`;
    })
    .join('');
}
