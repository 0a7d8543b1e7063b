import { InvalidInputError } from '../errors';
import { BestMetricTracker } from './early-stopping';

describe('BestMetricTracker', () => {
  it('minimizes with patience', () => {
    const tracker = new BestMetricTracker('loss', 'min', 2);

    const outcomes = [3, 2, 2, 2.5].map((value, i) => tracker.record(value, (i + 1) * 10));

    // an equal value is no improvement
    expect(outcomes).toEqual([
      { improved: true, shouldStop: false },
      { improved: true, shouldStop: false },
      { improved: false, shouldStop: false },
      { improved: false, shouldStop: true },
    ]);
    expect(tracker.best).toBe(2);
    expect(tracker.bestStep).toBe(20);
  });

  it('maximizes and resets the count on improvement', () => {
    const tracker = new BestMetricTracker('accuracy', 'max', 2);

    tracker.record(0.5, 1);
    tracker.record(0.4, 2);
    const improved = tracker.record(0.6, 3);

    expect(improved).toEqual({ improved: true, shouldStop: false });
    expect(tracker.evaluationsSinceBest).toBe(0);
  });

  it('never counts NaN as an improvement', () => {
    const tracker = new BestMetricTracker('loss', 'min');

    expect(tracker.record(NaN, 1).improved).toBe(false);
    expect(tracker.best).toBeUndefined();
  });

  it('never stops without patience', () => {
    const tracker = new BestMetricTracker('loss', 'min');
    tracker.record(1, 1);

    for (let step = 2; step < 100; step++) expect(tracker.record(2, step).shouldStop).toBe(false);
  });

  it('rejects invalid settings', () => {
    expect(() => new BestMetricTracker('loss', 'lowest' as 'min')).toThrow(InvalidInputError);
    expect(() => new BestMetricTracker('loss', 'min', 0)).toThrow(/patience 0/);
  });
});
