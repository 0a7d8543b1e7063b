import { Draw, fill, operand, phrase } from '../draw';
import { Rational } from '../rational';
import type { MathProblem } from '../types';

const PAIR = {
  max: ['Which is bigger: {a} or {b}?', 'Which is greater: {a} or {b}?', 'What is the bigger of {a} and {b}?', 'Which is larger, {a} or {b}?', 'Pick the greater of {a} and {b}.'],
  min: ['Which is smaller: {a} or {b}?', 'Which is less: {a} or {b}?', 'What is the smaller of {a} and {b}?', 'Which is lower, {a} or {b}?', 'Pick the smaller of {a} and {b}.'],
};
const RELATION: Record<'<' | '<=' | '>' | '>=' | '==' | '!=', string[]> = {
  '<': ['Is {a} less than {b}?', 'Is {a} < {b}?', 'Is {a} smaller than {b}?'],
  '<=': ['Is {a} less than or equal to {b}?', 'Is {a} <= {b}?', 'Is {a} at most {b}?'],
  '>': ['Is {a} greater than {b}?', 'Is {a} > {b}?', 'Is {a} bigger than {b}?'],
  '>=': ['Is {a} greater than or equal to {b}?', 'Is {a} >= {b}?', 'Is {a} at least {b}?'],
  '==': ['Are {a} and {b} equal?', 'Is {a} equal to {b}?', 'Do {a} and {b} have the same value?'],
  '!=': ['Is {a} != {b}?', 'Are {a} and {b} unequal?', 'Is {a} not equal to {b}?'],
};
const KTH = {
  max: ['What is the {k} biggest value in {list}?', 'Which is the {k} largest value in {list}?', 'Find the {k} greatest value among {list}.'],
  min: ['What is the {k} smallest value in {list}?', 'Which is the {k} lowest value in {list}?', 'Find the {k} smallest value among {list}.'],
};
const SORT = {
  ascending: ['Sort {list} in increasing order.', 'Put {list} in ascending order.', 'Order {list} from smallest to biggest.', 'Sort {list}.'],
  descending: ['Sort {list} in decreasing order.', 'Put {list} in descending order.', 'Order {list} from biggest to smallest.', 'Arrange {list} from largest to smallest.'],
};
const NEAREST = ['Which is the nearest to {t}?  {options}', 'Which is the closest to {t}?  {options}', 'What is the nearest to {t} in {list}?', 'Which is closest to {t} in {list}?'];

const ORDINALS = ['', '', 'second', 'third', 'fourth'];
const STYLES = ['integer', 'decimal', 'fraction', 'mixed'] as const;

/** A number and the way it is written (`0.25` and `1/4` are the same number written two ways). */
interface Written {
  r: Rational;
  text: string;
}

/** A number of the given style. */
function value(draw: Draw, style: (typeof STYLES)[number]): Written {
  if (style === 'mixed') return value(draw, draw.pick(['integer', 'decimal', 'fraction'] as const));
  if (style === 'integer') return withText(new Rational(draw.signed(50)), 'decimal');
  if (style === 'decimal') return withText(draw.decimal(draw.pick([1, 5, 100]), 3), 'decimal');
  return withText(draw.fraction(12, 9), 'fraction');
}

function withText(r: Rational, form: 'decimal' | 'fraction'): Written {
  return { r, text: form === 'decimal' ? operand(r) : r.toString() };
}

/** `count` numbers that are pairwise different, so every comparison has one answer. */
function distinct(draw: Draw, count: number, style: (typeof STYLES)[number]): Written[] {
  const out: Written[] = [];
  while (out.length < count) {
    const next = value(draw, style);
    if (!out.some((x) => x.r.equals(next.r))) out.push(next);
  }
  return out;
}

/** Comparison: bigger/smaller, true-or-false relations, k-th largest, sorting, nearest value. */
export function comparisonProblem(draw: Draw): MathProblem {
  const style = draw.pick(STYLES);
  const kind = draw.pick(['pair', 'relation', 'kth', 'sort', 'nearest'] as const);

  if (kind === 'pair') {
    const [a, b] = distinct(draw, 2, style);
    const ask = draw.pick(['max', 'min'] as const);
    const { text, index } = phrase(draw, PAIR[ask]);
    const answer = (a.r.compare(b.r) > 0) === (ask === 'max') ? a : b;
    return { module: 'comparison', template: `comparison/pair-${ask}/${index}/${style}`, question: fill(text, { a: a.text, b: b.text }), answer: answer.text, check: { kind: 'order', values: [a.text, b.text], ask } };
  }

  if (kind === 'relation') {
    const relation = draw.pick(['<', '<=', '>', '>=', '==', '!='] as const);
    const [a, other] = distinct(draw, 2, style);
    const b = draw.chance(0.2) ? a : other;
    const { text, index } = phrase(draw, RELATION[relation]);
    const c = a.r.compare(b.r);
    const truth = { '<': c < 0, '<=': c <= 0, '>': c > 0, '>=': c >= 0, '==': c === 0, '!=': c !== 0 }[relation];
    return { module: 'comparison', template: `comparison/relation/${relation}/${index}/${style}`, question: fill(text, { a: a.text, b: b.text }), answer: truth ? 'True' : 'False', check: { kind: 'relation', a: a.text, b: b.text, relation } };
  }

  const values = distinct(draw, draw.int(3, 5), style);
  const list = values.map((x) => x.text).join(', ');

  if (kind === 'kth') {
    const ask = draw.pick(['max', 'min'] as const);
    const k = draw.int(2, Math.min(4, values.length));
    const sorted = [...values].sort((x, y) => (ask === 'max' ? y.r.compare(x.r) : x.r.compare(y.r)));
    const { text, index } = phrase(draw, KTH[ask]);
    return { module: 'comparison', template: `comparison/kth-${ask}/${index}/${style}`, question: fill(text, { k: ORDINALS[k], list }), answer: sorted[k - 1].text, check: { kind: 'order', values: values.map((x) => x.text), ask, k } };
  }

  if (kind === 'sort') {
    const order = draw.pick(['ascending', 'descending'] as const);
    const sorted = [...values].sort((x, y) => (order === 'ascending' ? x.r.compare(y.r) : y.r.compare(x.r)));
    const { text, index } = phrase(draw, SORT[order]);
    return { module: 'comparison', template: `comparison/sort-${order}/${index}/${style}`, question: fill(text, { list }), answer: sorted.map((x) => x.text).join(', '), check: { kind: 'order', values: values.map((x) => x.text), ask: `sort-${order}` } };
  }

  // nearest: redraw until one value is strictly nearest to the target
  for (;;) {
    const target = value(draw, style);
    const distances = values.map((x) => x.r.sub(target.r).abs());
    const best = distances.reduce((m, d, i) => (d.compare(distances[m]) < 0 ? i : m), 0);
    if (distances.filter((d) => d.equals(distances[best])).length > 1 || values.some((x) => x.r.equals(target.r))) continue;

    const { text, index } = phrase(draw, NEAREST);
    const lettered = text.includes('{options}');
    const options = values.map((x, i) => `(${String.fromCharCode(97 + i)}) ${x.text}`).join('  ');
    return {
      module: 'comparison',
      template: `comparison/nearest/${index}/${style}`,
      question: fill(text, { t: target.text, options, list }),
      answer: lettered ? String.fromCharCode(97 + best) : values[best].text,
      check: { kind: 'nearest', values: values.map((x) => x.text), target: target.text },
    };
  }
}
