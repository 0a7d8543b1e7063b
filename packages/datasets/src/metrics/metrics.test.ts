import { InvalidInputError } from '@modularevo/core-tensor';

import { accuracy, macroF1, precisionRecallF1 } from './classification';
import { computeBleu, concodeBleu } from './corpus-bleu';
import { exactMatch } from './exact-match';
import { pythonSplit, pythonStrip, splitPunctuation } from './python-text';
import { nistTokens, sentenceSmoothBleu, smoothBleu } from './smooth-bleu';

const FLOAT_MIN = 2.2250738585072014e-308;

describe('classification metrics', () => {
  // class 1: tp 2, fp 1, fn 1; class 0: tp 1, fp 1, fn 1; class 2: tp 1
  const predictions = [1, 0, 1, 1, 0, 2];
  const labels = [1, 0, 0, 1, 1, 2];

  it('accuracy counts equal pairs', () => {
    expect(accuracy(predictions, labels)).toBeCloseTo(4 / 6, 15);
  });

  it('binary precision, recall and F1 of class 1', () => {
    const scores = precisionRecallF1(predictions, labels, 1);

    expect(scores.precision).toBeCloseTo(2 / 3, 15);
    expect(scores.recall).toBeCloseTo(2 / 3, 15);
    expect(scores.f1).toBeCloseTo(2 / 3, 15);
  });

  it('macro-F1 averages over present classes', () => {
    expect(macroF1(predictions, labels)).toBeCloseTo((0.5 + 2 / 3 + 1) / 3, 15);
  });

  it('macro-F1 counts a given class that never occurs as 0', () => {
    expect(macroF1(predictions, labels, [0, 1, 2, 3])).toBeCloseTo((0.5 + 2 / 3 + 1 + 0) / 4, 15);
  });

  it('gives 0 where a denominator is 0', () => {
    const scores = precisionRecallF1([0, 0, 0], [1, 0, 0], 1);

    expect(scores).toEqual({ precision: 0, recall: 0, f1: 0 });
  });

  it('rejects unequal or empty lists', () => {
    expect(() => accuracy([1], [1, 0])).toThrow(InvalidInputError);
    expect(() => macroF1([], [])).toThrow(/at least one prediction/);
  });
});

describe('exact match', () => {
  it.each([
    ['strip', 0.5],
    ['tokens', 0.75],
    ['exact', 0.25],
  ] as const)('%s mode', (mode, expected) => {
    const predictions = ['int x = 1 ;', ' int y ; ', 'a  b', 'c'];
    const references = ['int x = 1 ;', 'int y ;', 'a b', 'd'];

    expect(exactMatch(predictions, references, mode)).toBe(expected);
  });
});

describe('Python string helpers', () => {
  it('strip and split use Python whitespace', () => {
    expect(pythonStrip('\u0085\x1c a b \u3000')).toBe('a b');
    expect(pythonStrip('\ufeffa')).toBe('\ufeffa');
    expect(pythonSplit(' a\x1fb\u0085c  d ')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('splitPunctuation keeps words and splits punctuation', () => {
    expect(splitPunctuation("get_user's name(x)=café1")).toBe("get_user ' s name ( x ) = café1");
  });

  it('nistTokens unescapes, joins lines and splits punctuation', () => {
    expect(nistTokens('&lt;P&gt; x-\ny 3-4 &amp;')).toEqual(['<', 'p', '>', 'xy', '3', '-', '4', '&']);
    expect(nistTokens('a.b, 1.5 <skipped>')).toEqual(['a', '.', 'b', ',', '1.5']);
  });
});

describe('smoothed sentence BLEU (CodeXGLUE smooth_bleu.py)', () => {
  // each expectation written out from the formula: exp(mean of the four log precisions + BP)
  const table: [string, string, string[], number][] = [
    // 3 tokens, all matched; orders 2-4 smoothed to 3/3, 2/2, 1/1; BP = 1 - 8/4 = -1
    ['shorter than the reference', 'return the sum', ['return the sum of a and b'], Math.exp(-1)],
    // no tokens: every term log(x + MIN) - log(x + MIN) = 0; only BP = 1 - 4/1 remains
    ['empty hypothesis', '', ['adds two numbers'], Math.exp(-3)],
    // 4 tokens all matched, equal lengths
    ['identical', 'gets the user name', ['gets the user name'], 1],
    // unigram precision 0: log(0 + MIN) - log(2); bigram (0 + 1) / (1 + 1); BP = 1 - 4/3
    ['no overlap', 'foo bar', ['baz qux quux'], Math.exp((Math.log(FLOAT_MIN) - Math.log(2) - Math.log(2)) / 4 - 1 / 3)],
    // 2 tokens: unigrams 2/2, bigram (0 + 1) / (1 + 1), orders 3-4 are 1/1; BP = 1 - 5/3
    ['two tokens, partial', 'get user', ['get the user id'], Math.exp(-Math.log(2) / 4 - 2 / 3)],
    // one token: every order is 0 or 1/1; BP = 1 - 3/2
    ['one token', 'user', ['user id'], Math.exp(-0.5)],
    // reference length is the shortest reference; n-grams clip against the best reference
    ['two references', 'a b c d', ['a b c d e f', 'a b'], 1],
    // 5 tokens against 4, so no brevity penalty. Unigrams 4/5, bigrams (3 + 1)/(4 + 1),
    // trigrams (2 + 1)/(3 + 1), 4-grams (1 + 1)/(2 + 1)
    ['longer than the reference', 'a b c d e', ['a b c d'], Math.exp((Math.log(4 / 5) + Math.log(4 / 5) + Math.log(3 / 4) + Math.log(2 / 3)) / 4)],
  ];

  it.each(table)('%s', (_name, hypothesis, references, expected) => {
    expect(sentenceSmoothBleu(hypothesis, references)).toBeCloseTo(expected, 14);
  });

  it('averages over examples after lower-casing and splitting punctuation', () => {
    const predictions = ['Returns the Value.', 'return the sum', ''];
    const references = ['returns the value .', 'return the sum of a and b', 'adds two numbers'];
    const expected = ((1 + Math.exp(-1) + Math.exp(-3)) / 3) * 100;

    expect(smoothBleu(predictions, references)).toBeCloseTo(expected, 12);
  });

  it('rejects unequal lists', () => {
    expect(() => smoothBleu(['a'], [])).toThrow(InvalidInputError);
  });
});

describe('corpus BLEU (tensorflow/nmt compute_bleu)', () => {
  const references = [[['a', 'b', 'c', 'd']], [['a', 'c', 'd']]];
  const translations = [
    ['a', 'b', 'c', 'd'],
    ['a', 'b'],
  ];

  it('sums matches over the corpus without smoothing', () => {
    // matches [4 + 1, 3, 2, 1], candidates [4 + 2, 3 + 1, 2, 1]; lengths 6 and 4 + 3
    const result = computeBleu(references, translations);

    expect(result.precisions).toEqual([5 / 6, 3 / 4, 1, 1]);
    expect(result.translationLength).toBe(6);
    expect(result.referenceLength).toBe(7);
    expect(result.brevityPenalty).toBeCloseTo(Math.exp(1 - 7 / 6), 15);
    expect(result.bleu).toBeCloseTo(Math.exp((Math.log(5 / 6) + Math.log(3 / 4)) / 4) * Math.exp(1 - 7 / 6), 15);
  });

  it('smooths every order by add-one', () => {
    const result = computeBleu(references, translations, 4, true);

    expect(result.precisions).toEqual([6 / 7, 4 / 5, 3 / 3, 2 / 2]);
    expect(result.bleu).toBeCloseTo(Math.exp((Math.log(6 / 7) + Math.log(4 / 5)) / 4) * Math.exp(1 - 7 / 6), 15);
  });

  it('is 0 without smoothing when an order has no match', () => {
    expect(computeBleu([[['x', 'y', 'z', 'q']]], [['x', 'y', 'z', 'w']]).bleu).toBe(0);
  });

  it('has no brevity penalty for long translations', () => {
    const result = computeBleu([[['a', 'b']]], [['a', 'b', 'a', 'b', 'a']], 2);

    expect(result.brevityPenalty).toBe(1);
    // unigrams clip a:3 and b:2 to 1 each; bigram "a b" clips 2 to 1 of 4 candidates
    expect(result.precisions).toEqual([2 / 5, 1 / 4]);
  });

  it('scores an all-empty translation 0', () => {
    expect(computeBleu([[['a']]], [[]]).bleu).toBe(0);
  });

  it('rejects all-empty references', () => {
    expect(() => concodeBleu(['int x ;'], [''])).toThrow(/references are all empty/);
  });

  it('Concode BLEU splits on whitespace and smooths', () => {
    const score = concodeBleu(['  int x = 1 ;\n', 'return y'], ['int x = 1 ;', 'return  x']);

    // matches [5 + 1, 4, 3, 2], candidates [5 + 2, 4 + 1, 3, 2] plus one each; lengths equal
    const expected = Math.exp((Math.log(7 / 8) + Math.log(5 / 6) + Math.log(4 / 4) + Math.log(3 / 3)) / 4) * 100;
    expect(score).toBeCloseTo(expected, 12);
  });
});
