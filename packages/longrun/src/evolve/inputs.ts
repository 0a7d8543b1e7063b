/**
 * Checks of everything a run reads, made before any training starts. The base model must load
 * and have the architecture's model type. Every task must parse into usable splits, and every
 * domain corpus must have a train and a test split that yield at least one block.
 */
import * as fs from 'fs';

import { InvalidInputError, loadConfig, MismatchError, type Rng } from '@modularevo/core-tensor';
import { readCorpusTexts } from '@modularevo/datasets';
import type { Architecture, PretrainedModel } from '@modularevo/masking';

import type { DomainSettings, EvolveSettings } from '../config/settings';
import { withQuietLogs } from './quiet-logs';
import { prepareTasks, type PreparedTask } from './task-data';

// Documents read from each corpus split for the check; usually enough text for one block.
const CHECK_DOCUMENTS = 32;

/**
 * Loads the base model, reads every task and checks every domain corpus.
 *
 * @throws CheckpointError for a missing or malformed file; InvalidInputError for data a run
 *   cannot use; MismatchError for a model of another architecture
 */
export async function prepareInputs(architecture: Architecture, settings: EvolveSettings, rng: Rng): Promise<PreparedTask[]> {
  const modelType = loadConfig(settings.model).model_type;
  if (typeof modelType !== 'string' || !architecture.modelTypes.includes(modelType)) {
    throw new MismatchError(
      `${settings.model} has model_type ${JSON.stringify(modelType)} in config.json, but architecture ${architecture.name} loads ${architecture.modelTypes.join(', ')}; pass --arch for this model`,
    );
  }

  const tasks = await prepareTasks(architecture, settings, rng);
  for (const task of tasks) await checkBatches(architecture, task, settings);
  if (settings.domains.length === 0) return tasks;

  const model = await architecture.load(settings.model);
  try {
    for (const domain of settings.domains) await checkCorpus(architecture, model, domain, settings);
  } finally {
    model.dispose();
  }
  return tasks;
}

/**
 * Batches the first examples of every split with a fresh head, so a maximum length the model
 * cannot take, or text the tokenizer rejects, fails now rather than in the middle of the run.
 */
async function checkBatches(architecture: Architecture, task: PreparedTask, settings: EvolveSettings): Promise<void> {
  const model = task.task.createModel(await architecture.load(settings.model), task.data, { seed: 0 });
  try {
    // truncation warnings about these few examples would only confuse; the real batches warn again
    await withQuietLogs(['datasets'], async () => {
      for (const examples of Object.values(task.data.splits)) {
        task.task.batches(model, examples!.slice(0, 2), { batchSize: 2, maxLength: settings.finetune.maxLength });
      }
    }, 0);
  } finally {
    model.dispose();
  }
}

/** Checks that a corpus has both splits and that its training text fills at least one block. */
async function checkCorpus(architecture: Architecture, model: PretrainedModel, domain: DomainSettings, settings: EvolveSettings): Promise<void> {
  if (fs.existsSync(domain.corpus) && fs.statSync(domain.corpus).isFile()) {
    throw new InvalidInputError(
      `The corpus of domain ${domain.name} (${domain.corpus}) is one file, so it has no separate test split; give a folder with train and test files (train.jsonl, test.jsonl)`,
    );
  }

  const train = await readCorpusTexts(domain.corpus, { split: 'train', maxDocuments: CHECK_DOCUMENTS });
  const test = await readCorpusTexts(domain.corpus, { split: 'test', maxDocuments: CHECK_DOCUMENTS });
  for (const [split, texts] of [['train', train], ['test', test]] as const) {
    if (texts.every((text) => text.trim() === '')) {
      throw new InvalidInputError(`The ${split} split of the corpus of domain ${domain.name} (${domain.corpus}) has no text; give documents with a "text" field`);
    }
  }

  // The objective raises an InvalidInputError itself when the texts make no block. A corpus
  // that the check cut short is read whole before that error counts.
  const { blockSize, batchSize } = settings.modularize;
  const prepare = (texts: string[]) => architecture.objective.prepare(model, texts, { blockSize, batchSize, seed: 0 });
  let corpus;
  try {
    try {
      corpus = prepare(train);
    } catch (error) {
      if (!(error instanceof InvalidInputError) || train.length < CHECK_DOCUMENTS) throw error;
      corpus = prepare(await readCorpusTexts(domain.corpus, { split: 'train', maxDocuments: settings.modularize.maxDocuments }));
    }
  } catch (error) {
    if (error instanceof InvalidInputError) throw new InvalidInputError(`Domain ${domain.name} (${domain.corpus}): ${error.message}`);
    throw error;
  }
  if (corpus.numBlocks < 1) {
    throw new InvalidInputError(
      `The corpus of domain ${domain.name} (${domain.corpus}) is too short for one block of ${blockSize} tokens; give more text or a smaller --block-size`,
    );
  }
}
