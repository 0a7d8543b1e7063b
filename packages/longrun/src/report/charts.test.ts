import { buildCharts } from './charts';
import type { RunRecord } from './records';
import { buildSummary, type SummaryPlan } from './summary';

const plan: SummaryPlan = {
  arch: 'gptneo',
  model: '/models/tiny',
  stages: 1,
  seed: 1,
  strategies: ['modularevo', 'average'],
  tasks: [
    { name: 'math-topic', domain: 'math' },
    { name: 'langid', domain: 'multilingual' },
  ],
};

function records(): RunRecord[] {
  const lines: Record<string, unknown>[] = [];
  for (const domain of ['math', 'multilingual']) {
    for (let step = 1; step <= 5; step++) lines.push({ kind: 'wrr', stage: 0, domain, optimizer_step: step, wrr: 1 - step * 0.15 });
    lines.push({ kind: 'module', stage: 0, domain, source: 'base', retention: 0.25, retained: 25, total: 100, base_parameters: 200, base_retained: 20, threshold: 0.25, optimizer_steps: 5, reached_threshold: true });
    for (const layer of ['transformer.h.0.attn.attention.q_proj', 'transformer.h.0.mlp.c_fc', 'transformer.h.1.mlp.c_fc']) {
      lines.push({ kind: 'layer_retention', stage: 0, domain, source: 'base', layer, layer_kind: 'attention', fraction: 0.3 });
    }
  }
  lines.push({ kind: 'overlap', stage: 0, source: 'base', domain_a: 'math', domain_b: 'multilingual', jaccard: 0.42 });
  for (const [point, coefficients] of ['0.4,0.4', '0.4,1', '1,0.4', '1,1'].entries()) {
    lines.push({ kind: 'grid', stage: 0, strategy: 'modularevo', point, coefficients, scores: '0.5,0.6', mean: 0.55 + point / 100 });
  }
  lines.push({ kind: 'grid', stage: 0, strategy: 'average', point: 0, coefficients: '', scores: '0.5,0.5', mean: 0.5 });
  for (const strategy of plan.strategies) {
    for (const task of plan.tasks) lines.push({ kind: 'test', stage: 0, strategy, task: task.name, metric: 'accuracy', score: 0.5, examples: 10, metrics: '{}' });
  }
  return lines.map((line, step) => ({ step, time: 0, ...line }) as RunRecord);
}

describe('buildCharts', () => {
  it('renders every chart as SVG with its data', async () => {
    const all = records();
    const charts = await buildCharts(buildSummary(plan, all), all);

    expect(charts.map((chart) => chart.file)).toEqual(['wrr.svg', 'layer-retention.svg', 'overlap.svg', 'coefficient-grid.svg', 'scores.svg']);
    for (const chart of charts) {
      expect(chart.svg.startsWith('<svg')).toBe(true);
      expect(chart.svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
    const svg = Object.fromEntries(charts.map((chart) => [chart.file, chart.svg]));
    expect(svg['wrr.svg']).toContain('multilingual');
    expect(svg['layer-retention.svg']).toContain('h.0.mlp.c_fc');
    expect(svg['layer-retention.svg']).toContain('layer (after &quot;transformer.&quot;)');
    expect(svg['overlap.svg']).toContain('0.420');
    expect(svg['coefficient-grid.svg']).toContain('coefficient of math-topic');
    expect(svg['coefficient-grid.svg']).not.toContain('average');
    expect(svg['scores.svg']).toContain('mean over tasks');
  });

  it('leaves out charts without data', async () => {
    const tests = records().filter((record) => record.kind === 'test');
    const charts = await buildCharts(buildSummary(plan, tests), tests);
    expect(charts.map((chart) => chart.file)).toEqual(['scores.svg']);
  });
});
