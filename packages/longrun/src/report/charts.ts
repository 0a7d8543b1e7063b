/**
 * The report's charts as Vega-Lite specifications, rendered to SVG headless. Vega's `none`
 * renderer builds the SVG text itself, so no canvas package is needed, and it estimates text widths.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

import { parseNumberList, recordsOf, type RunRecord } from './records';
import type { EvolveSummary } from './summary';

/** A chart of the report: its file name in `charts/`, its title, and its SVG. */
export interface Chart {
  file: string;
  title: string;
  svg: string;
}

/** Renders a Vega-Lite specification to SVG text. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Builds every chart the records have data for. */
export async function buildCharts(summary: EvolveSummary, records: readonly RunRecord[]): Promise<Chart[]> {
  const specs: { file: string; title: string; spec: TopLevelSpec | undefined }[] = [
    { file: 'wrr.svg', title: 'Weight retention rate during modularization', spec: wrrSpec(records) },
    { file: 'layer-retention.svg', title: 'Retained fraction per layer of each domain module', spec: layerRetentionSpec(records) },
    { file: 'overlap.svg', title: 'Overlap (Jaccard index) between domain modules', spec: overlapSpec(records) },
    { file: 'coefficient-grid.svg', title: 'Mean validation score over the coefficient grid', spec: gridSpec(summary, records) },
    { file: 'scores.svg', title: 'Test score per stage and strategy', spec: scoresSpec(summary) },
  ];

  const charts: Chart[] = [];
  for (const { file, title, spec } of specs) {
    if (spec) charts.push({ file, title, svg: await renderSvg(spec) });
  }
  return charts;
}

function wrrSpec(records: readonly RunRecord[]): TopLevelSpec | undefined {
  const points = recordsOf(records, 'wrr').map((record) => ({
    module: record.stage === 0 ? record.domain : `${record.domain} (stage ${record.stage})`,
    step: record.optimizer_step,
    wrr: record.wrr,
  }));
  const thresholds = [...new Set(recordsOf(records, 'module').map((module) => module.threshold))].map((threshold) => ({ threshold }));
  if (points.length === 0) return undefined;

  return {
    width: 420,
    height: 260,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', interpolate: 'linear' },
        encoding: {
          x: { field: 'step', type: 'quantitative', title: 'modularization step' },
          y: { field: 'wrr', type: 'quantitative', title: 'weight retention rate', scale: { domain: [0, 1] } },
          color: { field: 'module', type: 'nominal', title: 'module' },
        },
      },
      {
        data: { values: thresholds },
        mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
        encoding: { y: { field: 'threshold', type: 'quantitative' } },
      },
    ],
  };
}

function layerRetentionSpec(records: readonly RunRecord[]): TopLevelSpec | undefined {
  // modules learned on the base model; relearned ones would crowd the chart
  const rows = recordsOf(records, 'layer_retention').filter((record) => record.source === 'base');
  if (rows.length === 0) return undefined;
  const prefix = commonPrefix(rows.map((row) => row.layer));
  const layers = [...new Set(rows.map((row) => row.layer.slice(prefix.length)))];

  return {
    width: Math.max(360, layers.length * 16),
    height: 220,
    data: { values: rows.map((row) => ({ layer: row.layer.slice(prefix.length), domain: row.domain, fraction: row.fraction })) },
    mark: 'bar',
    encoding: {
      x: { field: 'layer', type: 'nominal', sort: layers, title: prefix ? `layer (after "${prefix}")` : 'layer', axis: { labelAngle: -60, labelLimit: 400 } },
      xOffset: { field: 'domain', type: 'nominal' },
      y: { field: 'fraction', type: 'quantitative', title: 'retained fraction', scale: { domain: [0, 1] } },
      color: { field: 'domain', type: 'nominal', title: 'domain' },
    },
  };
}

function overlapSpec(records: readonly RunRecord[]): TopLevelSpec | undefined {
  const pairs = recordsOf(records, 'overlap').filter((record) => record.source === 'base');
  if (pairs.length === 0) return undefined;

  // both orders and the diagonal, so the matrix reads from either side
  const domains = [...new Set(pairs.flatMap((pair) => [pair.domain_a, pair.domain_b]))];
  const cells = [
    ...domains.map((domain) => ({ a: domain, b: domain, jaccard: 1 })),
    ...pairs.flatMap((pair) => [
      { a: pair.domain_a, b: pair.domain_b, jaccard: pair.jaccard },
      { a: pair.domain_b, b: pair.domain_a, jaccard: pair.jaccard },
    ]),
  ];
  const encoding = {
    x: { field: 'a', type: 'nominal' as const, sort: domains, title: 'module' },
    y: { field: 'b', type: 'nominal' as const, sort: domains, title: 'module' },
  };

  return {
    width: 60 * domains.length + 60,
    height: 60 * domains.length + 60,
    data: { values: cells },
    layer: [
      { mark: 'rect', encoding: { ...encoding, color: { field: 'jaccard', type: 'quantitative', title: 'Jaccard', scale: { domain: [0, 1] } } } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { ...encoding, text: { field: 'jaccard', type: 'quantitative', format: '.3f' } } },
    ],
  };
}

function gridSpec(summary: EvolveSummary, records: readonly RunRecord[]): TopLevelSpec | undefined {
  // a method without coefficients has one point, which makes no map
  const grid = recordsOf(records, 'grid').filter((point) => point.coefficients !== '');
  if (grid.length === 0) return undefined;
  const tasks = summary.tasks.map((task) => task.name);
  const facet = {
    row: { field: 'stage', type: 'ordinal' as const, title: 'stage' },
    column: { field: 'strategy', type: 'nominal' as const, title: 'strategy', sort: summary.strategies.filter((strategy) => grid.some((point) => point.strategy === strategy)) },
  };

  // two tasks: a heat map over the two coefficients
  if (tasks.length === 2) {
    const values = grid.map((point) => {
      const [first, second] = parseNumberList(point.coefficients);
      return { stage: point.stage, strategy: point.strategy, first, second, mean: point.mean };
    });
    return {
      data: { values },
      facet,
      spec: {
        width: 150,
        height: 150,
        layer: [
          {
            mark: 'rect',
            encoding: {
              x: { field: 'first', type: 'ordinal', title: `coefficient of ${tasks[0]}` },
              y: { field: 'second', type: 'ordinal', title: `coefficient of ${tasks[1]}`, sort: 'descending' },
              color: { field: 'mean', type: 'quantitative', title: 'mean validation score' },
            },
          },
          {
            mark: { type: 'text', fontSize: 9 },
            encoding: {
              x: { field: 'first', type: 'ordinal' },
              y: { field: 'second', type: 'ordinal', sort: 'descending' },
              text: { field: 'mean', type: 'quantitative', format: '.2f' },
            },
          },
        ],
      },
    };
  }

  // another number of tasks: the mean score of every point in evaluation order
  return {
    data: { values: grid.map((point) => ({ stage: point.stage, strategy: point.strategy, point: point.point, mean: point.mean })) },
    facet,
    spec: {
      width: 180,
      height: 120,
      mark: 'bar',
      encoding: {
        x: { field: 'point', type: 'ordinal', title: 'grid point', axis: { labels: false } },
        y: { field: 'mean', type: 'quantitative', title: 'mean validation score' },
      },
    },
  };
}

function scoresSpec(summary: EvolveSummary): TopLevelSpec | undefined {
  const values: { task: string; strategy: string; stage: number; score: number }[] = [];
  for (const strategy of summary.strategies) {
    for (const task of summary.tasks) {
      summary.scores[strategy][task.name].forEach((score, stage) => {
        if (score !== null) values.push({ task: task.name, strategy, stage, score });
      });
    }
    summary.meanScores[strategy].forEach((score, stage) => {
      if (score !== null) values.push({ task: 'mean over tasks', strategy, stage, score });
    });
  }
  if (values.length === 0) return undefined;

  return {
    data: { values },
    facet: { column: { field: 'task', type: 'nominal', title: null, sort: [...summary.tasks.map((task) => task.name), 'mean over tasks'] } },
    spec: {
      width: 200,
      height: 200,
      mark: { type: 'line', strokeWidth: 1.5, point: { filled: true, size: 40 } },
      encoding: {
        x: { field: 'stage', type: 'ordinal', title: 'stage' },
        y: { field: 'score', type: 'quantitative', title: 'test score', scale: { zero: false } },
        color: { field: 'strategy', type: 'nominal', title: 'strategy', sort: summary.strategies },
        // equal scores draw one line over another, so each strategy also gets its own dash pattern
        strokeDash: { field: 'strategy', type: 'nominal', sort: summary.strategies, legend: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
}

/**
 * Returns the longest prefix of whole dot-separated segments that every name shares, short of a
 * numeric segment (`transformer.h.` would leave labels starting with a bare block number).
 */
function commonPrefix(names: readonly string[]): string {
  if (names.length === 0) return '';
  const split = names.map((name) => name.split('.'));
  let length = 0;
  while (length < split[0].length - 1 && split.every((segments) => segments.length - 1 > length && segments[length] === split[0][length])) length++;
  while (length > 0 && split.some((segments) => /^\d+$/.test(segments[length]))) length--;
  return length === 0 ? '' : `${split[0].slice(0, length).join('.')}.`;
}
