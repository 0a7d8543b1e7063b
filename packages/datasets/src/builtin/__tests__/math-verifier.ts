import type { MathProblem } from '../math';
import { cmp, coefficientsOf, evaluate, frac, minus, over, parseNumber, plus, same, show, times, type Fraction } from './exact';

/** Unit sizes in metres, grams, litres and seconds, written out independently of the generator. */
const UNIT_SIZES: Record<string, Fraction> = {
  kilometres: frac(1000), metres: frac(1), centimetres: frac(1, 100), millimetres: frac(1, 1000), micrometers: frac(1, 10 ** 6), nanometers: frac(1, 10 ** 9),
  tonnes: frac(10 ** 6), kilograms: frac(1000), grams: frac(1), milligrams: frac(1, 1000), micrograms: frac(1, 10 ** 6),
  litres: frac(1), millilitres: frac(1, 1000), microlitres: frac(1, 10 ** 6),
  weeks: frac(7 * 24 * 3600), days: frac(24 * 3600), hours: frac(3600), minutes: frac(60), seconds: frac(1), milliseconds: frac(1, 1000),
};

const POINTS = [frac(-3), frac(-1), frac(0), frac(2), frac(5), frac(1, 2), frac(-7, 3)];

/** Minutes after midnight of `HH:MM` or `H:MM AM`/`PM`. */
function minutesOf(text: string): number {
  const match = /^(\d{1,2}):(\d{2})(?: (AM|PM))?$/.exec(text.trim());
  if (!match) throw new Error(`not a time: "${text}"`);
  let hours = Number(match[1]) % (match[3] ? 12 : 24);
  if (match[3] === 'PM') hours += 12;
  return hours * 60 + Number(match[2]);
}

/** Letter counts of a bag written as `aabbc` or `{a: 2, b: 2, c: 1}` after "from " in the question. */
function bagInQuestion(question: string): Record<string, number> {
  const counts = /from \{([^}]*)\}/.exec(question);
  const bag: Record<string, number> = {};
  if (counts) {
    for (const part of counts[1].split(', ')) {
      const [letter, count] = part.split(': ');
      bag[letter] = Number(count);
    }
    return bag;
  }
  const letters = /from ([a-z]+)[.?, ]/.exec(question);
  if (!letters) throw new Error(`no bag in "${question}"`);
  for (const letter of letters[1]) bag[letter] = (bag[letter] ?? 0) + 1;
  return bag;
}

/**
 * Ordered draws without replacement, grouped by the letter sequence they spell: each sequence
 * of letters with the number of ways (distinct items, in order) to draw it.
 */
function letterSequences(bag: Record<string, number>, draws: number): [string, number][] {
  const out: [string, number][] = [];
  const left = { ...bag };
  const extend = (prefix: string, ways: number) => {
    if (prefix.length === draws) {
      out.push([prefix, ways]);
      return;
    }
    for (const letter of Object.keys(left)) {
      if (left[letter] === 0) continue;
      const available = left[letter];
      left[letter] -= 1;
      extend(prefix + letter, ways * available);
      left[letter] += 1;
    }
  };
  extend('', 1);
  return out;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d < n; d++) if (n % d === 0) return false;
  return true;
}

/** Recomputes the answer of one problem; returns a description of the mismatch, or undefined when it checks out. */
export function verifyProblem(problem: MathProblem): string | undefined {
  const { question, answer, check } = problem;
  const fail = (what: string) => `${problem.template}: ${what} in "${question}" -> "${answer}"`;
  const mentions = (text: string) => question.includes(text);

  switch (check.kind) {
    case 'value': {
      const numbers = check.expression.match(/\d+(?:\.\d+)?/g) ?? [];
      if (!numbers.every(mentions)) return fail(`operands of ${check.expression} missing`);
      return same(evaluate(check.expression), parseNumber(answer)) ? undefined : fail(`value of ${check.expression} is ${show(evaluate(check.expression))}`);
    }
    case 'identity': {
      const groups = check.expression.match(/\(([^()]*[a-z][^()]*)\)/g)?.map((g) => g.slice(1, -1)) ?? [];
      if (!mentions(check.expression) && !(groups.length > 0 && groups.every(mentions))) return fail('expression missing');
      for (const x of POINTS) {
        const env = { [check.variable]: x };
        if (!same(evaluate(check.expression, env), evaluate(answer, env))) return fail(`differs from ${check.expression} at ${show(x)}`);
      }
      return undefined;
    }
    case 'equations': {
      const env = Object.fromEntries(Object.entries(check.solution).map(([name, value]) => [name, parseNumber(value)]));
      const residual = (equation: string, at: Record<string, Fraction>) => {
        const [left, right] = equation.split(' = ');
        return minus(evaluate(left, at), evaluate(right, at));
      };
      for (const equation of check.equations) {
        if (!mentions(equation)) return fail(`equation ${equation} missing`);
        if (residual(equation, env).n !== 0n) return fail(`${equation} does not hold`);
      }

      // the solution is unique: the residuals are linear, so their coefficient matrix must be invertible
      const names = Object.keys(env);
      const zero = Object.fromEntries(names.map((name) => [name, frac(0)]));
      const matrix = check.equations.map((equation) => names.map((name) => minus(residual(equation, { ...zero, [name]: frac(1) }), residual(equation, zero))));
      const determinant = names.length === 1 ? matrix[0][0] : minus(times(matrix[0][0], matrix[1][1]), times(matrix[0][1], matrix[1][0]));
      if (determinant.n === 0n) return fail('solution is not unique');

      const expected = check.query ? evaluate(check.query, env) : env[check.variable];
      return same(expected, parseNumber(answer)) ? undefined : fail(`expected ${show(expected)}`);
    }
    case 'function-value': {
      if (!mentions(check.expression)) return fail('expression missing');
      const expected = evaluate(check.expression, { [check.variable]: parseNumber(check.at) });
      return same(expected, parseNumber(answer)) ? undefined : fail(`expected ${show(expected)}`);
    }
    case 'derivative': {
      if (!mentions(check.expression)) return fail('expression missing');
      let coefficients = coefficientsOf(check.expression, check.variable);
      for (let i = 0; i < check.order; i++) coefficients = coefficients.slice(1).map((c, k) => times(c, frac(k + 1)));
      const polynomial = coefficients.map((c, k) => `(${show(c)})*${check.variable}**${k}`).join(' + ') || '0';
      if (check.at !== undefined) {
        const expected = evaluate(polynomial, { [check.variable]: parseNumber(check.at) });
        return same(expected, parseNumber(answer)) ? undefined : fail(`expected ${show(expected)}`);
      }
      for (const x of POINTS) {
        const env = { [check.variable]: x };
        if (!same(evaluate(polynomial, env), evaluate(answer, env))) return fail(`derivative differs at ${show(x)}`);
      }
      return undefined;
    }
    case 'coefficient': {
      if (!mentions(check.expression)) return fail('expression missing');
      const coefficients = coefficientsOf(check.expression, check.variable);
      const expected = check.power === undefined ? frac(coefficients.map((c) => c.n !== 0n).lastIndexOf(true)) : coefficients[check.power];
      return same(expected, parseNumber(answer)) ? undefined : fail(`expected ${show(expected)}`);
    }
    case 'order': {
      if (!check.values.every(mentions)) return fail('values missing');
      const sorted = [...check.values].sort((a, b) => cmp(parseNumber(a), parseNumber(b)));
      let expected: string;
      if (check.ask === 'sort-ascending') expected = sorted.join(', ');
      else if (check.ask === 'sort-descending') expected = [...sorted].reverse().join(', ');
      else if (check.ask === 'max') expected = sorted[sorted.length - (check.k ?? 1)];
      else expected = sorted[(check.k ?? 1) - 1];
      return expected === answer ? undefined : fail(`expected ${expected}`);
    }
    case 'nearest': {
      const target = parseNumber(check.target);
      const distance = (v: string) => { const d = minus(parseNumber(v), target); return d.n < 0n ? frac(-d.n, d.d) : d; };
      const best = check.values.reduce((b, v, i) => (cmp(distance(v), distance(check.values[b])) < 0 ? i : b), 0);
      const expected = question.includes('(a)') ? String.fromCharCode(97 + best) : check.values[best];
      return expected === answer ? undefined : fail(`expected ${expected}`);
    }
    case 'relation': {
      if (!mentions(check.a) || !mentions(check.b)) return fail('operands missing');
      const c = cmp(parseNumber(check.a), parseNumber(check.b));
      const truth = { '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0, '==': c === 0, '!=': c !== 0 }[check.relation];
      return answer === (truth ? 'True' : 'False') ? undefined : fail(`expected ${truth}`);
    }
    case 'number':
      return verifyNumber(check.ask, check.args, answer, question) ? undefined : fail(`${check.ask}(${check.args.join(', ')}) is wrong`);
    case 'convert': {
      if (!mentions(check.value) || !mentions(check.to)) return fail('quantity missing');
      const expected = over(times(parseNumber(check.value), UNIT_SIZES[check.from]), UNIT_SIZES[check.to]);
      return same(expected, parseNumber(answer)) ? undefined : fail(`expected ${show(expected)}`);
    }
    case 'clock': {
      const start = minutesOf(check.start);
      if (check.ask === 'between') return minutesOf(check.end!) - start === Number(answer) ? undefined : fail('wrong interval');
      const expected = (((start + (check.ask === 'after' ? 1 : -1) * check.minutes!) % 1440) + 1440) % 1440;
      return minutesOf(answer) === expected && mentions(String(check.minutes)) ? undefined : fail('wrong time');
    }
    case 'draw': {
      const bag = bagInQuestion(question);
      if (JSON.stringify(Object.entries(bag).sort()) !== JSON.stringify(Object.entries(check.bag).sort())) return fail('bag differs from the question');
      const sequences = letterSequences(bag, check.draws);
      const total = sequences.reduce((sum, [, ways]) => sum + ways, 0);
      const favourable = sequences.filter(([drawn]) => {
        if (check.sequence !== undefined) return drawn === check.sequence;
        const counts: Record<string, number> = {};
        for (const letter of drawn) counts[letter] = (counts[letter] ?? 0) + 1;
        return JSON.stringify(Object.entries(counts).sort()) === JSON.stringify(Object.entries(check.counts!).sort());
      }).reduce((sum, [, ways]) => sum + ways, 0);
      const expected = frac(favourable, total);
      return same(expected, parseNumber(answer)) ? undefined : fail(`expected ${show(expected)}`);
    }
    case 'die': {
      const k = check.k ?? 0;
      const test = { even: (n: number) => n % 2 === 0, odd: (n: number) => n % 2 !== 0, greater: (n: number) => n > k, less: (n: number) => n < k, multiple: (n: number) => n % k === 0, prime: isPrime }[check.event];
      const faces = Array.from({ length: check.sides }, (_, i) => i + 1);
      const expected = frac(faces.filter(test).length, check.sides);
      return same(expected, parseNumber(answer)) && mentions(String(check.sides)) ? undefined : fail(`expected ${show(expected)}`);
    }
    case 'coins': {
      let favourable = 0;
      for (let outcome = 0; outcome < 2 ** check.count; outcome++) {
        const heads = outcome.toString(2).split('').filter((bit) => bit === '1').length;
        if (check.comparison === 'exactly' && heads === check.heads) favourable += 1;
        if (check.comparison === 'at least' && heads >= check.heads) favourable += 1;
        if (check.comparison === 'at most' && heads <= check.heads) favourable += 1;
      }
      const expected = frac(favourable, 2 ** check.count);
      return same(expected, parseNumber(answer)) && mentions(check.comparison) ? undefined : fail(`expected ${show(expected)}`);
    }
  }
}

function verifyNumber(ask: string, args: string[], answer: string, question: string): boolean {
  if (!args.filter((arg) => !arg.includes('/') && arg !== 'prime' && arg !== 'composite').every((arg) => question.includes(arg) || ask === 'digit' || ask === 'round')) return false;
  const [a, b] = args.map(Number);
  switch (ask) {
    case 'gcd': {
      let best = 1;
      for (let d = 1; d <= Math.min(a, b); d++) if (a % d === 0 && b % d === 0) best = d;
      return String(best) === answer;
    }
    case 'lcm': {
      let m = Math.max(a, b);
      while (m % a !== 0 || m % b !== 0) m += Math.max(a, b);
      return String(m) === answer;
    }
    case 'is-prime':
      return answer === ((isPrime(a) !== (args[1] === 'composite')) ? 'True' : 'False');
    case 'divides':
      return answer === (a % b === 0 ? 'True' : 'False');
    case 'remainder':
      return answer === String(a - Math.floor(a / b) * b);
    case 'prime-factors': {
      const factors: number[] = [];
      for (let d = 2; d <= a; d++) if (a % d === 0 && isPrime(d)) factors.push(d);
      return answer === factors.join(', ');
    }
    case 'round': {
      // the nearest multiple of the unit: compare the distance to both neighbours exactly
      const value = parseNumber(args[0]);
      const unit = parseNumber(args[1]);
      const below = times(frac(value.n * unit.d / (value.d * unit.n) - (value.n < 0n && (value.n * unit.d) % (value.d * unit.n) !== 0n ? 1n : 0n)), unit);
      const above = plus(below, unit);
      const nearest = cmp(minus(value, below), minus(above, value)) < 0 ? below : above;
      return same(nearest, parseNumber(answer)) && question.includes(args[0]);
    }
    case 'digit':
      return answer === String(Math.floor(a / 10 ** b) % 10) && question.includes(args[0]);
    case 'to-base': {
      let rest = a;
      let digits = '';
      while (rest > 0) {
        digits = '0123456789abcdef'[rest % b] + digits;
        rest = Math.floor(rest / b);
      }
      return answer === digits;
    }
    case 'from-base':
      return answer === String([...args[0]].reduce((value, digit) => value * b + parseInt(digit, 16), 0));
    default:
      return false;
  }
}
