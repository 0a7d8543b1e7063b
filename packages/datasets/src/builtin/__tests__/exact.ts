/**
 * Exact fractions on BigInt and a small parser for the Python-syntax expressions of the math
 * problems. Kept apart from the generator's own `Rational` so that the checks recompute
 * answers by another route.
 */
export interface Fraction {
  n: bigint;
  d: bigint;
}

function bigGcd(a: bigint, b: bigint): bigint {
  let [x, y] = [a < 0n ? -a : a, b < 0n ? -b : b];
  while (y !== 0n) [x, y] = [y, x % y];
  return x;
}

export function frac(n: bigint | number, d: bigint | number = 1n): Fraction {
  let [num, den] = [BigInt(n), BigInt(d)];
  if (den === 0n) throw new Error('division by zero');
  if (den < 0n) [num, den] = [-num, -den];
  const g = bigGcd(num, den) || 1n;
  return { n: num / g, d: den / g };
}

export const plus = (a: Fraction, b: Fraction) => frac(a.n * b.d + b.n * a.d, a.d * b.d);
export const minus = (a: Fraction, b: Fraction) => frac(a.n * b.d - b.n * a.d, a.d * b.d);
export const times = (a: Fraction, b: Fraction) => frac(a.n * b.n, a.d * b.d);
export const over = (a: Fraction, b: Fraction) => frac(a.n * b.d, a.d * b.n);
export const same = (a: Fraction, b: Fraction) => a.n === b.n && a.d === b.d;
export const cmp = (a: Fraction, b: Fraction) => Number(Math.sign(Number(a.n * b.d - b.n * a.d)));
export const show = (a: Fraction) => (a.d === 1n ? `${a.n}` : `${a.n}/${a.d}`);

/** Parses `12`, `-0.25` or `3/4`. */
export function parseNumber(text: string): Fraction {
  const t = text.trim();
  const parts = /^(-?)(\d+)(?:\.(\d+))?(?:\/(\d+))?$/.exec(t);
  if (!parts) throw new Error(`not a number: "${text}"`);
  const decimals = parts[3] ?? '';
  const magnitude = frac(BigInt(parts[2] + decimals), 10n ** BigInt(decimals.length) * BigInt(parts[4] ?? 1));
  return parts[1] === '-' ? frac(-magnitude.n, magnitude.d) : magnitude;
}

/** Evaluates an expression with `+ - * / **`, brackets, unary minus and one-letter variables. */
export function evaluate(expression: string, env: Record<string, Fraction> = {}): Fraction {
  const tokens = expression.match(/\d+(?:\.\d+)?|\*\*|[-+*/()]|[a-z]/g);
  if (!tokens || tokens.join('') !== expression.replace(/\s+/g, '')) throw new Error(`cannot tokenize "${expression}"`);
  let pos = 0;

  const sum = (): Fraction => {
    let value = product();
    while (tokens[pos] === '+' || tokens[pos] === '-') {
      const op = tokens[pos++];
      const right = product();
      value = op === '+' ? plus(value, right) : minus(value, right);
    }
    return value;
  };
  const product = (): Fraction => {
    let value = unary();
    while (tokens[pos] === '*' || tokens[pos] === '/') {
      const op = tokens[pos++];
      const right = unary();
      value = op === '*' ? times(value, right) : over(value, right);
    }
    return value;
  };
  const unary = (): Fraction => {
    if (tokens[pos] === '-') {
      pos++;
      const inner = unary();
      return frac(-inner.n, inner.d);
    }
    return power();
  };
  const power = (): Fraction => {
    const base = atom();
    if (tokens[pos] !== '**') return base;
    pos++;
    const exponent = unary();
    if (exponent.d !== 1n || exponent.n < 0n) throw new Error('only non-negative integer powers');
    let result = frac(1);
    for (let i = 0n; i < exponent.n; i++) result = times(result, base);
    return result;
  };
  const atom = (): Fraction => {
    const token = tokens[pos++];
    if (token === '(') {
      const inner = sum();
      if (tokens[pos++] !== ')') throw new Error(`unbalanced brackets in "${expression}"`);
      return inner;
    }
    if (/^[a-z]$/.test(token)) {
      if (!env[token]) throw new Error(`unbound variable ${token} in "${expression}"`);
      return env[token];
    }
    return parseNumber(token);
  };

  const value = sum();
  if (pos !== tokens.length) throw new Error(`trailing input in "${expression}"`);
  return value;
}

/**
 * Coefficients (constant first) of a polynomial expression of degree at most `maxDegree`,
 * recovered by exact interpolation at 0, 1, ..., maxDegree (Gaussian elimination on the
 * Vandermonde system).
 */
export function coefficientsOf(expression: string, variable: string, maxDegree = 8): Fraction[] {
  const size = maxDegree + 1;
  const rows = Array.from({ length: size }, (_, x) => [
    ...Array.from({ length: size }, (_, k) => frac(BigInt(x) ** BigInt(k))),
    evaluate(expression, { [variable]: frac(x) }),
  ]);
  for (let col = 0; col < size; col++) {
    const pivot = rows.findIndex((row, r) => r >= col && row[col].n !== 0n);
    [rows[col], rows[pivot]] = [rows[pivot], rows[col]];
    for (let r = 0; r < size; r++) {
      if (r === col || rows[r][col].n === 0n) continue;
      const factor = over(rows[r][col], rows[col][col]);
      rows[r] = rows[r].map((v, c) => minus(v, times(factor, rows[col][c])));
    }
  }
  return rows.map((row, r) => over(row[size], row[r]));
}
