/**
 * Writes the outputs of an evolution run that are computed from its JSON files: `summary.json`,
 * `report.md` and `charts/*.svg`. The driver calls it when a run ends, and
 * `modularevo report RUN_DIR` calls it to rebuild them, also for an unfinished run.
 */
import * as fs from 'fs';
import * as path from 'path';

import { CheckpointError, RUN_CONFIG_FILE, getLogger, writeFileAtomic, writeFolderAtomic, writeJsonAtomic } from '@modularevo/core-tensor';

import { parseConfigDocument } from '../config/config-file';
import { readRunState, runSeconds, STATE_FILE } from '../evolve/run-state';
import { buildCharts } from './charts';
import { formatMarkdownReport } from './markdown';
import { readRunRecords } from './records';
import { buildSummary, type EvolveSummary, type SummaryPlan } from './summary';

const log = getLogger('longrun');

/** File names of the report outputs in a run folder. */
export const SUMMARY_FILE = 'summary.json';
export const REPORT_FILE = 'report.md';
export const CHARTS_DIR = 'charts';

/** What `writeReport` wrote. */
export interface ReportOutput {
  summary: EvolveSummary;
  /** Path of `report.md`. */
  report: string;
  /** Paths of the SVG charts. */
  charts: string[];
}

/**
 * Computes the summary from `config.json` and `metrics.jsonl` of `runDir` and writes
 * `summary.json`, `report.md` and the charts, each atomically.
 *
 * @throws CheckpointError when the folder is not an evolution run or one of its files is malformed
 */
export async function writeReport(runDir: string): Promise<ReportOutput> {
  const plan = readPlan(runDir);
  const records = readRunRecords(runDir);
  const seconds = fs.existsSync(path.join(runDir, STATE_FILE)) ? runSeconds(readRunState(runDir)) : null;

  const summary = buildSummary(plan, records, seconds);
  const charts = await buildCharts(summary, records);

  const chartsDir = path.join(runDir, CHARTS_DIR);
  await writeFolderAtomic(
    chartsDir,
    (temporary) => {
      for (const chart of charts) writeFileAtomic(path.join(temporary, chart.file), chart.svg);
    },
    { overwrite: true },
  );
  writeJsonAtomic(path.join(runDir, SUMMARY_FILE), summary);
  const report = path.join(runDir, REPORT_FILE);
  writeFileAtomic(report, formatMarkdownReport(summary, charts));
  log.info(`report written to ${report}`);
  return { summary, report, charts: charts.map((chart) => path.join(chartsDir, chart.file)) };
}

/** Reads the plan of a run from its `config.json`. */
function readPlan(runDir: string): SummaryPlan {
  const file = path.join(runDir, RUN_CONFIG_FILE);
  if (!fs.existsSync(runDir)) throw new CheckpointError(runDir, 'not found', 'Pass the folder of an evolution run started by modularevo evolve');
  if (!fs.existsSync(file)) {
    throw new CheckpointError(runDir, `has no ${RUN_CONFIG_FILE}`, 'Pass the folder of an evolution run started by modularevo evolve');
  }
  let document: unknown;
  try {
    document = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    throw new CheckpointError(file, `is not valid JSON (${(error as Error).message})`);
  }
  const config = parseConfigDocument(document, file);
  const missing = (['arch', 'model', 'stages', 'seed', 'strategies', 'tasks'] as const).filter((key) => config[key] === undefined);
  if (missing.length > 0) throw new CheckpointError(file, `lacks ${missing.join(', ')}`, 'It was not written by modularevo evolve');

  return {
    arch: config.arch!,
    model: config.model!,
    stages: config.stages!,
    seed: config.seed!,
    strategies: config.strategies!,
    tasks: config.tasks!.map((task) => ({ name: task.name, domain: task.domain ?? '' })),
  };
}
