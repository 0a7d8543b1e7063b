import { ProgressBar, formatDuration, type ProgressStream } from './progress';

class CapturedStream implements ProgressStream {
  readonly chunks: string[] = [];

  constructor(
    readonly isTTY: boolean,
    readonly columns = 120,
  ) {}

  write(text: string): boolean {
    this.chunks.push(text);
    return true;
  }

  text(): string {
    return this.chunks.join('');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('ProgressBar', () => {
  it('writes plain lines with rate and ETA off a terminal', async () => {
    const stream = new CapturedStream(false);
    const bar = new ProgressBar({ label: 'train', total: 10, stream, intervalSeconds: 0.05 });

    bar.start();
    await sleep(20);
    bar.update(3, { loss: 2.345678 });
    await sleep(120);
    bar.update(5);
    bar.stop();

    const lines = stream.text().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(stream.text()).not.toMatch(/\x1b/);
    expect(lines[0]).toMatch(/^train: 0\/10 steps \(0%\), \? steps\/s, ETA \?, elapsed 0s$/);
    expect(lines.some((line) => /^train: 3\/10 steps \(30%\), [\d.]+ steps\/s, ETA \d+s, elapsed \d+s, loss 2\.346$/.test(line))).toBe(
      true,
    );
    expect(lines[lines.length - 1]).toMatch(/^train: 5\/10 steps \(50%\), [\d.]+ steps\/s/);
  });

  it('draws a bar in place on a terminal', () => {
    const stream = new CapturedStream(true);
    const bar = new ProgressBar({ label: 'merge', total: 4, unit: 'tensors', stream });

    bar.start();
    bar.increment(2);
    bar.stop();

    const text = stream.text();
    expect(text).toMatch(/\x1b\[/);
    expect(text).toMatch(/merge =+-+ 2\/4 tensors \(50%\) \| /);
  });

  it('omits percentage and ETA when the total is unknown', () => {
    const stream = new CapturedStream(false);
    const bar = new ProgressBar({ label: 'read', unit: 'rows', stream });

    bar.start();
    bar.update(7);
    bar.stop();

    expect(stream.text()).toMatch(/^read: 7 rows, [?\d.]+ rows\/s, elapsed 0s$/m);
    expect(stream.text()).not.toMatch(/ETA|%/);
  });

  it('writes nothing when disabled', () => {
    const stream = new CapturedStream(false);
    const bar = new ProgressBar({ label: 'train', total: 3, stream, enabled: false });

    bar.start();
    bar.update(3);
    bar.stop();

    expect(stream.chunks).toEqual([]);
  });

  it('rejects a non-positive interval', () => {
    expect(() => new ProgressBar({ label: 'train', intervalSeconds: 0 })).toThrow(/Invalid progress interval/);
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [44.6, '45s'],
    [185, '3m05s'],
    [7620, '2h07m'],
    [Infinity, '?'],
  ])('%f seconds is %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});
