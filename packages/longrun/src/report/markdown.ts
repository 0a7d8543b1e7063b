/**
 * `report.md` of an evolution run, written from its summary.
 */
import { formatDuration } from '@modularevo/core-tensor';

import { NOISE_STANDARD_ERRORS } from './noise';
import type { Chart } from './charts';
import type { EvolveSummary, GainSummary } from './summary';

/** Formats the Markdown report; `charts` are linked from `charts/<file>`. */
export function formatMarkdownReport(summary: EvolveSummary, charts: readonly Chart[]): string {
  const sections = [
    header(summary),
    modulesSection(summary),
    ...Array.from({ length: summary.stages }, (_, stage) => stageSection(summary, stage)),
    gainsSection(summary),
    chartsSection(charts),
    finetunesSection(summary),
  ];
  return `${sections.filter((section) => section !== '').join('\n\n')}\n`;
}

function header(summary: EvolveSummary): string {
  const time = summary.runSeconds === null ? '' : ` Time spent in run steps: ${formatDuration(summary.runSeconds)}.`;
  const progress =
    summary.stagesFinished === summary.stages ? `All ${summary.stages} stages finished.` : `${summary.stagesFinished} of ${summary.stages} stages finished; the run is incomplete.`;
  const tasks = table(
    ['task', 'domain', 'metric', 'test examples'],
    summary.tasks.map((task) => [task.name, task.domain, task.metric ?? 'n/a', task.testExamples === null ? 'n/a' : String(task.testExamples)]),
  );
  return [
    '# ModularEvo evolution run',
    `Architecture \`${summary.arch}\`, base model \`${summary.model}\`, seed ${summary.seed}. ${progress}${time}`,
    `Strategies: ${summary.strategies.map((strategy) => `\`${strategy}\``).join(', ')}. Every strategy sees the same stage shards and seeds; the full fine-tuning baselines share their stage-0 fine-tuned models, which all start from the base model.`,
    tasks,
  ].join('\n\n');
}

function modulesSection(summary: EvolveSummary): string {
  if (summary.modules.length === 0) return '';
  const rows = summary.modules.map((module) => [
    module.domain,
    module.source === 'base' ? 'base model' : `${module.source} model`,
    String(module.stage),
    String(module.optimizerSteps),
    percent(module.retention),
    percent(module.baseFraction),
    module.reachedThreshold ? 'yes' : `no (threshold ${module.threshold})`,
  ]);
  const lines = [
    '## Domain modules',
    table(['domain', 'learned on', 'stage', 'steps', 'kept of masked entries', 'kept of all base entries', 'reached threshold'], rows),
  ];

  // the update budget of mask-guided fine-tuning against what fine-tuning really changed
  const baseModules = summary.modules.filter((module) => module.source === 'base');
  const changed = (mode: string) => summary.finetunes.filter((finetune) => finetune.mode === mode).map((finetune) => finetune.changedFraction);
  if (baseModules.length > 0) {
    const masked = mean(baseModules.map((module) => module.retention));
    const all = mean(baseModules.map((module) => module.baseFraction));
    let text =
      `ModularEvo fine-tunes only the entries its module keeps: ${percent(masked)} of the masked linear-layer entries, ` +
      `or ${percent(all)} of all base-model entries (parameters without a mask, such as embeddings and layer norms, stay frozen).`;
    const moduleChanged = changed('module');
    const fullChanged = changed('full');
    if (moduleChanged.length > 0) text += ` Measured over its fine-tuning runs, ${percent(mean(moduleChanged))} of the base entries changed on average`;
    if (fullChanged.length > 0) text += `${moduleChanged.length > 0 ? ', against' : ' Full fine-tuning changed'} ${percent(mean(fullChanged))} under full fine-tuning`;
    lines.push(`${text}${moduleChanged.length + fullChanged.length > 0 ? '.' : ''}`);
  }
  return lines.join('\n\n');
}

function stageSection(summary: EvolveSummary, stage: number): string {
  const { strategies } = summary;
  const cell = (strategy: string, task: string) => {
    const score = summary.scores[strategy][task][stage];
    const error = summary.standardErrors[strategy][task][stage];
    if (score === null) return 'not run';
    return error === null ? score.toFixed(4) : `${score.toFixed(4)} ± ${error.toFixed(4)}`;
  };
  const rows = summary.tasks.map((task) => [task.name, ...strategies.map((strategy) => cell(strategy, task.name))]);
  rows.push(['**mean**', ...strategies.map((strategy) => formatScore(summary.meanScores[strategy][stage]))]);

  const choices = strategies.map((strategy) => {
    const coefficients = summary.coefficients[strategy][stage];
    if (coefficients === null) return `\`${strategy}\`: not run`;
    const chosen = coefficients.length === 0 ? 'no coefficients' : `coefficients [${coefficients.join(', ')}]`;
    const spread = summary.gridSpread[strategy][stage];
    const spreadText = spread !== null && coefficients.length > 0 ? `, spread over the grid ${spread.toFixed(4)}` : '';
    return `\`${strategy}\`: ${chosen}, validation mean ${formatScore(summary.validationMeans[strategy][stage])}${spreadText}`;
  });
  return [
    `## Stage ${stage}`,
    `Test score of each task after composition (± one binomial standard error where the metric is a proportion).`,
    table(['task', ...strategies], rows),
    `Chosen by grid search on the validation subset: ${choices.join('; ')}.`,
  ].join('\n\n');
}

function gainsSection(summary: EvolveSummary): string {
  if (summary.gains.length === 0) return '';
  const rows = summary.gains.map((gain) => [
    String(gain.stage),
    `\`${gain.strategy}\``,
    `\`${gain.baseline}\``,
    signed(gain.gain),
    gain.noise === null ? 'n/a' : gain.noise.toFixed(4),
    verdict(gain),
  ]);
  const judged = summary.gains.filter((gain) => gain.withinNoise !== null);
  const within = judged.filter((gain) => gain.withinNoise).length;
  const conclusion =
    judged.length === 0
      ? 'The metrics are not proportions, so no binomial noise estimate exists; compare the gains with the spread over the coefficient grid in the stage sections.'
      : within === judged.length
        ? `All ${judged.length} differences are within noise: on this run the strategies cannot be told apart.`
        : `${judged.length - within} of ${judged.length} differences exceed the noise estimate; ${within} are within noise.`;
  return [
    '## Gain of ModularEvo over each baseline',
    `Mean over tasks of the ModularEvo score minus the baseline score. "Noise" is ${NOISE_STANDARD_ERRORS} standard errors of that difference, treating the two scores as independent; both are measured on the same test examples, so this overstates the noise of a paired comparison.`,
    table(['stage', 'strategy', 'baseline', 'gain', 'noise', 'verdict'], rows),
    conclusion,
  ].join('\n\n');
}

function chartsSection(charts: readonly Chart[]): string {
  if (charts.length === 0) return '';
  return ['## Charts', ...charts.map((chart) => `### ${chart.title}\n\n![${chart.title}](charts/${chart.file})`)].join('\n\n');
}

function finetunesSection(summary: EvolveSummary): string {
  if (summary.finetunes.length === 0) return '';
  const rows = summary.finetunes.map((finetune) => [
    String(finetune.stage),
    finetune.task,
    finetune.mode,
    finetune.strategies.map((strategy) => `\`${strategy}\``).join(', '),
    String(finetune.optimizerSteps),
    percent(finetune.changedFraction),
    finetune.validationScore.toFixed(4),
    finetune.testScore.toFixed(4),
  ]);
  return [
    '## Fine-tuning runs',
    'Scores of each fine-tuned model before composition. A full fine-tuning run at stage 0 serves every full fine-tuning baseline.',
    table(['stage', 'task', 'mode', 'used by', 'steps', 'changed entries', 'validation', 'test'], rows),
  ].join('\n\n');
}

function verdict(gain: GainSummary): string {
  if (gain.withinNoise === null) return 'no noise estimate';
  if (gain.withinNoise) return 'within noise';
  return gain.gain > 0 ? 'ModularEvo better' : 'baseline better';
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function formatScore(value: number | null): string {
  return value === null ? 'not run' : value.toFixed(4);
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : ''}${value.toFixed(4)}`;
}

function percent(value: number): string {
  return `${(value * 100).toFixed(2)}%`;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;
}
