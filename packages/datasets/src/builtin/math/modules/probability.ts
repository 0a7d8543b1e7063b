import { COUNT_WORDS, Draw, fill, phrase } from '../draw';
import { Rational } from '../rational';
import type { MathProblem } from '../types';

const COUNTS = [
  'What is the probability of picking {event} when {k} letters are drawn without replacement from {bag}?',
  '{n} letters are drawn at random without replacement from {bag}. What is the probability of {event}?',
  'Suppose {k} letters are picked without replacement from {bag}. What is the probability of picking {event}?',
  'If {k} letters are chosen without replacement from {bag}, what is the probability of getting {event}?',
  '{n} letters picked without replacement from {bag}. What is prob of picking {event}?', '{n} letters picked without replacement from {bag}. Give prob of picking {event}.',
  'Calculate prob of picking {event} when {k} letters picked without replacement from {bag}.', 'What is prob of picking {event} when {k} letters picked without replacement from {bag}?',
  '{n} letters picked without replacement from {bag}. Calculate the probability of picking {event}.',
];
const SEQUENCE = [
  'What is the probability of the sequence {s} when {k} letters are drawn without replacement from {bag}?',
  '{n} letters are drawn at random without replacement from {bag}. What is the probability of the sequence {s}?',
  'Suppose {k} letters are picked without replacement from {bag}. Give the probability of the sequence {s}.',
  'If {k} letters are chosen in order without replacement from {bag}, what is the probability of {s}?',
  '{n} letters picked without replacement from {bag}. What is prob of sequence {s}?', '{n} letters picked without replacement from {bag}. Give prob of sequence {s}.',
  'Calculate prob of sequence {s} when {k} letters picked without replacement from {bag}.', 'What is prob of sequence {s} when {k} letters picked without replacement from {bag}?',
];
const DIE: Record<string, string[]> = {
  even: ['A fair {s}-sided die is rolled. What is the probability of an even number?', 'What is the probability of rolling an even number with a fair {s}-sided die?', 'A fair die with faces 1 to {s} is thrown. Give the probability that the result is even.', 'Roll a fair {s}-sided die once. What is the chance of an even score?'],
  odd: ['A fair {s}-sided die is rolled. What is the probability of an odd number?', 'What is the probability of rolling an odd number with a fair {s}-sided die?', 'A fair die with faces 1 to {s} is thrown. Give the probability that the result is odd.', 'Roll a fair {s}-sided die once. What is the chance of an odd score?'],
  greater: ['A fair {s}-sided die is rolled. What is the probability of a number greater than {k}?', 'What is the probability of rolling more than {k} with a fair {s}-sided die?', 'A fair die with faces 1 to {s} is thrown. Give the probability that the result exceeds {k}.', 'Roll a fair {s}-sided die once. What is the chance of scoring above {k}?'],
  less: ['A fair {s}-sided die is rolled. What is the probability of a number less than {k}?', 'What is the probability of rolling less than {k} with a fair {s}-sided die?', 'A fair die with faces 1 to {s} is thrown. Give the probability that the result is below {k}.', 'Roll a fair {s}-sided die once. What is the chance of scoring under {k}?'],
  multiple: ['A fair {s}-sided die is rolled. What is the probability of a multiple of {k}?', 'What is the probability of rolling a multiple of {k} with a fair {s}-sided die?', 'A fair die with faces 1 to {s} is thrown. Give the probability that the result is divisible by {k}.', 'Roll a fair {s}-sided die once. What is the chance of a multiple of {k}?'],
  prime: ['A fair {s}-sided die is rolled. What is the probability of a prime number?', 'What is the probability of rolling a prime with a fair {s}-sided die?', 'A fair die with faces 1 to {s} is thrown. Give the probability that the result is prime.', 'Roll a fair {s}-sided die once. What is the chance of a prime score?'],
};
const COINS = [
  '{n} fair coins are tossed. What is the probability of {c} {h} heads?', 'What is the probability of getting {c} {h} heads when {k} fair coins are tossed?',
  'A fair coin is tossed {k} times. What is the probability of {c} {h} heads?', 'Toss {k} fair coins. What is the chance of {c} {h} heads?',
  'A fair coin is flipped {k} times. Give the probability of getting {c} {h} heads.', 'What is the probability that {k} tosses of a fair coin give {c} {h} heads?',
  'Suppose {k} fair coins are flipped. Calculate the probability of {c} {h} heads.',
];

/** Number of ways to choose `k` of `n` (small arguments only). */
function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let result = 1;
  for (let i = 1; i <= k; i++) result = (result * (n - k + i)) / i;
  return Math.round(result);
}

const capitalize = (word: string) => word[0].toUpperCase() + word.slice(1);

/** The bag written as letters (`aabbc`, shuffled) or as counts (`{a: 2, b: 2, c: 1}`). */
function writeBag(draw: Draw, bag: Record<string, number>): { text: string; style: string } {
  if (draw.chance(0.5)) return { text: `{${Object.entries(bag).map(([letter, count]) => `${letter}: ${count}`).join(', ')}}`, style: 'counts' };
  const letters = Object.entries(bag).flatMap(([letter, count]) => new Array<string>(count).fill(letter));
  return { text: draw.rng.shuffle(letters).join(''), style: 'letters' };
}

/** The first `draws` letters of the shuffled bag, so the asked event can happen. */
function possibleDraw(draw: Draw, bag: Record<string, number>, draws: number): string[] {
  const all = Object.entries(bag).flatMap(([letter, count]) => new Array<string>(count).fill(letter));
  return draw.rng.shuffle(all).slice(0, draws);
}

function letters(draw: Draw): MathProblem {
  const names = draw.sample('abcdefghijklmnopqrstuvwxyz'.split(''), draw.int(2, 4)).sort();
  const bag: Record<string, number> = {};
  for (const name of names) bag[name] = draw.int(1, 6);
  const total = Object.values(bag).reduce((a, b) => a + b, 0);
  const draws = draw.int(2, Math.min(4, total));
  const { text: bagText, style } = writeBag(draw, bag);

  if (draw.chance(0.5)) {
    // a sequence: the product of conditional probabilities
    const sequence = possibleDraw(draw, bag, draws);
    const left = { ...bag };
    let p = new Rational(1);
    sequence.forEach((letter, i) => {
      p = p.mul(new Rational(Math.max(left[letter], 0), total - i));
      left[letter] -= 1;
    });
    const { text, index } = phrase(draw, SEQUENCE);
    return {
      module: 'probability',
      template: `probability/sequence/${index}/${style}`,
      question: fill(text, { n: capitalize(COUNT_WORDS[draws]), k: COUNT_WORDS[draws], bag: bagText, s: sequence.join('') }),
      answer: p.toString(),
      check: { kind: 'draw', bag, draws, sequence: sequence.join('') },
    };
  }

  // a multiset: hypergeometric count of the chosen letters over all ways to draw
  const counts: Record<string, number> = {};
  for (const letter of possibleDraw(draw, bag, draws)) counts[letter] = (counts[letter] ?? 0) + 1;
  const ways = Object.entries(counts).reduce((product, [letter, count]) => product * choose(bag[letter], count), 1);
  const event = Object.keys(counts).sort().map((letter) => `${counts[letter]} ${letter}`).join(' and ');
  const { text, index } = phrase(draw, COUNTS);
  return {
    module: 'probability',
    template: `probability/counts/${index}/${style}`,
    question: fill(text, { n: capitalize(COUNT_WORDS[draws]), k: COUNT_WORDS[draws], bag: bagText, event }),
    answer: new Rational(ways, choose(total, draws)).toString(),
    check: { kind: 'draw', bag, draws, counts },
  };
}

function die(draw: Draw): MathProblem {
  const sides = draw.pick([4, 6, 8, 10, 12, 20]);
  const event = draw.pick(['even', 'odd', 'greater', 'less', 'multiple', 'prime'] as const);
  const k = event === 'multiple' ? draw.int(2, Math.min(5, sides)) : draw.int(2, sides - 1);
  const faces = Array.from({ length: sides }, (_, i) => i + 1);
  const isPrime = (n: number) => n > 1 && faces.filter((d) => d > 1 && d < n).every((d) => n % d !== 0);
  const test = { even: (n: number) => n % 2 === 0, odd: (n: number) => n % 2 === 1, greater: (n: number) => n > k, less: (n: number) => n < k, multiple: (n: number) => n % k === 0, prime: isPrime }[event];
  const { text, index } = phrase(draw, DIE[event]);
  return {
    module: 'probability',
    template: `probability/die-${event}/${index}/${sides}`,
    question: fill(text, { s: String(sides), k: String(k) }),
    answer: new Rational(faces.filter(test).length, sides).toString(),
    check: { kind: 'die', sides, event, ...(text.includes('{k}') ? { k } : {}) },
  };
}

function coins(draw: Draw): MathProblem {
  const count = draw.int(2, 6);
  const heads = draw.int(0, count);
  const comparison = draw.pick(['exactly', 'at least', 'at most'] as const);
  let favourable = 0;
  for (let h = 0; h <= count; h++) {
    if (comparison === 'exactly' ? h === heads : comparison === 'at least' ? h >= heads : h <= heads) favourable += choose(count, h);
  }
  const { text, index } = phrase(draw, COINS);
  return {
    module: 'probability',
    template: `probability/coins/${index}/${comparison}/${count}`,
    question: fill(text, { n: capitalize(COUNT_WORDS[count]), k: COUNT_WORDS[count], c: comparison, h: String(heads) }),
    answer: new Rational(favourable, 2 ** count).toString(),
    check: { kind: 'coins', count, heads, comparison },
  };
}

/** Probability: letters drawn without replacement (sets and sequences), dice and coins. */
export function probabilityProblem(draw: Draw): MathProblem {
  const kind = draw.pick(['letters', 'letters', 'die', 'coins'] as const);
  if (kind === 'letters') return letters(draw);
  if (kind === 'die') return die(draw);
  return coins(draw);
}
