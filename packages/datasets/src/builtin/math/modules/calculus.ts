import { COUNT_WORDS, Draw, fill, phrase } from '../draw';
import { derivative, evaluate, formatPolynomial, type Polynomial } from '../polynomial';
import { Rational } from '../rational';
import type { MathProblem } from '../types';
import { randomPolynomial } from './polynomials';

const FIRST = [
  'Differentiate {p} with respect to {v}.', 'What is the derivative of {p} wrt {v}?', 'Find the first derivative of {p} wrt {v}.',
  'What is the first derivative of {p}?', 'Calculate the derivative of {p}.', 'Differentiate {p}.', 'Find the derivative of {p} with respect to {v}.',
  'Give the first derivative of {p}.', 'Let {f}({v}) = {p}. What is the derivative of {f}({v})?', 'Let {f}({v}) = {p}. Differentiate {f}({v}) with respect to {v}.',
  'Compute d/d{v} of {p}.', 'Determine the derivative of {p} with respect to {v}.', 'Take the derivative of {p} wrt {v}.',
  'Let {f}({v}) = {p}. Find {f}\'({v}).', 'Let {f}({v}) = {p}. Give the first derivative of {f}({v}) wrt {v}.', 'What is d/d{v} of {p}?',
  'Suppose {f}({v}) = {p}. Calculate the derivative of {f}({v}).', 'Find d/d{v} ({p}).',
];
const HIGHER = [
  'Find the {n} derivative of {p} wrt {v}.', 'What is the {n} derivative of {p}?', 'Calculate the {n} derivative of {p}.',
  'Differentiate {p} {times} with respect to {v}.', 'What is the {n} derivative of {p} wrt {v}?', 'Give the {n} derivative of {p}.',
  'Let {f}({v}) = {p}. Find the {n} derivative of {f}({v}).', 'Let {f}({v}) = {p}. What is the {n} derivative of {f}({v}) wrt {v}?',
  'Compute the {n} derivative of {p} with respect to {v}.', 'Let {f}({v}) be the {n} derivative of {p}. Give {f}({v}).',
  'Determine the {n} derivative of {p}.', 'Take the {n} derivative of {p} with respect to {v}.',
];
const AT_POINT = [
  'Let {f}({v}) = {p}. What is the derivative of {f} at {v} = {a}?', "Let {f}({v}) = {p}. Calculate {f}'({a}).",
  'What is the value of the derivative of {p} at {v} = {a}?', "Suppose {f}({v}) = {p}. Find {f}'({a}).",
  'Let {f}({v}) = {p}. Determine the slope of {f} at {v} = {a}.', "Let {f}({v}) = {p}. Give {f}'({a}).",
];

const ORDINALS = ['zeroth', 'first', 'second', 'third'];

function nthDerivative(p: Polynomial, order: number): Polynomial {
  let result = p;
  for (let i = 0; i < order; i++) result = derivative(result);
  return result;
}

/** Calculus: first and higher derivatives of polynomials, and derivatives at a point. */
export function calculusProblem(draw: Draw): MathProblem {
  const v = draw.variable();
  const f = draw.functionName([v]);
  const g = draw.functionName([v, f]);
  const kind = draw.pick(['first', 'first', 'higher', 'at'] as const);
  const order = kind === 'higher' ? draw.int(2, 3) : 1;
  const p = randomPolynomial(draw, draw.int(order, order + 3), 12);
  const expression = formatPolynomial(p, v);
  const result = nthDerivative(p, order);

  if (kind === 'at') {
    const at = draw.signed(5);
    const { text, index } = phrase(draw, AT_POINT);
    return {
      module: 'calculus',
      template: `calculus/at-point/${index}/${p.length - 1}`,
      question: fill(text, { f, g, v, p: expression, a: String(at) }),
      answer: evaluate(result, new Rational(at)).toString(),
      check: { kind: 'derivative', expression, variable: v, order, at: String(at) },
    };
  }

  const { text, index } = phrase(draw, kind === 'first' ? FIRST : HIGHER);
  return {
    module: 'calculus',
    template: `calculus/${kind}/${index}/${order}/${p.length - 1}`,
    question: fill(text, { f, v, p: expression, n: ORDINALS[order], times: `${COUNT_WORDS[order]} times` }),
    answer: formatPolynomial(result, v),
    check: { kind: 'derivative', expression, variable: v, order },
  };
}
