// `npm run train` as a user meets it: bad flags, values and files are one
// line and exit code 2 before any training; a diverging run keeps the good
// checkpoint; a resumed run continues bit for bit. Each run is a child
// process on a few dozen images of the small CNN.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../../src/model/safetensors';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'wgsl-nn-cli-'));
const SMALL = ['--model', 'small-cnn', '--train-count', '32', '--test-count', '8', '--batch-size', '8', '--steps-per-submit', '1'];

function train(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', './scripts/register.mjs', 'src/cli/train.ts', ...args],
      { cwd: root, env: process.env, timeout: 240_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

/** An IDX file: type code, dims, u8 payload. */
function idx(type: number, dims: number[], payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + payload.length);
  const view = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(payload, 4 + 4 * dims.length);
  return out;
}

/** A data directory of `count` images of rows x cols per split; `labelType` and `labels` to spoil it. */
function dataDir(name: string, o: { rows?: number; cols?: number; labelType?: number; labelValue?: number } = {}): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const rows = o.rows ?? 28;
  const cols = o.cols ?? 28;
  for (const [images, labels] of [
    ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
    ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
  ]) {
    const count = 32;
    writeFileSync(join(d, images), idx(0x08, [count, rows, cols], new Uint8Array(count * rows * cols).map((_, i) => i % 251)));
    const labelType = o.labelType ?? 0x08;
    const size = labelType === 0x0c ? 4 : 1;
    writeFileSync(join(d, labels), idx(labelType, [count], new Uint8Array(count * size).map((_, i) => o.labelValue ?? i % 10)));
  }
  return d;
}

const file = join(dir, 'a-file');
writeFileSync(file, 'not a directory');

describe('npm run train: bad input is one line and exit code 2, before training', () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown flag', ['--bogus'], /^error: unknown option '--bogus' \(see --help\)$/],
    ['a negative epoch count', ['--epochs', '-1'], /^error: --epochs must be a positive integer, got '-1'$/],
    ['a missing value', ['--epochs'], /^error: --epochs: missing value$/],
    ['an empty learning rate', ['--lr', ''], /^error: --lr: empty value$/],
    ['a learning rate beyond f32', ['--lr', '1e39'], /^error: --lr must be a number > 0 and finite as an f32/],
    ['a positional argument', ['extra'], /^error: unexpected argument 'extra'/],
    ['a missing data directory', ['--data', join(dir, 'nope')], /^error: --data \S+nope: \S+nope\/train-images-idx3-ubyte: no such file or directory \(ENOENT\)$/],
    ['a missing resume file', ['--resume', join(dir, 'nope.safetensors')], /^error: --resume \S+: cannot be read: \S+: no such file or directory \(ENOENT\)$/],
    ['a directory to resume from', ['--resume', dir], /^error: --resume \S+: cannot be read: is a directory, not a file \(EISDIR\)$/],
    ['a directory as checkpoint', ['--checkpoint', dir], /^error: --checkpoint \S+: is a directory, not a file$/],
    ['a checkpoint under a file', ['--checkpoint', join(file, 'model.safetensors')], /^error: --checkpoint \S+: cannot be written: .*not a directory/],
    ['a checkpoint under /proc', ['--checkpoint', '/proc/wgsl-nn/model.safetensors'], /^error: --checkpoint \/proc\/wgsl-nn\/model.safetensors: cannot be written/],
    ['an unwritable log', ['--log', join(file, 'log.json')], /^error: --log \S+: cannot be written/],
    ['more training images than the data has', ['--train-count', '70000'], /^error: --train-count 70000: the data has only 60000 training images$/],
    ['images of another size', ['--data', dataDir('small-images', { rows: 20, cols: 20 })], /^error: Trainer.create: train images: are 20x20 with 1 channel, but model small-cnn takes 28x28x1$/],
    ['labels beyond the classes', ['--data', dataDir('labels-12', { labelValue: 12 })], /^error: \S+train-labels-idx1-ubyte: label 0 is 12, expected a digit 0..9$/],
    ['an unknown activation', ['--activation', 'swish'], /^error: --activation must be one of relu, leaky_relu, elu, tanh, sigmoid, gelu, got 'swish'$/],
    ['labels with the wrong type code', ['--data', dataDir('labels-i32', { labelType: 0x0c })], /^error: \S+train-labels-idx1-ubyte: expected MNIST labels \(u8, 1 dim: count\), found i32 with dims 32 \(type code 0x0c\)$/],
  ];
  it.each(cases)('%s', async (_, args, message) => {
    const checkpoint = join(dir, `${_.replace(/\W+/g, '-')}.safetensors`);
    const r = await train([...SMALL, '--checkpoint', checkpoint, '--log', join(dir, 'log.json'), ...args]);
    const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('Warning: maxDynamic'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stdout).not.toMatch(/Epoch/);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('npm run train: checkpoints', () => {
  const tensorsOf = (f: string) => {
    const { tensors, metadata } = decodeSafetensors(readFileSync(f), f);
    return { bytes: Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, Buffer.from(t.data).toString('hex')])), metadata };
  };

  it('1 epoch, then --resume for 1 more, gives the checkpoint of 2 epochs straight, bit for bit', async () => {
    const two = join(dir, 'two.safetensors');
    const one = join(dir, 'one.safetensors');
    const log = ['--log', join(dir, 'resume-log.json')];
    expect((await train([...SMALL, '--epochs', '2', '--checkpoint', two, ...log])).code).toBe(0);
    expect((await train([...SMALL, '--epochs', '1', '--checkpoint', one, ...log])).code).toBe(0);
    // A new run refuses to replace it.
    const refused = await train([...SMALL, '--checkpoint', one, ...log]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/already exists; pass --resume \S+ to continue it, or --overwrite to replace it/);
    // Model, seed, batch size and learning rate come from the checkpoint.
    const resumed = await train(['--resume', one, '--train-count', '32', '--test-count', '8', '--steps-per-submit', '1', ...log]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(/resumed: \S+one.safetensors \(after epoch 1, step 4\)/);
    expect(resumed.stdout).toMatch(/Epoch 2\/2/);
    const a = tensorsOf(one);
    const b = tensorsOf(two);
    expect([a.metadata.epoch, a.metadata.step]).toEqual(['2', '8']);
    expect(a.bytes).toEqual(b.bytes);
  });

  it('--batchnorm --activation elu trains the paper CNN with batch normalization, and the checkpoint holds its statistics', async () => {
    const f = join(dir, 'bn.safetensors');
    const r = await train([
      ...['--batchnorm', '--activation', 'elu', '--train-count', '32', '--test-count', '8', '--batch-size', '8', '--steps-per-submit', '1'],
      ...['--checkpoint', f, '--log', join(dir, 'bn.json')],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const { tensors, metadata } = decodeSafetensors(readFileSync(f), f);
    const model = JSON.parse(metadata.model) as { layers: { type: string; activation?: string }[] };
    expect(model.layers.filter((l) => l.type === 'batchnorm')).toHaveLength(2);
    expect(model.layers.filter((l) => l.activation === 'elu')).toHaveLength(2);
    for (const n of ['gamma', 'beta', 'moving_mean', 'moving_variance']) expect(Object.keys(tensors)).toContain(`batch_normalization/${n}`);
    // Four steps of batch 8 moved the moving mean off its start (0).
    const mean = new Float32Array(tensors['batch_normalization/moving_mean'].data.slice().buffer);
    expect(mean.some((v) => v !== 0)).toBe(true);
  });

  it('an exploding loss stops with exit code 3 and leaves the good checkpoint untouched', async () => {
    const good = join(dir, 'good.safetensors');
    expect((await train([...SMALL, '--checkpoint', good, '--log', join(dir, 'good.json')])).code).toBe(0);
    const before = readFileSync(good);
    const r = await train([...SMALL, '--lr', '1e6', '--overwrite', '--checkpoint', good, '--log', join(dir, 'bad.json')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^error: loss diverged: \S+ at step 2, .*This run wrote no checkpoint; \S+good.safetensors is unchanged.$/m);
    expect(readFileSync(good).equals(before)).toBe(true);
    expect(existsSync(`${good}.tmp`)).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'bad.json'), 'utf8')).error).toMatch(/loss diverged/);
  });
});
