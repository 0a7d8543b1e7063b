import { Draw, fill, phrase } from '../draw';
import { evaluate, formatLinear, formatPolynomial, formatTerms, type Polynomial } from '../polynomial';
import { Rational } from '../rational';
import type { MathProblem } from '../types';

const SOLVE_ONE = [
  'Solve {eq} for {v}.', 'Solve {eq}.', 'What is {v} in {eq}?', 'Find {v} such that {eq}.', 'If {eq}, what is {v}?',
  'Let {eq}. What is {v}?', 'Determine {v} so that {eq}.', 'Suppose {eq}. Find {v}.', 'Given {eq}, calculate {v}.',
  'Solve for {v}: {eq}.', 'Find the value of {v} that satisfies {eq}.', 'Suppose {eq}. What is the value of {v}?',
];
const SOLVE_TWO = [
  'Solve {eq1}, {eq2} for {v}.', 'Suppose {eq1}, {eq2}. What is {v}?', 'Given {eq1} and {eq2}, find {v}.',
  'Let {eq1} and {eq2}. Solve for {v}.', 'If {eq1} and {eq2}, what is {v}?', 'Solve the system {eq1}, {eq2} for {v}.',
  'Suppose {eq1} and {eq2}. Calculate {v}.',
];
const THEN_EVALUATE = [
  'Suppose {eq}. What is {q}?', 'Let {eq}. Calculate {q}.', 'Given {eq}, what is {q}?', 'If {eq}, evaluate {q}.',
  'Suppose {eq}. Find the value of {q}.', 'Assume {eq}. What is {q} equal to?',
];

/** Writes `a*x + b` terms, with `[coefficient, power]` pairs in the order given. */
function side(terms: [number, number][], variable: string): string {
  return formatTerms(terms, variable);
}

/** A linear equation in `v` whose solution is `solution`, in one of several shapes. */
function linearEquation(draw: Draw, v: string, solution: number): { text: string; shape: number } {
  const shape = draw.int(0, 5);
  const a = draw.nonZero(9);
  let b = draw.signed(20);
  switch (shape) {
    case 0: // a*x + b = c
      return { text: `${side([[a, 1], [b, 0]], v)} = ${a * solution + b}`, shape };
    case 1: // 0 = a*x + b
      b = -a * solution;
      return { text: `0 = ${side([[a, 1], [b, 0]], v)}`, shape };
    case 2: { // a*x = c*x + d
      let c = draw.nonZero(9);
      if (c === a) c = a + 1;
      return { text: `${side([[a, 1]], v)} = ${side([[c, 1], [(a - c) * solution, 0]], v)}`, shape };
    }
    case 3: { // a*x + b + c*x = d
      let c = draw.nonZero(9);
      if (c === -a) c = -a + 1;
      return { text: `${side([[a, 1], [b, 0], [c, 1]], v)} = ${(a + c) * solution + b}`, shape };
    }
    case 4: // c = a*x + b, written right to left
      return { text: `${a * solution + b} = ${side([[b, 0], [a, 1]], v)}`, shape };
    default: { // a*x - b*x - c = d*x + e
      const c = draw.nonZero(6);
      let d = draw.nonZero(6);
      if (a - c - d === 0) d += 1;
      const e = draw.signed(15);
      const constant = (d - a + c) * solution + e;
      return { text: `${side([[a, 1], [-c, 1], [constant, 0]], v)} = ${side([[d, 1], [e, 0]], v)}`, shape };
    }
  }
}

function solveOne(draw: Draw): MathProblem {
  const v = draw.variable();
  const solution = draw.signed(12);
  const { text: eq, shape } = linearEquation(draw, v, solution);
  const { text, index } = phrase(draw, SOLVE_ONE);
  return {
    module: 'algebra',
    template: `algebra/linear-1d/${index}/${shape}`,
    question: fill(text, { eq, v }),
    answer: String(solution),
    check: { kind: 'equations', equations: [eq], solution: { [v]: String(solution) }, variable: v },
  };
}

function solveTwo(draw: Draw): MathProblem {
  const [x, y] = draw.sample('abcdfghjkmnpqrstuvwxyz'.split(''), 2).sort();
  const sx = draw.signed(9);
  const sy = draw.signed(9);

  // two independent equations a1*x + b1*y = c1 and a2*x + b2*y = c2, written in one of three layouts
  const [a1, b1] = [draw.nonZero(6), draw.nonZero(6)];
  let [a2, b2] = [draw.nonZero(6), draw.nonZero(6)];
  while (a1 * b2 - a2 * b1 === 0) [a2, b2] = [draw.nonZero(6), draw.nonZero(6)];
  const [c1, c2] = [a1 * sx + b1 * sy, a2 * sx + b2 * sy];
  const shape = draw.int(0, 2);
  const eq1 = shape === 0 ? `${formatLinear([[a1, x], [b1, y]])} = ${c1}` : `${formatLinear([[a1, x]])} = ${formatLinear([[-b1, y], [c1, '']])}`;
  const eq2 = shape === 2 ? `0 = ${formatLinear([[a2, x], [b2, y], [-c2, '']])}` : `${formatLinear([[b2, y], [a2, x]])} = ${c2}`;

  const asked = draw.chance(0.5) ? x : y;
  const { text, index } = phrase(draw, SOLVE_TWO);
  return {
    module: 'algebra',
    template: `algebra/linear-2d/${index}/${shape}`,
    question: fill(text, { eq1, eq2, v: asked }),
    answer: String(asked === x ? sx : sy),
    check: { kind: 'equations', equations: [eq1, eq2], solution: { [x]: String(sx), [y]: String(sy) }, variable: asked },
  };
}

function thenEvaluate(draw: Draw): MathProblem {
  const v = draw.variable();
  const solution = draw.signed(10);
  const { text: eq, shape } = linearEquation(draw, v, solution);

  // a follow-up quantity in the solved variable, such as 3*v - 2 or v**2 + 1
  const query: Polynomial = draw.chance(0.7) ? [draw.signed(10), draw.nonZero(6)] : [draw.signed(10), 0, 1];
  const queryText = formatPolynomial(query, v);
  const { text, index } = phrase(draw, THEN_EVALUATE);
  return {
    module: 'algebra',
    template: `algebra/solve-then-evaluate/${index}/${shape}/${query.length - 1}`,
    question: fill(text, { eq, q: queryText }),
    answer: evaluate(query, new Rational(solution)).toString(),
    check: { kind: 'equations', equations: [eq], solution: { [v]: String(solution) }, variable: v, query: queryText },
  };
}

/** Algebra: linear equations in one and two unknowns, and solving then evaluating. */
export function algebraProblem(draw: Draw): MathProblem {
  const kind = draw.pick(['one', 'one', 'two', 'evaluate'] as const);
  if (kind === 'one') return solveOne(draw);
  if (kind === 'two') return solveTwo(draw);
  return thenEvaluate(draw);
}
