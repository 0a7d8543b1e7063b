import { InvalidInputError } from '@modularevo/core-tensor';

import type { ArchitectureTask, TaskDataset } from '../architecture';
import { loadFinetuneData, majorityBaseline } from './data';
import { resolveFinetuneOptions } from './options';

interface Example {
  id: number;
  label: number;
}

const task = {
  info: { name: 'toy', description: 'toy', primaryMetric: 'accuracy', defaultDomain: 'toy' },
  labelOf: (example: Example) => example.label,
} as unknown as ArchitectureTask;

function dataset(train: number, validation = 0): TaskDataset<Example> {
  const examples = (count: number, offset: number) => Array.from({ length: count }, (_, i) => ({ id: offset + i, label: (offset + i) % 3 }));
  return { task: 'toy', labels: ['a', 'b', 'c'], splits: { train: examples(train, 0), ...(validation > 0 ? { validation: examples(validation, 1000) } : {}), test: [{ id: 1, label: 2 }, { id: 2, label: 2 }, { id: 3, label: 0 }] } };
}

function settings(change: object = {}) {
  return resolveFinetuneOptions({ architecture: { name: 'test' } as never, model: 'm', task: 'toy', data: 'd', outDir: 'out', full: true, ...change });
}

describe('loadFinetuneData', () => {
  it('holds out a seeded validation split when there is none', async () => {
    const data = await loadFinetuneData(task, dataset(50), settings(), {});
    const again = await loadFinetuneData(task, dataset(50), settings(), {});
    const other = await loadFinetuneData(task, dataset(50), settings({ seed: 7 }), {});
    const ids = (examples: unknown[] | undefined) => (examples as Example[]).map((example) => example.id);

    expect(data.splits.validation).toHaveLength(5);
    expect(data.splits.train).toHaveLength(45);
    expect(new Set([...ids(data.splits.train), ...ids(data.splits.validation)]).size).toBe(50);
    expect(ids(again.splits.validation)).toEqual(ids(data.splits.validation));
    expect(ids(other.splits.validation)).not.toEqual(ids(data.splits.validation));
  });

  it('keeps a validation split the data has', async () => {
    const data = await loadFinetuneData(task, dataset(50, 4), settings(), {});
    expect(data.splits.train).toHaveLength(50);
    expect(data.splits.validation).toHaveLength(4);
  });

  it('rejects data without training examples', async () => {
    await expect(loadFinetuneData(task, dataset(0), settings(), {})).rejects.toThrow(InvalidInputError);
    await expect(loadFinetuneData(task, dataset(0), settings(), {})).rejects.toThrow(/The data of task toy has no train split/);
  });
});

describe('majorityBaseline', () => {
  it('returns the share of the most frequent class', () => {
    expect(majorityBaseline(task, dataset(1).splits.test, ['a', 'b', 'c'])).toEqual({ label: 'c', accuracy: 2 / 3, examples: 3 });
  });

  it('returns nothing for tasks without labels', () => {
    expect(majorityBaseline({ ...task, labelOf: undefined } as ArchitectureTask, dataset(1).splits.test, [])).toBeUndefined();
  });
});
