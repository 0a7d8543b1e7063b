import type { EvolveSettings } from '../config/settings';
import type { StrategyName } from '../config/strategies';
import { planRun, type FinetuneStep } from './plan';

function settings(strategies: StrategyName[], stages = 2): EvolveSettings {
  return {
    arch: 'gptneo',
    model: '/m',
    out: '/run',
    stages,
    seed: 1,
    strategies,
    tasks: [
      { name: 'mathqa', domain: 'math', source: '/d/mathqa' },
      { name: 'langid', domain: 'europarl', source: '/d/udhr' },
    ],
    domains: [
      { name: 'math', corpus: '/c/math' },
      { name: 'europarl', corpus: '/c/europarl' },
    ],
    modularize: { threshold: 0.25, maxSteps: 10, lr: 0.01, alpha: 1, batchSize: 2, blockSize: 8, warmupSteps: 0 },
    finetune: { epochs: 1, batchSize: 2, lr: 1e-3, weightDecay: 0, warmupSteps: 0, maxLength: 16 },
    data: {},
    merge: { coefficients: [1], trim: 0.75, drop: 0.75 },
    evalBatchSize: 4,
  };
}

describe('planRun', () => {
  const steps = planRun(settings(['modularevo', 'modularevo_relearn', 'task_arithmetic', 'ties', 'dare', 'average']));
  const ids = steps.map((step) => step.id);

  it('gives every step a unique id', () => {
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('learns the base modules once, first', () => {
    expect(ids.slice(0, 3)).toEqual(['stage-0/module/base/math', 'stage-0/module/base/europarl', 'stage-0/overlap/base']);
    expect(ids.filter((id) => id.includes('/module/base/'))).toHaveLength(2);
  });

  it('shares the stage-0 fine-tuning among strategies of one mode', () => {
    const stage0 = steps.filter((step): step is FinetuneStep => step.kind === 'finetune' && step.stage === 0);
    expect(stage0.map((step) => step.id)).toEqual([
      'stage-0/finetune/base/module/mathqa',
      'stage-0/finetune/base/module/langid',
      'stage-0/finetune/base/full/mathqa',
      'stage-0/finetune/base/full/langid',
    ]);
    expect(stage0[0].strategies).toEqual(['modularevo', 'modularevo_relearn']);
    expect(stage0[2].strategies).toEqual(['task_arithmetic', 'ties', 'dare', 'average']);
    expect(stage0[0].module).toEqual({ domain: 'math', source: 'base', stage: 0 });
  });

  it('fine-tunes every strategy on its own model after stage 0', () => {
    const stage1 = steps.filter((step): step is FinetuneStep => step.kind === 'finetune' && step.stage === 1);
    expect(stage1).toHaveLength(12);
    expect(stage1.every((step) => step.strategies.length === 1 && step.source === step.strategies[0])).toBe(true);
    expect(stage1.find((step) => step.source === 'modularevo')!.module).toEqual({ domain: 'math', source: 'base', stage: 0 });
    expect(stage1.find((step) => step.source === 'modularevo_relearn')!.module).toEqual({ domain: 'math', source: 'modularevo_relearn', stage: 1 });
  });

  it('relearns modules before the fine-tuning that uses them', () => {
    const relearn = ids.indexOf('stage-1/module/modularevo_relearn/math');
    expect(relearn).toBeGreaterThan(ids.indexOf('stage-0/compose/average'));
    expect(relearn).toBeLessThan(ids.indexOf('stage-1/finetune/modularevo_relearn/module/mathqa'));
    expect(ids).toContain('stage-1/overlap/modularevo_relearn');
  });

  it('composes each strategy from its own fine-tuning steps', () => {
    const compose = steps.find((step) => step.id === 'stage-1/compose/ties');
    expect(compose).toMatchObject({ kind: 'compose', strategy: 'ties', finetunes: ['stage-1/finetune/ties/full/mathqa', 'stage-1/finetune/ties/full/langid'] });
    for (const step of steps.filter((candidate) => candidate.kind === 'compose')) {
      for (const id of (step as { finetunes: string[] }).finetunes) expect(ids.indexOf(id)).toBeLessThan(ids.indexOf(step.id));
    }
  });

  it('learns no module without a ModularEvo strategy', () => {
    const baselines = planRun(settings(['ties', 'average'], 1));
    expect(baselines.map((step) => step.kind)).toEqual(['finetune', 'finetune', 'compose', 'compose']);
  });
});
