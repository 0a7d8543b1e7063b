import { InvalidInputError } from '@modularevo/core-tensor';

import { generateMathProblems, MATH_MODULES } from './math';
import { verifyProblem } from './__tests__/math-verifier';

describe('generateMathProblems', () => {
  const problems = generateMathProblems({ seed: 7, perModule: 400 });

  it('repeats exactly for one seed', () => {
    const again = generateMathProblems({ seed: 7, perModule: 400 });
    expect(again).toEqual(problems);
  });

  it('changes with the seed', () => {
    const other = generateMathProblems({ seed: 8, perModule: 400 });
    const shared = other.filter((p, i) => p.question === problems[i].question).length;
    expect(shared).toBeLessThan(problems.length / 10);
  });

  it('keeps a module stream independent of the others', () => {
    const onlyCalculus = generateMathProblems({ seed: 7, perModule: 400, modules: ['calculus'] });
    expect(onlyCalculus).toEqual(problems.filter((p) => p.module === 'calculus'));
  });

  it.each(MATH_MODULES)('gives %s distinct questions with answers', (module) => {
    const mine = problems.filter((p) => p.module === module);
    expect(mine).toHaveLength(400);
    expect(new Set(mine.map((p) => p.question)).size).toBe(400);
    for (const p of mine) {
      expect(p.question).not.toMatch(/\{\w+\}|\n|undefined|NaN/);
      expect(p.answer).not.toMatch(/\n|undefined|NaN|Infinity/);
      expect(p.answer.length).toBeGreaterThan(0);
    }
  });

  it.each(MATH_MODULES)('answers %s problems correctly', (module) => {
    const failures = problems.filter((p) => p.module === module).map(verifyProblem).filter((failure) => failure !== undefined);
    expect(failures).toEqual([]);
  });

  it.each(MATH_MODULES)('varies the wording of %s', (module) => {
    const templates = new Set(problems.filter((p) => p.module === module).map((p) => p.template));
    expect(templates.size).toBeGreaterThanOrEqual(40);
  });

  it('rejects a bad count or module', () => {
    expect(() => generateMathProblems({ seed: 1, perModule: -1 })).toThrow(InvalidInputError);
    expect(() => generateMathProblems({ seed: 1, perModule: 1, modules: ['geometry' as never] })).toThrow(/Unknown math module "geometry"/);
  });
});
