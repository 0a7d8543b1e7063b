import { InvalidInputError } from '@modularevo/core-tensor';

import { parseRecipe } from './recipe';

describe('merge recipes', () => {
  it('reads MergeKit-style keys and aliases', () => {
    const recipe = parseRecipe(
      {
        merge_method: 'dare',
        base_model: 'base',
        models: [{ model: 'a', parameters: { weight: 0.5, density: 0.25 } }, { model: 'b', parameters: { weight: 1.5, drop: 0.5 } }],
        parameters: { lambda: 0.9, apply: 'ties', trim: 0.1, exclude: '.*classifier.*', seed: 3 },
        dtype: 'bfloat16',
        out: 'merged',
      },
      'recipe.yaml',
    );

    expect(recipe).toEqual({
      base: 'base',
      models: ['a', 'b'],
      out: 'merged',
      config: {
        method: 'dare',
        coefficients: [0.5, 1.5],
        drop: [0.75, 0.5],
        scalingCoefficient: 0.9,
        apply: 'ties',
        trim: 0.1,
        exclude: ['.*classifier.*'],
        seed: 3,
        dtype: 'BF16',
      },
    });
  });

  it('maps a shared density to the trim of ties', () => {
    expect(parseRecipe({ method: 'ties', parameters: { density: 0.2 } }, 'r.yaml').config.trim).toBeCloseTo(0.8, 12);
  });

  const invalid: [string, unknown, RegExp][] = [
    ['unknown top key', { method: 'ties', tokenizer_source: 'base' }, /unknown key "tokenizer_source" in the recipe/],
    ['unknown parameter', { method: 'ties', parameters: { normalize: true } }, /unknown key "normalize" in parameters/],
    ['weight for some models only', { models: [{ model: 'a', parameters: { weight: 1 } }, { model: 'b' }] }, /models\[1\] has no weight/],
    ['non-numeric weight', { models: [{ model: 'a', parameters: { weight: 'high' } }] }, /models\[0\]\.parameters\.weight must be a number/],
    ['empty models', { models: [] }, /non-empty list/],
    ['bad dtype', { dtype: 'int8' }, /dtype "int8" is not one of/],
    ['not a mapping', ['ties'], /the recipe must be a mapping/],
  ];

  it.each(invalid)('%s is rejected with the key named', (_name, document, message) => {
    expect(() => parseRecipe(document, 'recipe.yaml')).toThrow(InvalidInputError);
    expect(() => parseRecipe(document, 'recipe.yaml')).toThrow(message);
  });
});
