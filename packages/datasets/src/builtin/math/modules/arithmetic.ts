import { answerOf, Draw, fill, operand, phrase } from '../draw';
import { Rational } from '../rational';
import type { MathProblem } from '../types';

const ADD = [
  'Calculate {a} + {b}.', 'What is {a} plus {b}?', 'Add {a} and {b}.', 'Sum {a} and {b}.', 'Total of {a} and {b}.',
  'Put together {a} and {b}.', 'What is {a} + {b}?', 'Work out {a} + {b}.', 'Compute {a} + {b}.', 'Evaluate {a} + {b}.',
  '{a} + {b}', 'Add together {a} and {b}.', 'What is the sum of {a} and {b}?', 'Find the sum of {a} and {b}.',
  'Add {b} to {a}.', 'What is {a} added to {b}?', '{a} + {b} = ?', 'Give the total of {a} and {b}.',
];
const SUBTRACT = [
  'Calculate {a} - {b}.', 'What is {a} minus {b}?', 'Subtract {b} from {a}.', 'What is {b} less than {a}?',
  'What is {a} take away {b}?', 'Take {b} from {a}.', 'What is the difference between {a} and {b}?', '{a} - {b}',
  'Work out {a} - {b}.', 'Evaluate {a} - {b}.', 'Compute {a} - {b}.', 'What is {a} - {b}?', 'Find {a} minus {b}.',
  '{a} - {b} = ?', 'How much is {a} minus {b}?',
];
const MULTIPLY = [
  'Multiply {a} and {b}.', 'What is {a} times {b}?', 'Product of {a} and {b}.', 'Calculate {a}*{b}.',
  'What is the product of {a} and {b}?', '{a} * {b}', 'Work out {a} * {b}.', 'Calculate the product of {a} and {b}.',
  'Find the product of {a} and {b}.', 'Compute {a} times {b}.', 'Multiply {a} by {b}.', 'What is {a}*{b}?', '{a} times {b}',
];
const DIVIDE = [
  'Divide {a} by {b}.', 'What is {a} divided by {b}?', 'Calculate {a} divided by {b}.', '{a} divided by {b}',
  'Work out {a} / {b}.', 'Compute {a}/{b}.', 'What is {a}/{b}?', 'Evaluate {a}/{b}.', 'How much is {a} divided by {b}?',
];
const EVALUATE = [
  'Evaluate {e}.', 'What is the value of {e}?', 'Calculate {e}.', 'What is {e}?', '{e}', 'Compute {e}.', 'Work out {e}.',
  'Determine the value of {e}.', 'Find the value of {e}.', 'What is {e} equal to?',
];

/** Integer, decimal or large-integer operands; the style is part of the template id. */
type OperandStyle = 'small' | 'large' | 'decimal';

function drawOperand(draw: Draw, style: OperandStyle): Rational {
  if (style === 'small') return new Rational(draw.signed(20));
  if (style === 'large') return new Rational(draw.signed(9999));
  return draw.decimal(draw.pick([1, 10, 100]), 4);
}

function binary(draw: Draw, kind: 'add' | 'sub' | 'mul', phrasings: readonly string[]): MathProblem {
  const style = draw.pick<OperandStyle>(['small', 'large', 'decimal']);
  const a = drawOperand(draw, style);
  const b = kind === 'mul' && style !== 'small' ? drawOperand(draw, 'small') : drawOperand(draw, style);
  const { text, index } = phrase(draw, phrasings);

  const symbol = { add: '+', sub: '-', mul: '*' }[kind];
  const value = kind === 'add' ? a.add(b) : kind === 'sub' ? a.sub(b) : a.mul(b);
  return {
    module: 'arithmetic',
    template: `arithmetic/${kind}/${index}/${style}`,
    question: fill(text, { a: operand(a), b: operand(b) }),
    answer: answerOf(value, 'decimal'),
    check: { kind: 'value', expression: `${operand(a, 'bracketed')} ${symbol} ${operand(b, 'bracketed')}` },
  };
}

function divide(draw: Draw): MathProblem {
  // the dividend is a multiple of the divisor so that the quotient is exact and ends
  const style = draw.pick<'integer' | 'decimal'>(['integer', 'decimal']);
  const divisor = new Rational(draw.nonZero(style === 'integer' ? 60 : 12));
  const quotient = style === 'integer' ? new Rational(draw.signed(300)) : draw.decimal(10, 3);
  const dividend = quotient.mul(divisor);
  const { text, index } = phrase(draw, DIVIDE);
  return {
    module: 'arithmetic',
    template: `arithmetic/div/${index}/${style}`,
    question: fill(text, { a: operand(dividend), b: operand(divisor) }),
    answer: answerOf(quotient, 'decimal'),
    check: { kind: 'value', expression: `${operand(dividend, 'bracketed')} / ${operand(divisor, 'bracketed')}` },
  };
}

/** A random expression of 3 to 5 small integers; returns its text and exact value. */
function mixedExpression(draw: Draw, leaves: number): { text: string; value: Rational } {
  if (leaves === 1) {
    const value = new Rational(draw.nonZero(12));
    return { text: operand(value, 'bracketed'), value };
  }
  const left = draw.int(1, leaves - 1);
  const a = mixedExpression(draw, left);
  const b = mixedExpression(draw, leaves - left);
  const op = draw.pick(['+', '-', '*', '/']);
  if (op === '/' && b.value.num === 0) return mixedExpression(draw, leaves);

  const value = op === '+' ? a.value.add(b.value) : op === '-' ? a.value.sub(b.value) : op === '*' ? a.value.mul(b.value) : a.value.div(b.value);
  const wrap = (side: { text: string }, sideLeaves: number) => (sideLeaves > 1 ? `(${side.text})` : side.text);
  return { text: `${wrap(a, left)}${op === '*' || op === '/' ? op : ` ${op} `}${wrap(b, leaves - left)}`, value };
}

function mixed(draw: Draw): MathProblem {
  const leaves = draw.int(3, 5);
  const { text: expression, value } = mixedExpression(draw, leaves);
  const { text, index } = phrase(draw, EVALUATE);
  return {
    module: 'arithmetic',
    template: `arithmetic/mixed/${index}/${leaves}`,
    question: fill(text, { e: expression }),
    answer: value.toString(),
    check: { kind: 'value', expression },
  };
}

function fractions(draw: Draw): MathProblem {
  const kind = draw.pick<'add' | 'sub' | 'mul'>(['add', 'sub', 'mul']);
  const a = draw.fraction(9, 9);
  const b = draw.fraction(9, 9);
  const { text, index } = phrase(draw, { add: ADD, sub: SUBTRACT, mul: MULTIPLY }[kind]);
  const value = kind === 'add' ? a.add(b) : kind === 'sub' ? a.sub(b) : a.mul(b);
  const symbol = { add: '+', sub: '-', mul: '*' }[kind];
  return {
    module: 'arithmetic',
    template: `arithmetic/fraction-${kind}/${index}`,
    question: fill(text, { a: a.toString(), b: b.toString() }),
    answer: value.toString(),
    check: { kind: 'value', expression: `(${a.toString()}) ${symbol} (${b.toString()})` },
  };
}

/** Arithmetic: sums, differences, products and quotients of integers and decimals; mixed expressions; fractions. */
export function arithmeticProblem(draw: Draw): MathProblem {
  const kind = draw.pick(['add', 'sub', 'mul', 'div', 'mixed', 'fraction'] as const);
  switch (kind) {
    case 'add':
      return binary(draw, 'add', ADD);
    case 'sub':
      return binary(draw, 'sub', SUBTRACT);
    case 'mul':
      return binary(draw, 'mul', MULTIPLY);
    case 'div':
      return divide(draw);
    case 'mixed':
      return mixed(draw);
    case 'fraction':
      return fractions(draw);
  }
}
