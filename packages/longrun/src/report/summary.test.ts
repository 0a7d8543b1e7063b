import { buildSummary, type SummaryPlan } from './summary';
import type { RunRecord } from './records';

const plan: SummaryPlan = {
  arch: 'gptneo',
  model: '/models/tiny',
  stages: 2,
  seed: 1,
  strategies: ['modularevo', 'ties'],
  tasks: [
    { name: 'a', domain: 'math' },
    { name: 'b', domain: 'law' },
  ],
};

let step = 0;
function record(values: Record<string, unknown>): RunRecord {
  return { step: step++, time: 0, ...values } as RunRecord;
}

function test(stage: number, strategy: string, task: string, score: number, examples = 100): RunRecord {
  return record({ kind: 'test', stage, strategy, task, metric: 'accuracy', score, examples, metrics: JSON.stringify({ accuracy: score }) });
}

describe('buildSummary', () => {
  const records: RunRecord[] = [
    record({ kind: 'module', stage: 0, domain: 'math', source: 'base', retention: 0.25, retained: 250, total: 1000, base_parameters: 2000, base_retained: 200, threshold: 0.25, optimizer_steps: 80, reached_threshold: true }),
    record({ kind: 'finetune', stage: 0, task: 'a', mode: 'module', strategies: 'modularevo', domain: 'math', optimizer_steps: 5, changed_fraction: 0.1, validation_score: 0.5, test_score: 0.55, seconds: 1 }),
    record({ kind: 'grid', stage: 0, strategy: 'modularevo', point: 0, coefficients: '0.5,0.5', scores: '0.4,0.6', mean: 0.5 }),
    record({ kind: 'grid', stage: 0, strategy: 'modularevo', point: 1, coefficients: '1,1', scores: '0.6,0.8', mean: 0.7 }),
    record({ kind: 'merge', stage: 0, strategy: 'modularevo', method: 'modularevo', coefficients: '1,1', validation_mean: 0.7, grid_spread: 0.1, grid_points: 2 }),
    test(0, 'modularevo', 'a', 0.6),
    test(0, 'modularevo', 'b', 0.8),
    test(0, 'ties', 'a', 0.5),
    test(0, 'ties', 'b', 0.5),
    test(1, 'modularevo', 'a', 0.7),
  ];
  const summary = buildSummary(plan, records, 12.5);

  it('fills scores by strategy, task and stage', () => {
    expect(summary.scores.modularevo.a).toEqual([0.6, 0.7]);
    expect(summary.scores.modularevo.b).toEqual([0.8, null]);
    expect(summary.scores.ties.a).toEqual([0.5, null]);
    expect(summary.meanScores.modularevo).toEqual([0.7, null]);
    expect(summary.meanScores.ties).toEqual([0.5, null]);
  });

  it('counts only stages with every score', () => {
    expect(summary.stagesFinished).toBe(1);
    expect(summary.runSeconds).toBe(12.5);
  });

  it('gives binomial standard errors', () => {
    expect(summary.standardErrors.modularevo.a[0]).toBeCloseTo(Math.sqrt((0.6 * 0.4) / 100), 12);
    expect(summary.standardErrors.ties.b[0]).toBeCloseTo(0.05, 12);
  });

  it('computes the gain with its noise estimate', () => {
    expect(summary.gains).toHaveLength(1);
    const [gain] = summary.gains;
    expect(gain).toMatchObject({ stage: 0, strategy: 'modularevo', baseline: 'ties' });
    expect(gain.gain).toBeCloseTo(0.2, 12);

    // two standard errors of the mean of two independent differences
    const errorA = Math.sqrt(0.0024 + 0.0025);
    const errorB = Math.sqrt(0.0016 + 0.0025);
    expect(gain.noise).toBeCloseTo((2 * Math.sqrt(errorA ** 2 + errorB ** 2)) / 2, 12);
    expect(gain.withinNoise).toBe(false);
  });

  it('keeps the chosen coefficients and the grid spread', () => {
    expect(summary.coefficients.modularevo).toEqual([[1, 1], null]);
    expect(summary.validationMeans.modularevo).toEqual([0.7, null]);
    expect(summary.gridSpread.modularevo).toEqual([0.1, null]);
    expect(summary.coefficients.ties).toEqual([null, null]);
  });

  it('reports modules against all base entries', () => {
    expect(summary.modules).toEqual([
      { stage: 0, domain: 'math', source: 'base', retention: 0.25, baseFraction: 0.1, threshold: 0.25, reachedThreshold: true, optimizerSteps: 80 },
    ]);
    expect(summary.finetunes[0]).toMatchObject({ task: 'a', mode: 'module', strategies: ['modularevo'], changedFraction: 0.1 });
  });

  it('has no noise estimate for a metric that is not a proportion', () => {
    const bleu = records.map((entry) => (entry.kind === 'test' ? { ...entry, metric: 'smooth-bleu' } : entry)) as RunRecord[];
    const [gain] = buildSummary(plan, bleu).gains;
    expect(gain.noise).toBeNull();
    expect(gain.withinNoise).toBeNull();
  });
});
