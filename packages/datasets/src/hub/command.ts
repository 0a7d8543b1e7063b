import { Command } from 'commander';

import { downloadFromHub } from './download';

/**
 * Builds the `download` subcommand of `modularevo`: `download <repo-id> [--dataset]
 * [--revision R] [--cache-dir DIR] [--file PATH...]`. It prints the local folder on stdout.
 */
export function createDownloadCommand(): Command {
  return new Command('download')
    .description('Download a model or dataset repository from the Hugging Face Hub into the local cache and print its folder')
    .argument('<repo-id>', 'repository id, for example EleutherAI/gpt-neo-125m')
    .option('--dataset', 'the repository is a dataset repository (default: a model repository)')
    .option('--revision <revision>', 'branch, tag or commit to download', 'main')
    .option('--cache-dir <dir>', 'cache folder (default: MODULAREVO_CACHE or ~/.cache/modularevo)')
    .option('--file <path...>', 'download only these files of the repository')
    .action(async (repoId: string, options: { dataset?: boolean; revision: string; cacheDir?: string; file?: string[] }, command: Command) => {
      const result = await downloadFromHub(repoId, {
        type: options.dataset ? 'dataset' : 'model',
        revision: options.revision,
        cacheDir: options.cacheDir,
        files: options.file,
      });
      const out = command.configureOutput().writeOut ?? ((text: string) => process.stdout.write(text));
      out(`${result.dir}\n`);
    });
}
