import * as path from 'path';

import { Command } from 'commander';

import { writeReport } from '../report/write-report';
import { formatFinalScores } from './evolve-command';

/**
 * Builds the `report` subcommand of `modularevo`: rebuilds `summary.json`, `report.md` and the
 * charts of an evolution run from its `config.json` and `metrics.jsonl`, also for an unfinished run.
 */
export function createReportCommand(): Command {
  return new Command('report')
    .summary('Rebuild the summary, report and charts of an evolution run')
    .description('Rebuild summary.json, report.md and charts/*.svg of an evolution run from its config.json and metrics.jsonl')
    .argument('<run-dir>', 'folder of a run started by modularevo evolve')
    .action(async (runDir: string, _flags: unknown, command: Command) => {
      const output = await writeReport(path.resolve(runDir));
      const out = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      out(formatFinalScores(output.summary));
      out(`report: ${output.report}\n`);
    });
}
