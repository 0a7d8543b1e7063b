import { Draw, fill, phrase } from '../draw';
import { add, degree, evaluate, formatPolynomial, formatTerms, multiply, scale, trim, type Polynomial } from '../polynomial';
import { Rational } from '../rational';
import type { MathProblem } from '../types';

const COLLECT = [
  'Collect the terms in {e}.', 'Simplify {e}.', 'Combine like terms in {e}.', 'Collect like terms: {e}.',
  'Simplify the expression {e}.', 'What is {e} after collecting terms?', 'Write {e} in simplest form.',
  'Gather the terms of {e}.', 'Reduce {e} by collecting terms.',
];
const EXPAND = [
  'Expand {e}.', 'Multiply out {e}.', 'Expand and simplify {e}.', 'What is {e} when expanded?', 'Expand the product {e}.',
  'Write {e} as a polynomial.', 'Remove the brackets from {e} and simplify.', 'Give the expanded form of {e}.',
];
const EVALUATE = [
  'Let {f}({v}) = {p}. What is {f}({a})?', 'Let {f}({v}) = {p}. Determine {f}({a}).', 'Let {f}({v}) = {p}. Calculate {f}({a}).',
  'Let {f}({v}) = {p}. Give {f}({a}).', 'Suppose {f}({v}) = {p}. Find {f}({a}).', 'If {f}({v}) = {p}, what is {f}({a})?',
  'Let {f}({v}) = {p}. What is the value of {f}({a})?', 'Given {f}({v}) = {p}, evaluate {f}({a}).',
];
const DEGREE = [
  'What is the degree of {p}?', 'Give the degree of {p}.', 'Find the degree of the polynomial {p}.', 'What degree is {p}?',
  'Determine the degree of {p}.',
];
const COEFFICIENT = [
  'What is the coefficient of {t} in {p}?', 'Give the coefficient of {t} in {p}.', 'Find the coefficient of {t} in {p}.',
  'In {p}, what is the coefficient of {t}?', 'Rearrange {p} and give the coefficient of {t}.',
];
const COMBINE = [
  'Let {f}({v}) = {p}. Let {g}({v}) = {q}. Determine {c1}*{f}({v}) + {c2}*{g}({v}).',
  'Let {f}({v}) = {p}. Let {g}({v}) = {q}. What is {c1}*{f}({v}) + {c2}*{g}({v})?',
  'Let {f}({v}) = {p} and {g}({v}) = {q}. Calculate {c1}*{f}({v}) + {c2}*{g}({v}).',
  'Suppose {f}({v}) = {p} and {g}({v}) = {q}. Give {c1}*{f}({v}) + {c2}*{g}({v}).',
  'Let {f}({v}) = {p}. Let {g}({v}) = {q}. Simplify {c1}*{f}({v}) + {c2}*{g}({v}).',
];

/** A polynomial of the given degree with small non-zero leading coefficient. */
export function randomPolynomial(draw: Draw, deg: number, limit = 9): Polynomial {
  const p = Array.from({ length: deg + 1 }, () => (draw.chance(0.75) ? draw.signed(limit) : 0));
  p[deg] = draw.nonZero(limit);
  return p;
}

function collect(draw: Draw): MathProblem {
  const v = draw.variable();
  const power = draw.int(0, 3);
  const count = draw.int(2, 5);

  // several terms of one power plus an optional term of another, shuffled
  const terms: [number, number][] = Array.from({ length: count }, () => [draw.nonZero(30), power] as [number, number]);
  if (draw.chance(0.5)) terms.splice(draw.int(0, count), 0, [draw.nonZero(20), power === 1 ? 2 : 1]);
  const expression = formatTerms(terms, v);
  const result = terms.reduce<Polynomial>((sum, [c, k]) => add(sum, [...new Array(k).fill(0), c]), []);
  const { text, index } = phrase(draw, COLLECT);
  return {
    module: 'polynomials',
    template: `polynomials/collect/${index}/${power}`,
    question: fill(text, { e: expression }),
    answer: formatPolynomial(result, v),
    check: { kind: 'identity', expression, variable: v },
  };
}

function expand(draw: Draw): MathProblem {
  const v = draw.variable();
  const factors = draw.int(2, 3);
  const shape = draw.int(0, 1);
  const parts: Polynomial[] = Array.from({ length: factors }, (_, i) => (shape === 1 && i === 0 ? [0, draw.nonZero(5)] : [draw.nonZero(6), draw.nonZero(5)]));
  const expression = parts.map((p) => (p[0] === 0 ? formatPolynomial(p, v) : `(${formatPolynomial(p, v)})`)).join('*');
  const product = parts.reduce((acc, p) => multiply(acc, p), [1]);
  const { text, index } = phrase(draw, EXPAND);
  return {
    module: 'polynomials',
    template: `polynomials/expand/${index}/${factors}/${shape}`,
    question: fill(text, { e: expression }),
    answer: formatPolynomial(product, v),
    check: { kind: 'identity', expression, variable: v },
  };
}

function evaluateAt(draw: Draw): MathProblem {
  const v = draw.variable();
  const f = draw.functionName([v]);
  const p = randomPolynomial(draw, draw.int(1, 3), 7);
  const at = draw.signed(6);
  const expression = formatPolynomial(p, v);
  const { text, index } = phrase(draw, EVALUATE);
  return {
    module: 'polynomials',
    template: `polynomials/evaluate/${index}/${p.length - 1}`,
    question: fill(text, { f, v, p: expression, a: String(at) }),
    answer: evaluate(p, new Rational(at)).toString(),
    check: { kind: 'function-value', expression, variable: v, at: String(at) },
  };
}

function degreeOrCoefficient(draw: Draw): MathProblem {
  const v = draw.variable();
  const p = randomPolynomial(draw, draw.int(1, 5));

  // write the terms in a shuffled order so the degree is not simply the first power
  const terms: [number, number][] = draw.rng.shuffle(p.map((c, k) => [c, k] as [number, number]).filter(([c]) => c !== 0));
  const expression = formatTerms(terms, v);

  if (draw.chance(0.5)) {
    const { text, index } = phrase(draw, DEGREE);
    return {
      module: 'polynomials',
      template: `polynomials/degree/${index}`,
      question: fill(text, { p: expression }),
      answer: String(degree(p)),
      check: { kind: 'coefficient', expression, variable: v },
    };
  }

  const power = draw.pick(terms.filter(([, k]) => k >= 1).map(([, k]) => k));
  const { text, index } = phrase(draw, COEFFICIENT);
  return {
    module: 'polynomials',
    template: `polynomials/coefficient/${index}`,
    question: fill(text, { p: expression, t: power === 1 ? v : `${v}**${power}` }),
    answer: String(p[power]),
    check: { kind: 'coefficient', expression, variable: v, power },
  };
}

function combine(draw: Draw): MathProblem {
  const v = draw.variable();
  const f = draw.functionName([v]);
  const g = draw.functionName([v, f]);
  const p = randomPolynomial(draw, draw.int(1, 3), 6);
  const q = randomPolynomial(draw, draw.int(1, 3), 6);
  const c1 = draw.nonZero(6);
  const c2 = draw.nonZero(6);
  const result = trim(add(scale(p, c1), scale(q, c2)));
  const [pText, qText] = [formatPolynomial(p, v), formatPolynomial(q, v)];
  const { text, index } = phrase(draw, COMBINE);
  const question = fill(text, { f, g, v, p: pText, q: qText, c1: String(c1), c2: c2 < 0 ? `(${c2})` : String(c2) });
  return {
    module: 'polynomials',
    template: `polynomials/combine/${index}`,
    question,
    answer: formatPolynomial(result, v),
    check: { kind: 'identity', expression: `${c1}*(${pText}) + ${c2 < 0 ? `(${c2})` : c2}*(${qText})`, variable: v },
  };
}

/** Polynomials: collecting terms, expanding products, evaluation, degree and coefficients, combinations. */
export function polynomialsProblem(draw: Draw): MathProblem {
  const kind = draw.pick(['collect', 'expand', 'evaluate', 'degree', 'combine'] as const);
  if (kind === 'collect') return collect(draw);
  if (kind === 'expand') return expand(draw);
  if (kind === 'evaluate') return evaluateAt(draw);
  if (kind === 'degree') return degreeOrCoefficient(draw);
  return combine(draw);
}
