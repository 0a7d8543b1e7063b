import { answerOf, Draw, fill, phrase } from '../draw';
import { Rational } from '../rational';
import type { MathProblem } from '../types';

/** Units per quantity with their size in the quantity's base unit (metres, grams, litres, seconds). */
export const UNITS: Record<string, Record<string, Rational>> = {
  length: {
    kilometres: new Rational(1000), metres: new Rational(1), centimetres: new Rational(1, 100), millimetres: new Rational(1, 1000),
    micrometers: new Rational(1, 1000000), nanometers: new Rational(1, 1000000000),
  },
  mass: {
    tonnes: new Rational(1000000), kilograms: new Rational(1000), grams: new Rational(1), milligrams: new Rational(1, 1000),
    micrograms: new Rational(1, 1000000),
  },
  volume: { litres: new Rational(1), millilitres: new Rational(1, 1000), microlitres: new Rational(1, 1000000) },
  time: {
    weeks: new Rational(604800), days: new Rational(86400), hours: new Rational(3600), minutes: new Rational(60), seconds: new Rational(1),
    milliseconds: new Rational(1, 1000),
  },
};

/** Singular forms for "a litre" style questions. */
const SINGULAR: Record<string, string> = {
  kilometres: 'kilometre', metres: 'metre', centimetres: 'centimetre', millimetres: 'millimetre', micrometers: 'micrometer', nanometers: 'nanometer',
  tonnes: 'tonne', kilograms: 'kilogram', grams: 'gram', milligrams: 'milligram', micrograms: 'microgram', litres: 'litre', millilitres: 'millilitre',
  microlitres: 'microlitre', weeks: 'week', days: 'day', hours: 'hour', minutes: 'minute', seconds: 'second', milliseconds: 'millisecond',
};

const CONVERT = [
  'How many {to} are there in {v} {from}?', 'Convert {v} {from} to {to}.', 'What is {v} {from} in {to}?', 'How many {to} are in {v} {from}?',
  'Express {v} {from} in {to}.', 'What is {v} {from} expressed in {to}?', 'Give {v} {from} in {to}.', 'Convert {v} {from} into {to}.',
  'How much is {v} {from} in {to}?', 'Change {v} {from} to {to}.', 'What is {v} {from} when written in {to}?',
];
const FRACTION_OF = ['How many {to} are there in {f} of a {one}?', 'What is {f} of a {one} in {to}?', 'How many {to} are in {f} of a {one}?', 'Convert {f} of a {one} to {to}.', 'What is {f} of a {one} expressed in {to}?'];
const AFTER = ['What is {m} minutes after {t}?', 'What time is {m} minutes after {t}?', 'What is the time {m} minutes after {t}?', 'What time will it be {m} minutes after {t}?', 'It is {t}. What time is it in {m} minutes?', 'Add {m} minutes to {t}.'];
const BEFORE = ['What is {m} minutes before {t}?', 'What time was it {m} minutes before {t}?', 'What is the time {m} minutes before {t}?', 'It is {t}. What time was it {m} minutes ago?', 'Subtract {m} minutes from {t}.', 'What was the time {m} minutes before {t}?'];
const BETWEEN = ['How many minutes are there between {t} and {u}?', 'How many minutes are between {t} and {u}?', 'What is the number of minutes between {t} and {u}?', 'How many minutes pass from {t} to {u}?', 'How long, in minutes, is it from {t} to {u}?'];

/** Writes minutes after midnight as `HH:MM` on the 24-hour clock. */
export function clock24(minutes: number): string {
  const m = ((minutes % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** Writes minutes after midnight as `H:MM AM` or `H:MM PM` on the 12-hour clock. */
function clock12(minutes: number): string {
  const m = ((minutes % 1440) + 1440) % 1440;
  const hour = Math.floor(m / 60);
  return `${hour % 12 === 0 ? 12 : hour % 12}:${String(m % 60).padStart(2, '0')} ${hour < 12 ? 'AM' : 'PM'}`;
}

function withinMillion(ratio: Rational): boolean {
  return ratio.compare(new Rational(1, 1000000)) >= 0 && ratio.compare(1000000) <= 0;
}

function convert(draw: Draw): MathProblem {
  const quantity = draw.pick(Object.keys(UNITS));
  // units at most a factor of 10^6 apart, so answers keep a readable number of digits
  let [from, to] = draw.sample(Object.keys(UNITS[quantity]), 2);
  while (!withinMillion(UNITS[quantity][from].div(UNITS[quantity][to]))) [from, to] = draw.sample(Object.keys(UNITS[quantity]), 2);
  const ratio = UNITS[quantity][from].div(UNITS[quantity][to]);

  if (draw.chance(0.2) && ratio.compare(1) > 0) {
    // "3/4 of a litre": the fraction is chosen so the answer is a whole or terminating number
    const f = draw.pick([new Rational(1, 2), new Rational(1, 4), new Rational(3, 4), new Rational(1, 5), new Rational(2, 5), new Rational(3, 8), new Rational(7, 10), new Rational(1, 10)]);
    const { text, index } = phrase(draw, FRACTION_OF);
    return {
      module: 'measurement',
      template: `measurement/fraction-of/${index}/${quantity}`,
      question: fill(text, { to, f: f.toString(), one: SINGULAR[from] }),
      answer: answerOf(f.mul(ratio), 'decimal'),
      check: { kind: 'convert', value: f.toString(), from, to },
    };
  }

  const value = draw.chance(0.5) ? new Rational(draw.int(1, 900)) : draw.decimal(draw.pick([1, 10, 100]), 3).abs();
  const { text, index } = phrase(draw, CONVERT);
  const written = value.toDecimal()!;
  return {
    module: 'measurement',
    template: `measurement/convert/${index}/${quantity}/${value.isInteger() ? 'integer' : 'decimal'}`,
    question: fill(text, { v: written, from, to }),
    answer: answerOf(value.mul(ratio), 'decimal'),
    check: { kind: 'convert', value: written, from, to },
  };
}

function time(draw: Draw): MathProblem {
  const start = draw.int(0, 1439);
  const format = draw.pick(['12', '24'] as const);
  const show = format === '12' ? clock12 : clock24;
  const ask = draw.pick(['after', 'before', 'between'] as const);
  const minutes = draw.int(1, 1000);

  if (ask === 'between') {
    const end = start + draw.int(1, 1439 - start > 0 ? 1439 - start : 1);
    const { text, index } = phrase(draw, BETWEEN);
    return {
      module: 'measurement',
      template: `measurement/time-between/${index}/${format}`,
      question: fill(text, { t: show(start), u: show(end) }),
      answer: String(end - start),
      check: { kind: 'clock', ask, start: clock24(start), end: clock24(end) },
    };
  }

  const { text, index } = phrase(draw, ask === 'after' ? AFTER : BEFORE);
  return {
    module: 'measurement',
    template: `measurement/time-${ask}/${index}/${format}`,
    question: fill(text, { m: String(minutes), t: show(start) }),
    answer: show(start + (ask === 'after' ? minutes : -minutes)),
    check: { kind: 'clock', ask, start: clock24(start), minutes },
  };
}

/** Measurement: unit conversion (length, mass, volume, time) and clock arithmetic. */
export function measurementProblem(draw: Draw): MathProblem {
  return draw.chance(0.65) ? convert(draw) : time(draw);
}
