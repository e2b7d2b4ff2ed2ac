// The sweep runner on a tiny grid: two configurations of a few hundred
// synthetic images, stopped after the first (as a crash would) and resumed.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configKey, expandGrid, markdownPath, PAPER_STUDY, runSweep, type SweepGrid, type SweepResult } from '../../src/cli/sweep';
import type { MnistSplit } from '../../src/data/mnist';
import { Rng } from '../../src/util/rng';
import { testDevice } from '../util/device';

function randomSplit(count: number, seed: number): MnistSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 784);
  const labels = new Uint8Array(count);
  // Each class lights its own band of rows, so a few steps learn something.
  for (let i = 0; i < count; i++) {
    labels[i] = rng.int(10);
    for (let p = 0; p < 784; p++) {
      const row = Math.floor(p / 28);
      images[i * 784 + p] = Math.floor(row / 2.8) === labels[i] && rng.next() < 0.7 ? 200 + rng.int(56) : rng.next() < 0.05 ? rng.int(256) : 0;
    }
  }
  return { images, labels, count, rows: 28, cols: 28 };
}

describe('expandGrid', () => {
  it('expands the built-in paper study to 48 distinct configurations', () => {
    const configs = expandGrid(PAPER_STUDY);
    expect(configs).toHaveLength(48);
    expect(new Set(configs.map(configKey)).size).toBe(48);
    expect(configs.filter((c) => c.batchNorm && c.activation === 'tanh')).toHaveLength(8);
  });

  it('appends explicit configurations, drops duplicates, and names what is wrong', () => {
    const grid: SweepGrid = { name: 'g', epochs: 1, axes: { activation: ['relu', 'gelu'] }, configs: [{ activation: 'relu' }, { kernels: [3, 3] }] };
    expect(expandGrid(grid).map((c) => `${c.activation} ${c.kernels.join('x')}`)).toEqual(['relu 4x3', 'gelu 4x3', 'relu 3x3']);
    expect(() => expandGrid({ name: 'g', epochs: 1, configs: [{ activation: 'swish' as 'relu' }] })).toThrow(/configuration 1: activation must be one of/);
    expect(() => expandGrid({ name: 'g', epochs: 1, configs: [{ kernels: [29, 3] }] })).toThrow(/layer 0 \(conv2d\)/);
    expect(() => expandGrid({ name: 'g', epochs: 1, base: { size: 3 } as never })).toThrow(/unknown field 'size'/);
    expect(() => expandGrid({ name: 'g', epochs: 0 })).toThrow(/epochs/);
  });
});

describe('runSweep', () => {
  it('trains a 2-configuration grid, and after a stop resumes with the finished row kept', async () => {
    const device = await testDevice();
    const dir = await mkdtemp(join(tmpdir(), 'wgsl-nn-sweep-'));
    const out = join(dir, 'sweep.json');
    const grid: SweepGrid = {
      name: 'tiny',
      epochs: 1,
      seed: 2,
      base: { kernels: [5, 3], filters: [4, 8], batchSize: 32 },
      axes: { batchNorm: [false, true], activation: ['relu'] },
      configs: [],
    };
    const data = { train: randomSplit(256, 1), test: randomSplit(64, 2) };
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);

    // The first run stops after one configuration, as a crash or Ctrl-C would.
    const first = await runSweep(device, { grid, ...data, adapter: 'test', out, log, limit: 1 });
    expect(first.rows).toHaveLength(1);
    expect(lines).toHaveLength(1);
    const saved = JSON.parse(await readFile(out, 'utf8')) as SweepResult;
    expect(saved.rows).toEqual(first.rows);

    // The live progress of the configuration being trained: only the new one.
    const events: string[] = [];
    const done: number[] = [];
    const progress = {
      start: (tag: string, total: number) => events.push(`start ${tag.split(':')[0]} ${total}`),
      update: (n: number, p: { epoch: number; epochs: number }) => done.push(n + 1000 * p.epoch),
      stop: () => events.push('stop'),
    };
    const second = await runSweep(device, { grid, ...data, adapter: 'test', out, log, progress });
    expect(second.rows).toHaveLength(2);
    // 256 images at batch 32: 8 steps, one epoch.
    expect(events).toEqual(['start [2/2] bn relu k5x3 b32 lr0.001 f4x8 8', 'stop']);
    expect(done.length).toBeGreaterThan(0);
    expect(done[done.length - 1]).toBe(1008);
    expect([...done].sort((x, y) => x - y)).toEqual(done);
    // One progress line per configuration: the kept one, then the new one.
    expect(lines[1]).toMatch(/^\[1\/2\] no-bn relu .*kept/);
    expect(lines[2]).toMatch(/^\[2\/2\] bn relu .* s\/epoch, .* img\/s, .*test loss .* acc .*best epoch 1/);
    expect(second.rows[0]).toEqual(first.rows[0]);
    const [plain, bn] = second.rows;
    expect(bn.config.batchNorm).toBe(true);
    // batchnorm adds 4 vectors per convolution: (4 + 8) channels x 4.
    expect(bn.parameters - plain.parameters).toBe(4 * (4 + 8));
    for (const r of second.rows) {
      expect(r.epochs).toHaveLength(1);
      expect(r.secondsPerEpoch).toBeGreaterThan(0);
      expect(Number.isFinite(r.testLoss)).toBe(true);
      expect(r.testAccuracy).toBeGreaterThanOrEqual(0);
    }
    const md = await readFile(markdownPath(out), 'utf8');
    expect(md.split('\n').filter((l) => /^\| \d+ \|/.test(l))).toHaveLength(2);

    // A third run has nothing left to train; other data settings are refused.
    lines.length = 0;
    await runSweep(device, { grid, ...data, adapter: 'test', out, log });
    expect(lines.every((l) => /kept/.test(l))).toBe(true);
    await expect(runSweep(device, { grid, train: randomSplit(128, 1), test: data.test, adapter: 'test', out, log })).rejects.toThrow(/trainCount 256 there, 128 now/);
  });
});
