import * as path from 'path';

import { InvalidInputError } from '@modularevo/core-tensor';

import { parseCoefficients, parseDomainSpec, parseTaskDomain, parseTaskSpec } from './specs';

describe('parseTaskSpec', () => {
  it.each([
    ['math-topic', { name: 'math-topic' }],
    ['langid=data/udhr', { name: 'langid', source: path.resolve('data/udhr') }],
    [
      'mathqa=train:m/dev.json,validation:m/challenge_test.json,test:m/test.json',
      { name: 'mathqa', source: { train: path.resolve('m/dev.json'), validation: path.resolve('m/challenge_test.json'), test: path.resolve('m/test.json') } },
    ],
    ['mathqa=test:m/test.json', { name: 'mathqa', source: { test: path.resolve('m/test.json') } }],
  ])('parses %s', (spec, expected) => {
    expect(parseTaskSpec(spec)).toEqual(expected);
  });

  it.each([
    ['=data', /start with a name/],
    ['mathqa=train:a.json,dev:b.json', /Invalid split file "dev:b.json" for task mathqa: use SPLIT:FILE/],
    ['mathqa=train:a.json,train:b.json', /names the train split twice/],
    ['mathqa=train:', /Invalid split file "train:"/],
  ])('rejects %s', (spec, message) => {
    expect(() => parseTaskSpec(spec)).toThrow(InvalidInputError);
    expect(() => parseTaskSpec(spec)).toThrow(message);
  });
});

describe('parseDomainSpec', () => {
  it('takes a built-in domain without a path', () => {
    expect(parseDomainSpec('math')).toEqual({ name: 'math' });
  });

  it('resolves the corpus path', () => {
    expect(parseDomainSpec('europarl=corpora/europarl')).toEqual({ name: 'europarl', corpus: path.resolve('corpora/europarl') });
  });
});

describe('parseTaskDomain', () => {
  it('splits task and domain', () => {
    expect(parseTaskDomain('langid=multilingual')).toEqual({ task: 'langid', domain: 'multilingual' });
  });

  it('rejects a missing domain', () => {
    expect(() => parseTaskDomain('langid')).toThrow(/use TASK=DOMAIN/);
  });
});

describe('parseCoefficients', () => {
  it.each([
    ['0.4,0.7,1.0', [0.4, 0.7, 1]],
    ['0.4:1.2:0.1', [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.2]],
    ['1', [1]],
  ])('parses %s', (text, expected) => {
    expect(parseCoefficients(text)).toEqual(expected);
  });

  it.each(['0.4,,1', 'a,b', '1:0.4:0.1'])('rejects %s', (text) => {
    expect(() => parseCoefficients(text)).toThrow(InvalidInputError);
  });
});
