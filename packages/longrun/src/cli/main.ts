import { Command, CommanderError } from 'commander';

import { ModularEvoError, setLogLevel } from '@modularevo/core-tensor';
import { createCostCommand } from '@modularevo/cost';
import { createDownloadCommand } from '@modularevo/datasets';
import { createFinetuneCommand, createModularizeCommand } from '@modularevo/masking';
import { createMergeCommand } from '@modularevo/merging';

import { createEvolveCommand } from './evolve-command';
import { createReportCommand } from './report-command';

/** Builds the `modularevo` program with every subcommand. */
export function createProgram(): Command {
  const program = new Command('modularevo')
    .description('Modularize, fine-tune and compose pretrained transformers (ModularEvo on TensorFlow.js).')
    .option('--log-level <level>', 'silent, error, warn, info, debug or trace', 'info')
    .hook('preAction', (command) => setLogLevel(command.opts().logLevel))
    .showHelpAfterError()
    .exitOverride();

  // Subcommands are defined by the package that owns the work.
  // The main job first, then its parts in the order a run uses them, then the tools.
  program.addCommand(createEvolveCommand());
  program.addCommand(createReportCommand());
  program.addCommand(createModularizeCommand());
  program.addCommand(createFinetuneCommand());
  program.addCommand(createMergeCommand());
  program.addCommand(createCostCommand());
  program.addCommand(createDownloadCommand());
  return program;
}

/**
 * Runs the CLI. Errors the packages raise on purpose (bad input, missing files) print as one
 * line and exit with status 1; anything else is a bug and keeps its stack trace.
 */
export async function main(argv: string[]): Promise<void> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof ModularEvoError) {
      process.stderr.write(`error: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

// `node dist/cli/main.js ...` runs the command line as bin/modularevo.js does, instead of exiting silently
if (require.main === module) void main(process.argv);
