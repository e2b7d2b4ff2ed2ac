// The demo page: acquire WebGPU, load MNIST, train the paper's CNN with the
// engine's WGSL kernels, and show what the network learned.
//
// Everything runs on the main thread: the trainer's GPU work is asynchronous
// (it awaits buffer maps between command buffers), so the page keeps
// responding while the GPU trains.

import { mnistSubset, type MnistSplit } from '../src/data/mnist';
import {
  AdapterLimitError,
  CheckpointError,
  DeviceLostError,
  FileFormatError,
  NonFiniteLossError,
  ShapeError,
  WebGpuUnavailableError,
} from '../src/errors';
import { acquireDevice, whenLost, type AcquiredDevice } from '../src/gpu/device';
import { buildModel, type ModelSpec } from '../src/model/model';
import { decodeSafetensors } from '../src/model/safetensors';
import { Trainer, type EpochResult, type EvalResult, type Snapshot, type StepProgress, type TrainConfig } from '../src/model/trainer';
import { Tuner } from '../src/gpu/tune';
import { CurveChart, RunsChart, VAL_LOSS } from './charts';
import { forgetModel, keepModel, keptModel } from './keep';
import { loadMnist } from './mnist-loader';
import { DrawingPad } from './pad';
import { preprocessDigit } from './preprocess';
import { canProfile, profileStep } from './profiler';
import {
  checkValue,
  DEFAULT_SETTINGS,
  describeModel,
  modelSpecFor,
  settingsFromSpec,
  settingsFromUrl,
  URL_PARAMS,
  type DemoSettings,
} from './settings';
import {
  addEpochRow,
  drawDigit,
  int,
  num,
  pct,
  renderConfusion,
  renderKernelTimes,
  renderMisclassified,
  renderProbabilities,
  truncateEpochRows,
} from './views';

type Phase =
  | 'starting'
  | 'no-webgpu'
  | 'loading'
  | 'ready'
  | 'preparing'
  | 'training'
  | 'pausing'
  | 'paused'
  | 'stopping'
  | 'done'
  | 'lost'
  | 'recovering'
  | 'error';

/** One training run: its trainer, the data it uses and its last checkpoint. */
interface Run {
  trainer: Trainer;
  spec: ModelSpec;
  settings: DemoSettings;
  train: MnistSplit;
  test: MnistSplit;
  targetEpochs: number;
  /** Host copy taken at every epoch end: what a lost device resumes from. */
  snapshot: Snapshot | null;
  /** The epoch rows so far (kept in the browser with the model). */
  epochs: EpochResult[];
  /** Whether it has its row in the runs table yet. */
  listed?: boolean;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`demo: no element #${id}`);
  return e as T;
};

const ui = {
  adapter: $('adapter'),
  timestamps: $('timestamps'),
  banner: $('banner'),
  bannerText: $('banner-text'),
  lostResume: $<HTMLButtonElement>('lost-resume'),
  bannerClose: $<HTMLButtonElement>('banner-close'),
  dataProgress: $<HTMLProgressElement>('data-progress'),
  dataStatus: $('data-status'),
  form: $<HTMLFormElement>('settings'),
  preset: $<HTMLSelectElement>('preset'),
  activation: $<HTMLSelectElement>('activation'),
  batchnorm: $<HTMLInputElement>('batchnorm'),
  cnnFields: $<HTMLFieldSetElement>('cnn-fields'),
  modelSummary: $('model-summary'),
  layerRows: $<HTMLTableElement>('layer-table').tBodies[0],
  fixedNote: $('fixed-note'),
  urlNote: $('url-note'),
  formError: $('form-error'),
  train: $<HTMLButtonElement>('train'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  reset: $<HTMLButtonElement>('reset'),
  state: $('state'),
  progress: $<HTMLProgressElement>('progress'),
  progressText: $('progress-text'),
  tuneStatus: $('tune-status'),
  runningLoss: $('running-loss'),
  runningAccuracy: $('running-accuracy'),
  imagesPerSecond: $('images-per-second'),
  submitPace: $('submit-pace'),
  testAccuracy: $('test-accuracy'),
  liveDigits: $('live-digits'),
  epochRows: $<HTMLTableElement>('epoch-table').tBodies[0],
  kernelTimes: $('kernel-times'),
  testSummary: $('test-summary'),
  confusion: $('confusion'),
  misclassified: $('misclassified'),
  misclassifiedCount: $('misclassified-count'),
  pad: $<HTMLCanvasElement>('pad'),
  padClear: $<HTMLButtonElement>('pad-clear'),
  padPreview: $<HTMLCanvasElement>('pad-preview'),
  prediction: $('prediction'),
  probabilities: $('probabilities'),
  padStatus: $('pad-status'),
  save: $<HTMLButtonElement>('save'),
  load: $<HTMLInputElement>('load'),
  loadLabel: $('load-label'),
  weightsStatus: $('weights-status'),
  keptNote: $('kept-note'),
};

/** Form input id for each URL parameter name. */
const INPUT_IDS: Record<string, string> = { train: 'train-count', test: 'test-count' };
const inputFor = (name: string) => $<HTMLInputElement>(INPUT_IDS[name] ?? name);

let phase: Phase = 'starting';
/** Resolves when the current device is lost. */
let deviceLost: Promise<DeviceLostError> | null = null;
/** What happened when (phase changes, pause clicks, progress): for the tests and the console. */
const timeline: { event: string; at: number; step?: number; ms?: number }[] = [];
/** Test hooks: act from inside the progress callback at a given step (no race with the GPU). */
let pauseAtStep: number | null = null;
let loseDeviceAt: { epoch: number; step: number } | null = null;
let gpu: AcquiredDevice | null = null;
let mnist: { train: MnistSplit; test: MnistSplit } | null = null;
let run: Run | null = null;
let pauseRequested = false;
/** Stop: pause, then end the run where it is (the model is kept). */
let stopRequested = false;
/** Training happened since the model was last saved or loaded: discarding it asks first. */
let unsaved = false;

function mayDiscard(action: string): boolean {
  if (!run || !unsaved) return true;
  return window.confirm(`${action} discards the model trained so far. Save its weights first to keep them. ${action} anyway?`);
}
/** Whether the training loop was running when the device was lost, and the phase then. */
let trainingWhenLost = false;
let phaseWhenLost: Phase = 'ready';

const runsChart = new RunsChart($('runs-chart'));
const runsLossChart = new RunsChart($('runs-loss-chart'), VAL_LOSS);
const runRows = $<HTMLTableElement>('runs-table').tBodies[0];
let runCount = 0;

/**
 * A finished run (done or stopped, with at least one epoch) gets a row in
 * the runs table and a line on the comparison chart, and keeps them when
 * the next run starts: change a setting, train again, compare.
 */
function listRun(r: Run): void {
  if (r.listed || r.epochs.length === 0) return;
  r.listed = true;
  runCount += 1;
  const last = r.epochs[r.epochs.length - 1];
  const seconds = r.epochs.reduce((a, e) => a + e.seconds, 0) / r.epochs.length;
  const images = r.epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / r.epochs.length;
  const model = describeModel(r.spec).replace(/ · .*$/, '');
  const label = `run ${runCount}`;
  const epochNumbers = r.epochs.map((e) => e.epoch);
  const index = runsChart.add(label, epochNumbers, r.epochs.map((e) => e.valAccuracy));
  runsLossChart.add(label, epochNumbers, r.epochs.map((e) => e.valLoss));
  const tr = document.createElement('tr');
  const showCell = document.createElement('td');
  const box = document.createElement('input');
  box.type = 'checkbox';
  box.checked = true;
  box.setAttribute('aria-label', `show ${label} on the charts`);
  box.addEventListener('change', () => {
    runsChart.show(index, box.checked);
    runsLossChart.show(index, box.checked);
  });
  showCell.append(box);
  tr.append(showCell);
  const cells = [
    label,
    `${model} (${r.spec.name})`,
    String(r.settings.batchSize),
    String(r.settings.learningRate),
    String(r.epochs.length),
    `${seconds.toFixed(1)} s`,
    int(images),
    pct(last.accuracy),
    pct(last.valAccuracy),
  ];
  for (const text of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.append(td);
  }
  tr.cells[2].classList.add('model-cell');
  runRows.append(tr);
}

const lossChart = new CurveChart($('loss-chart'), { title: 'Loss', format: (v) => v.toFixed(2) });
const accuracyChart = new CurveChart($('accuracy-chart'), {
  title: 'Accuracy',
  format: (v) => `${Math.round(v * 100)}%`,
  range: [0, 1],
});

// ---------------------------------------------------------------- messages

function showBanner(kind: 'error' | 'warning' | 'info', text: string, offerResume = false): void {
  ui.banner.className = `banner ${kind}`;
  ui.banner.dataset.kind = kind;
  ui.bannerText.textContent = text;
  ui.lostResume.hidden = !offerResume;
  ui.banner.hidden = false;
}

function hideBanner(): void {
  ui.banner.hidden = true;
  ui.banner.dataset.kind = '';
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function friendlyGpuError(e: unknown): string {
  if (e instanceof WebGpuUnavailableError) {
    if (!window.isSecureContext) {
      return (
        `WebGPU needs a secure origin, and this page was opened from ${location.origin}. ` +
        'Open it from https:// or from http://localhost (or 127.0.0.1) instead.'
      );
    }
    if (!navigator.gpu) {
      return (
        'This browser does not offer WebGPU, so the demo cannot run here. Open it in Chrome or Edge 113 or newer ' +
        '(desktop), or Chrome 121+ on Android. Firefox and Safari need WebGPU switched on in their settings.'
      );
    }
    return (
      'WebGPU is there, but the browser found no usable GPU adapter: the GPU or its driver may be blocklisted. ' +
      'chrome://gpu tells why; on Linux, Chrome may need chrome://flags/#enable-unsafe-webgpu and a Vulkan driver.'
    );
  }
  if (e instanceof AdapterLimitError) {
    return (
      `Your GPU adapter is too limited for this demo: it needs ${e.limit} of at least ${e.required}, ` +
      `and this adapter offers ${e.available}. Try another browser or a machine with a more capable GPU.`
    );
  }
  return `Could not start WebGPU: ${describeError(e)}`;
}

// ------------------------------------------------------------------ phases

function setPhase(p: Phase): void {
  phase = p;
  const labels: Record<Phase, string> = {
    starting: 'starting',
    'no-webgpu': 'no WebGPU',
    loading: 'loading data',
    ready: run ? 'model ready' : 'ready',
    preparing: 'compiling kernels',
    training: 'training',
    pausing: 'pausing…',
    paused: 'paused',
    stopping: 'stopping…',
    done: 'done',
    lost: 'device lost',
    recovering: 'resuming on a new device',
    error: 'stopped',
  };
  ui.state.textContent = labels[p];
  ui.state.dataset.phase = p;
  document.body.dataset.phase = p;
  timeline.push({ event: `phase:${p}`, at: performance.now() });
  const hadFocus = document.activeElement;
  const idle = p === 'ready' || p === 'done' || p === 'error';
  const haveData = gpu !== null && mnist !== null;
  ui.train.disabled = !(haveData && idle);
  ui.pause.disabled = p !== 'training';
  ui.resume.disabled = p !== 'paused';
  ui.stop.disabled = !(p === 'training' || p === 'pausing' || p === 'paused');
  ui.reset.disabled = !(run !== null && (idle || p === 'paused'));
  for (const el of Array.from(ui.form.elements)) (el as HTMLInputElement).disabled = !idle;
  ui.cnnFields.disabled = !idle || ui.preset.value !== 'paper-cnn';
  ui.save.disabled = !(run !== null && (idle || p === 'paused' || p === 'training'));
  const canLoad = haveData && (idle || p === 'paused');
  ui.load.disabled = !canLoad;
  ui.loadLabel.classList.toggle('disabled', !canLoad);
  // A button that disables itself would drop keyboard focus to the page:
  // hand it to the control this phase leads to (Pause -> Resume once
  // paused, Train -> Pause, ...). In a passing phase (pausing) the focus is
  // owed until the next one.
  const lost = hadFocus instanceof HTMLButtonElement && hadFocus.disabled;
  if (lost || (focusOwed && (document.activeElement === document.body || document.activeElement === null))) {
    const next = ({ training: ui.pause, paused: ui.resume, done: ui.train, ready: ui.train } as Partial<Record<Phase, HTMLElement>>)[p];
    if (next && !(next as HTMLButtonElement).disabled) {
      next.focus();
      focusOwed = false;
    } else {
      focusOwed = true;
    }
  }
}

let focusOwed = false;

// -------------------------------------------------------------------- form

function writeForm(s: DemoSettings): void {
  ui.preset.value = s.preset;
  ui.activation.value = s.activation;
  ui.batchnorm.checked = s.batchNorm;
  for (const [name, rule] of Object.entries(URL_PARAMS)) inputFor(name).value = String(s[rule.key]);
  ui.cnnFields.disabled = ui.preset.disabled || s.preset !== 'paper-cnn';
  updateModelSummary();
}

/** The form's settings, or null (with the problem shown) when a value is out of range. */
function readForm(): DemoSettings | null {
  const s = { preset: ui.preset.value, activation: ui.activation.value, batchNorm: ui.batchnorm.checked } as DemoSettings;
  const problems: string[] = [];
  for (const [name, rule] of Object.entries(URL_PARAMS)) {
    const raw = inputFor(name).value.trim();
    const value = Number(raw);
    const problem = raw === '' ? `${name} is empty` : checkValue(name, value);
    if (problem) problems.push(problem);
    s[rule.key] = value;
  }
  if (problems.length === 0) {
    try {
      buildModel(modelSpecFor(s));
    } catch (e) {
      problems.push(`this model cannot be built: ${describeError(e)}`);
    }
  }
  ui.formError.hidden = problems.length === 0;
  ui.formError.textContent = problems.join('; ');
  return problems.length === 0 ? s : null;
}

/**
 * The architecture line and layer table under the preset, kept in step with
 * the form; a value Train would refuse shows here as an error at once.
 */
function updateModelSummary(): void {
  const s: DemoSettings = {
    ...DEFAULT_SETTINGS,
    preset: ui.preset.value,
    activation: ui.activation.value as DemoSettings['activation'],
    batchNorm: ui.batchnorm.checked,
  };
  const problems: string[] = [];
  for (const [name, rule] of Object.entries(URL_PARAMS)) {
    const raw = inputFor(name).value.trim();
    s[rule.key] = Number(raw);
    const problem = raw === '' ? `${name} is empty` : checkValue(name, s[rule.key]);
    if (problem) problems.push(problem);
  }
  const fixed = s.preset !== 'paper-cnn';
  ui.cnnFields.hidden = fixed;
  ui.fixedNote.hidden = !fixed;
  try {
    const spec = modelSpecFor(s);
    const summary = describeModel(spec);
    ui.modelSummary.textContent = problems.length > 0 ? `Train would refuse: ${problems.join('; ')}` : summary;
    ui.modelSummary.classList.toggle('error', problems.length > 0);
    renderLayers(spec);
  } catch (e) {
    ui.modelSummary.textContent = describeError(e);
    ui.modelSummary.classList.add('error');
    ui.layerRows.replaceChildren();
  }
}

/** One row per layer: Keras-like name, output shape, parameter count. */
function renderLayers(spec: ModelSpec): void {
  const model = buildModel(spec);
  const rows = model.layers.map((l) => {
    const tr = document.createElement('tr');
    const count = l.params.reduce((a, p) => a + p.size, 0);
    for (const text of [`${l.name} (${l.type})`, `(${l.outShape.join(', ')})`, int(count)]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  const total = document.createElement('tr');
  total.className = 'total';
  for (const text of ['total', '', int(model.paramCount)]) {
    const td = document.createElement('td');
    td.textContent = text;
    total.append(td);
  }
  ui.layerRows.replaceChildren(...rows, total);
}

ui.preset.addEventListener('change', updateModelSummary);
ui.form.addEventListener('input', updateModelSummary);

// ------------------------------------------------------------------ WebGPU

async function acquireGpu(): Promise<AcquiredDevice> {
  const acquired = await acquireDevice({ label: 'wgsl-nn demo' });
  gpu = acquired;
  ui.adapter.textContent = acquired.adapterName;
  ui.timestamps.textContent = acquired.hasTimestamps ? 'timestamp queries available' : 'no timestamp queries';
  const device = acquired.device;
  device.addEventListener('uncapturederror', (e) => {
    const error = (e as GPUUncapturedErrorEvent).error;
    console.error('WebGPU error:', error.message);
    showBanner('error', `GPU error: ${error.message}`);
  });
  deviceLost = whenLost(device);
  deviceLost.then((err) => onDeviceLost(device, err));
  return acquired;
}

function onDeviceLost(device: GPUDevice, err: DeviceLostError): void {
  // A device we already replaced, or a loss already being handled.
  if (gpu?.device !== device || phase === 'lost' || phase === 'recovering') return;
  trainingWhenLost = phase === 'training' || phase === 'pausing' || phase === 'stopping' || phase === 'preparing';
  phaseWhenLost = phase;
  const wasPaused = phase === 'paused';
  setPhase('lost');
  ui.train.disabled = true;
  const from = run?.snapshot
    ? ` Your model is safe in memory as of the end of epoch ${run.snapshot.epoch}` +
      (trainingWhenLost || wasPaused ? '; resuming repeats at most the epoch that was running.' : '.')
    : '';
  showBanner(
    'error',
    `The GPU device was lost (${err.reason}: ${err.message.replace(/^GPU device lost \([^)]*\): /, '')}). ` +
      `This happens when the driver resets or the browser reclaims the GPU.${from}`,
    true,
  );
  ui.padStatus.textContent = 'The GPU device was lost.';
}

async function recover(): Promise<void> {
  setPhase('recovering');
  showBanner('info', 'Acquiring a new GPU device…');
  try {
    const acquired = await acquireGpu();
    void loadShipped(acquired.device);
    if (run) {
      const old = run;
      const trainer = await Trainer.create(acquired.device, trainConfig(old.settings, old.spec), {
        train: old.train,
        test: old.test,
      });
      if (old.snapshot) trainer.restore(old.snapshot);
      run = { ...old, trainer, epochs: old.epochs.slice(0, trainer.epoch) };
      const epoch = trainer.epoch;
      lossChart.truncate(epoch);
      accuracyChart.truncate(epoch);
      truncateEpochRows(ui.epochRows, epoch);
      showBanner('info', `Resumed on a new GPU device from the end of epoch ${epoch}.`);
      if (trainingWhenLost) {
        pauseRequested = false;
        void trainLoop(run);
      } else {
        // Paused stays paused (Resume trains on); a finished model stays finished.
        setPhase(phaseWhenLost === 'paused' ? 'paused' : 'done');
      }
    } else {
      showBanner('info', 'Resumed on a new GPU device.');
      setPhase('ready');
    }
    classifyPad();
  } catch (e) {
    gpu = null;
    setPhase('lost');
    showBanner('error', `Could not get a new GPU device: ${friendlyGpuError(e)}`, true);
  }
}

// -------------------------------------------------------------------- data

async function loadData(): Promise<void> {
  setPhase('loading');
  ui.dataStatus.textContent = 'downloading…';
  const started = performance.now();
  const data = await loadMnist(({ loaded, total }) => {
    ui.dataProgress.value = loaded / total;
    ui.dataStatus.textContent = `${(loaded / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`;
  });
  mnist = data;
  ui.dataProgress.value = 1;
  ui.dataStatus.textContent =
    `${int(data.train.count)} training and ${int(data.test.count)} test images loaded ` +
    `in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  ui.dataStatus.dataset.loaded = 'true';
}

// ---------------------------------------------------------------- training

/**
 * Kernel tuning on the user's own GPU: the first time a model shape is
 * trained on an adapter, the engine times its kernel variants and keeps the
 * fastest (in localStorage, per adapter and shape), so later runs start at
 * once. A tuner per trainer, so each gets the tuner's whole time budget and
 * the status line speaks of that trainer; the progress line says what it is
 * timing.
 */
let tuner: Tuner | null = null;
function newTuner(device: GPUDevice): Tuner {
  tuner = new Tuner(device, {
    onProgress: ({ index, count, variant }) => {
      ui.tuneStatus.textContent = `Tuning kernels for your GPU: timing ${variant} (${index + 1} of ${count})…`;
    },
  });
  return tuner;
}

/** After a plan is built: what the tuner chose, and what it cost. */
function showTuning(): void {
  if (!tuner || tuner.decisions.length === 0) return;
  const timed = tuner.decisions.filter((d) => d.source === 'measured').length;
  const deferred = tuner.decisions.filter((d) => d.source === 'deferred').length;
  const later = deferred > 0 ? ` ${deferred} more on the next run.` : '';
  ui.tuneStatus.textContent =
    timed > 0
      ? `Kernels tuned for your GPU: ${timed} of ${tuner.decisions.length} problems timed in ${(tuner.tuningMs / 1000).toFixed(1)} s, kept for next time.${later}`
      : `Kernels for your GPU: ${tuner.decisions.length} choices from the last visit's tuning.${later}`;
}

function trainConfig(s: DemoSettings, spec: ModelSpec): TrainConfig {
  const device = gpu?.device;
  return {
    model: spec,
    batchSize: s.batchSize,
    seed: s.seed,
    learningRate: s.learningRate,
    ...(device && { tune: 'auto' as const, tuner: newTuner(device) }),
  };
}

function clearResults(): void {
  ui.liveDigits.replaceChildren();
  lossChart.clear();
  accuracyChart.clear();
  ui.epochRows.replaceChildren();
  ui.progress.value = 0;
  ui.progressText.textContent = 'not started';
  for (const el of [ui.runningLoss, ui.runningAccuracy, ui.imagesPerSecond, ui.testAccuracy]) el.textContent = '–';
  ui.testSummary.textContent = '';
  ui.confusion.innerHTML = '<p class="muted small">after the first epoch</p>';
  ui.misclassified.replaceChildren();
  ui.misclassifiedCount.textContent = '';
}

// ------------------------------------------------------------ live digits

/**
 * The first test image of each digit, predicted again every couple of
 * seconds while training (as the TF.js examples do): one small predict that
 * waits behind at most the queued training submits.
 */
const LIVE_EVERY_MS = 2000;
let liveBusy = false;
let liveLast = -Infinity;
let liveUpdates = 0;

function liveIndices(test: MnistSplit): number[] {
  const out: number[] = [];
  for (let d = 0; d < 10; d++) {
    const i = test.labels.indexOf(d);
    if (i >= 0) out.push(i);
  }
  return out;
}

async function refreshLiveDigits(r: Run, force = false): Promise<void> {
  const now = performance.now();
  if (liveBusy || (!force && now - liveLast < LIVE_EVERY_MS)) return;
  const indices = liveIndices(r.test);
  if (indices.length === 0) return;
  liveBusy = true;
  liveLast = now;
  try {
    const px = r.test.rows * r.test.cols;
    const images = new Float32Array(indices.length * px);
    indices.forEach((i, k) => {
      for (let p = 0; p < px; p++) images[k * px + p] = r.test.images[i * px + p] / 255;
    });
    const { probabilities } = await r.trainer.predict(images, indices.length);
    if (run !== r) return;
    const figures = indices.map((i, k) => {
      const probs = probabilities.subarray(k * 10, k * 10 + 10);
      let best = 0;
      for (let d = 1; d < 10; d++) if (probs[d] > probs[best]) best = d;
      const fig = document.createElement('figure');
      const canvas = document.createElement('canvas');
      drawDigit(canvas, r.test.images.subarray(i * px, (i + 1) * px), true);
      const cap = document.createElement('figcaption');
      const right = best === r.test.labels[i];
      cap.className = right ? 'right' : 'wrong';
      cap.textContent = String(best);
      fig.title = `test image ${i} (a ${r.test.labels[i]}): read as ${best}, p = ${probs[best].toFixed(2)}`;
      fig.append(canvas, cap);
      return fig;
    });
    ui.liveDigits.replaceChildren(...figures);
    liveUpdates += 1;
    ui.liveDigits.dataset.updates = String(liveUpdates);
  } catch {
    // A lost device or a replaced run: the training path reports those.
  } finally {
    liveBusy = false;
  }
}

/** "about 3 min left" from the measured time per step; empty until there is one. */
function timeLeft(r: Run, p: StepProgress, sinceMs = 0): string {
  const ms = r.trainer.msPerStep;
  if (!(ms > 0)) return '';
  const steps = (r.targetEpochs - p.epoch - 1) * p.steps + (p.steps - p.step);
  const s = Math.max(0, steps * ms - sinceMs) / 1000;
  if (s < 60) return ` · about ${Math.max(1, Math.round(s))} s left`;
  if (s < 3600) return ` · about ${Math.round(s / 60)} min left`;
  return ` · about ${(s / 3600).toFixed(1)} h left`;
}

let maxSubmitMs = 0;
/** The last report, for the ticker that counts the time left down between reports. */
let lastReport: { r: Run; p: StepProgress; at: number } | null = null;

// A step can take seconds on a weak adapter: between reports, the time left
// still moves once a second (a display timer only; training never waits on it).
setInterval(() => {
  if (phase !== 'training' || !lastReport || run !== lastReport.r) return;
  const { r, p, at } = lastReport;
  const since = performance.now() - at;
  ui.progressText.textContent = progressLine(r, p, since);
}, 1000);

function progressLine(r: Run, p: StepProgress, sinceMs = 0): string {
  const overall = (p.epoch + p.step / p.steps) / r.targetEpochs;
  return `epoch ${p.epoch + 1} of ${r.targetEpochs} · step ${int(p.step)} of ${int(p.steps)} · ` + `${Math.floor(100 * overall)}%${timeLeft(r, p, sinceMs)}`;
}

function onProgress(r: Run, p: StepProgress): void {
  unsaved = true;
  const fraction = p.step / p.steps;
  const now = performance.now();
  timeline.push({ event: 'progress', at: now, step: p.step, ms: p.submitMs });
  lastReport = { r, p, at: now };
  ui.progress.value = fraction;
  ui.progressText.textContent = progressLine(r, p);
  ui.runningLoss.textContent = num(p.loss);
  ui.runningAccuracy.textContent = pct(p.accuracy);
  ui.imagesPerSecond.textContent = int(p.imagesPerSecond);
  maxSubmitMs = Math.max(maxSubmitMs, p.submitMs);
  ui.submitPace.textContent = `${p.submitSteps} step${p.submitSteps === 1 ? '' : 's'} · ${p.submitMs.toFixed(0)} ms`;
  ui.submitPace.dataset.maxMs = String(maxSubmitMs);
  lossChart.addTrain(p.epoch + fraction, p.loss, p.submitLoss);
  accuracyChart.addTrain(p.epoch + fraction, p.accuracy, p.submitAccuracy);
  void refreshLiveDigits(r);
  if (pauseAtStep !== null && p.step >= pauseAtStep && phase === 'training') {
    pauseAtStep = null;
    ui.pause.click();
  }
  if (loseDeviceAt && p.epoch === loseDeviceAt.epoch && p.step >= loseDeviceAt.step) {
    loseDeviceAt = null;
    gpu?.device.destroy();
  }
}

function showEvaluation(r: Run, ev: EvalResult): void {
  ui.testAccuracy.textContent = pct(ev.accuracy);
  ui.testAccuracy.dataset.value = String(ev.accuracy);
  ui.testSummary.textContent = `${int(ev.count)} images · loss ${num(ev.loss)} · accuracy ${pct(ev.accuracy)}`;
  renderConfusion(ui.confusion, ev.confusion);
  const wrong = renderMisclassified(ui.misclassified, r.test, ev.predictions, 60);
  ui.misclassifiedCount.textContent =
    wrong > 60 ? `${int(wrong)} of ${int(ev.count)}, the first 60 shown` : `${int(wrong)} of ${int(ev.count)}`;
}

/** Times one training step per kernel, then puts the snapshot back (profiling trains). */
async function profile(r: Run): Promise<void> {
  if (!gpu || !canProfile(gpu.device)) {
    ui.kernelTimes.innerHTML = '<p class="muted">timestamp queries not available on this adapter</p>';
    return;
  }
  if (!r.snapshot) return;
  const result = await profileStep(r.trainer.device, r.trainer.trainPlan, 3);
  r.trainer.restore(r.snapshot);
  renderKernelTimes(ui.kernelTimes, result, r.settings.batchSize);
}

/**
 * Keeps the run's model (weights and Adam state), settings and epoch rows in
 * IndexedDB, so a reload finds it again. Best effort: a browser that cannot
 * store it only loses that convenience.
 */
async function keepInBrowser(r: Run): Promise<void> {
  try {
    const checkpoint = await r.trainer.saveCheckpoint({ optimizer: true });
    if (run !== r) return;
    await keepModel({ checkpoint, settings: r.settings, epochs: r.epochs, savedAt: new Date().toISOString() });
    ui.keptNote.textContent = `Kept in this browser: ${epochsText(r.trainer.epoch)} of training, restored when the page is opened again.`;
  } catch (e) {
    console.warn('could not keep the model in this browser:', e);
  }
}

async function afterEpoch(r: Run, res: EpochResult): Promise<void> {
  r.epochs.push(res);
  addEpochRow(ui.epochRows, res);
  lossChart.addEpoch(res.epoch, res.loss, res.valLoss);
  accuracyChart.addEpoch(res.epoch, res.accuracy, res.valAccuracy);
  ui.imagesPerSecond.textContent = int(res.imagesPerSecond);
  r.snapshot = await r.trainer.snapshot();
  // trainEpoch already evaluated the test set; use that result.
  showEvaluation(r, r.trainer.lastEvaluation ?? (await r.trainer.evaluate()));
  showTuning();
  classifyPad();
  void refreshLiveDigits(r, true);
  void keepInBrowser(r);
  // Timing the kernels trains three steps: not while someone waits for a pause.
  if (!pauseRequested) await profile(r);
}

const epochsText = (n: number) => `${n} epoch${n === 1 ? '' : 's'}`;

/** Ends a run that was stopped early: the model stays, as after its last step. */
function finishStopped(r: Run): void {
  stopRequested = false;
  const e = r.trainer.epoch;
  const steps = r.trainer.globalStep - e * r.trainer.stepsPerEpoch;
  ui.progressText.textContent = `stopped after ${epochsText(e)}${steps > 0 ? ` and ${int(steps)} steps` : ''}`;
  r.targetEpochs = e;
  setPhase('done');
}

async function trainLoop(r: Run): Promise<void> {
  setPhase('training');
  try {
    while (r.trainer.epoch < r.targetEpochs) {
      const res = await r.trainer.trainEpoch({ onProgress: (p) => onProgress(r, p), shouldPause: () => pauseRequested });
      if (run !== r) return; // reset or replaced meanwhile
      if (res) await afterEpoch(r, res);
      if (run !== r) return;
      // A pause asked for in an epoch's last steps lands here, at the
      // boundary: also in the last epoch, where the run would otherwise end.
      if (!res || pauseRequested) {
        if (stopRequested) {
          finishStopped(r);
          listRun(r);
        } else setPhase('paused');
        return;
      }
    }
    ui.progressText.textContent = `finished ${epochsText(r.targetEpochs)}`;
    listRun(r);
    setPhase('done');
  } catch (e) {
    void runFailed(e);
  }
}

/**
 * A destroyed device fails the pending map before its `lost` promise
 * resolves, with a plain error: give the loss a moment to show itself, so
 * that it gets the lost-device path (and its way back) rather than "stopped".
 */
async function runFailed(e: unknown): Promise<void> {
  if (!(e instanceof DeviceLostError) && deviceLost) {
    const lost = await Promise.race([deviceLost, new Promise<null>((r) => setTimeout(() => r(null), 1000))]);
    if (lost) e = lost;
  }
  if (e instanceof DeviceLostError || phase === 'lost' || phase === 'recovering') {
    // The device-lost handler owns the message and the way back.
    if (gpu && phase !== 'lost' && phase !== 'recovering') {
      onDeviceLost(gpu.device, e instanceof DeviceLostError ? e : new DeviceLostError('unknown', describeError(e)));
    }
    return;
  }
  console.error(e);
  if (e instanceof NonFiniteLossError && run?.snapshot) {
    run.trainer.restore(run.snapshot);
    showBanner(
      'error',
      `${e.message}. The model was put back to the end of epoch ${run.snapshot.epoch}; ` +
        'a smaller learning rate usually avoids this.',
    );
  } else if (e instanceof ShapeError) {
    showBanner('error', `This configuration cannot be trained: ${e.message}`);
  } else {
    showBanner('error', `Training stopped: ${describeError(e)}`);
  }
  setPhase('error');
}

async function startTraining(): Promise<void> {
  if (!gpu || !mnist) return;
  const settings = readForm();
  if (!settings) return;
  if (!mayDiscard('Training a new model')) return;
  hideBanner();
  if (run) {
    run.trainer.destroy();
    run = null;
  }
  clearResults();
  setPhase('preparing');
  ui.progressText.textContent = 'uploading data and compiling kernels…';
  try {
    const spec = modelSpecFor(settings);
    const train = mnistSubset(mnist.train, settings.trainCount);
    const test = mnistSubset(mnist.test, settings.testCount);
    const trainer = await Trainer.create(gpu.device, trainConfig(settings, spec), { train, test });
    showTuning();
    const r: Run = { trainer, spec, settings, train, test, targetEpochs: settings.epochs, snapshot: null, epochs: [] };
    run = r;
    r.snapshot = await trainer.snapshot();
    // Compiles the live digits' predict plan now, not in the middle of training.
    await refreshLiveDigits(r, true);
    ui.progressText.textContent = 'timing kernels…';
    await profile(r);
    pauseRequested = false;
    stopRequested = false;
    maxSubmitMs = 0;
    await trainLoop(r);
  } catch (e) {
    void runFailed(e);
  }
}

async function reset(): Promise<void> {
  if (!mayDiscard('Reset')) return;
  unsaved = false;
  ui.keptNote.textContent = '';
  void forgetModel().catch((e) => console.warn('could not forget the kept model:', e));
  pauseRequested = true;
  if (run) run.trainer.destroy();
  run = null;
  clearResults();
  hideBanner();
  ui.kernelTimes.innerHTML = '<p class="muted small">measured when training starts and after each epoch</p>';
  ui.weightsStatus.textContent = '';
  setPhase('ready');
  classifyPad();
}

ui.train.addEventListener('click', () => void startTraining());
ui.pause.addEventListener('click', () => {
  timeline.push({ event: 'pause', at: performance.now() });
  pauseRequested = true;
  setPhase('pausing');
});
ui.resume.addEventListener('click', () => {
  if (!run) return;
  pauseRequested = false;
  void trainLoop(run);
});
ui.stop.addEventListener('click', () => {
  if (!run) return;
  if (phase === 'paused') {
    finishStopped(run);
    listRun(run);
    return;
  }
  stopRequested = true;
  pauseRequested = true;
  setPhase('stopping');
});
ui.reset.addEventListener('click', () => void reset());
ui.lostResume.addEventListener('click', () => void recover());
ui.bannerClose.addEventListener('click', hideBanner);

// ---------------------------------------------------------- shipped weights

/**
 * Trained weights of the paper CNN served with the page (made by `npm run
 * train`; the JSON next to them says how, and their test accuracy), so that
 * the drawing pad works before anyone has trained anything. They live in a
 * trainer of their own with a one-image dummy training set: they are never
 * trained, and a run of the user's own replaces them on the pad.
 */
interface Shipped {
  trainer: Trainer;
  describe: string;
}
let shipped: Shipped | null = null;

interface ShippedInfo {
  command: string;
  adapter: string;
  date: string;
  epochs: number;
  testAccuracy: number;
  testCount: number;
}

/** A trainer with the checkpoint `bytes` loaded into it; nothing is left behind if the file does not fit. */
async function trainerFromCheckpoint(
  device: GPUDevice,
  config: Parameters<typeof Trainer.create>[1],
  data: Parameters<typeof Trainer.create>[2],
  bytes: Uint8Array,
  name: string,
): Promise<Trainer> {
  const trainer = await Trainer.create(device, config, data);
  try {
    await trainer.loadCheckpoint(bytes, name);
    return trainer;
  } catch (e) {
    trainer.destroy();
    throw e;
  }
}

/** Shows a model that was loaded rather than trained here: its evaluation, live digits and epoch. */
async function showLoadedRun(r: Run, how: string): Promise<void> {
  r.snapshot = await r.trainer.snapshot();
  showEvaluation(r, await r.trainer.evaluate());
  void refreshLiveDigits(r, true);
  ui.progress.value = r.trainer.epoch > 0 ? 1 : 0;
  ui.progressText.textContent = `${how}: ${epochsText(r.trainer.epoch)} of training`;
}

async function loadShipped(device: GPUDevice): Promise<void> {
  const base = new URL('./pretrained/', document.baseURI);
  try {
    const [infoRes, weightsRes] = await Promise.all([fetch(new URL('paper-cnn.json', base)), fetch(new URL('paper-cnn.safetensors', base))]);
    if (!infoRes.ok || !weightsRes.ok) throw new Error(`HTTP ${infoRes.ok ? weightsRes.status : infoRes.status}`);
    const info = (await infoRes.json()) as ShippedInfo;
    const bytes = new Uint8Array(await weightsRes.arrayBuffer());
    const spec = specOfCheckpoint(bytes, 'paper-cnn.safetensors');
    if (!spec) throw new Error('the file does not say which model it holds');
    const dummy: MnistSplit = { images: new Uint8Array(28 * 28), labels: new Uint8Array(1), count: 1, rows: 28, cols: 28 };
    const trainer = await trainerFromCheckpoint(device, { model: spec, batchSize: 1, seed: 1 }, { train: dummy }, bytes, 'paper-cnn.safetensors');
    shipped?.trainer.destroy();
    shipped = { trainer, describe: `paper CNN, ${pct(info.testAccuracy)} on the ${int(info.testCount)} MNIST test images` };
    ui.padStatus.dataset.shipped = 'true';
  } catch (e) {
    shipped = null;
    console.warn('shipped weights not loaded:', e);
    ui.padStatus.dataset.shipped = 'false';
  }
  classifyPad();
}

// ------------------------------------------------------------- drawing pad

let padBusy = false;
let padDirty = false;
let padUpdates = 0;

async function classifyPad(): Promise<void> {
  padDirty = true;
  if (padBusy) return;
  padBusy = true;
  try {
    while (padDirty) {
      padDirty = false;
      const pixels = preprocessDigit(pad.inputImage());
      drawDigit(ui.padPreview, pixels ?? new Float32Array(28 * 28), false);
      // The model being trained (or loaded) when there is one, else the shipped weights.
      const trainer = run?.trainer ?? shipped?.trainer;
      const whose = run ? 'your model' : shipped ? `the shipped weights (${shipped.describe})` : '';
      if (!pixels) {
        renderProbabilities(ui.probabilities, null);
        ui.prediction.textContent = '–';
        ui.padStatus.textContent = trainer
          ? `Draw a digit with the mouse, a pen or a finger; ${whose} will read it.`
          : 'Train a model or load weights, then draw.';
        continue;
      }
      if (!trainer || phase === 'lost' || phase === 'recovering') {
        renderProbabilities(ui.probabilities, null);
        ui.prediction.textContent = '–';
        ui.padStatus.textContent = 'Train a model or load weights to classify this digit.';
        continue;
      }
      const started = performance.now();
      const { probabilities } = await trainer.predict(pixels);
      let best = 0;
      for (let d = 1; d < probabilities.length; d++) if (probabilities[d] > probabilities[best]) best = d;
      renderProbabilities(ui.probabilities, probabilities);
      ui.prediction.textContent = String(best);
      padUpdates += 1;
      ui.probabilities.dataset.updates = String(padUpdates);
      ui.padStatus.textContent = `classified by ${whose} on the GPU in ${(performance.now() - started).toFixed(0)} ms`;
    }
  } catch (e) {
    ui.padStatus.textContent = `Could not classify: ${describeError(e)}`;
  } finally {
    padBusy = false;
  }
}

const pad = new DrawingPad(ui.pad, () => void classifyPad());
ui.padClear.addEventListener('click', () => pad.clear());
renderProbabilities(ui.probabilities, null);

// ----------------------------------------------------------------- weights

function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

async function saveWeights(): Promise<void> {
  if (!run) return;
  ui.weightsStatus.className = 'small muted';
  ui.weightsStatus.textContent =
    phase === 'training' ? 'Saving: reading the weights between training submits…' : 'Saving…';
  try {
    const bytes = await run.trainer.saveCheckpoint();
    unsaved = false;
    const name = `wgsl-nn-${run.spec.name}-epoch${run.trainer.epoch}.safetensors`;
    download(bytes, name);
    ui.weightsStatus.className = 'small muted';
    ui.weightsStatus.textContent = `Saved ${name} (${(bytes.length / 1024).toFixed(0)} KiB).`;
  } catch (e) {
    ui.weightsStatus.className = 'small error';
    ui.weightsStatus.textContent = `Could not save the weights: ${describeError(e)}`;
  }
}

/** The model a checkpoint was saved from, from its metadata; null when it does not say. */
function specOfCheckpoint(bytes: Uint8Array, file: string): ModelSpec | null {
  const { metadata } = decodeSafetensors(bytes, file);
  if (!metadata?.model) return null;
  let spec: ModelSpec;
  try {
    spec = JSON.parse(metadata.model) as ModelSpec;
    buildModel(spec);
  } catch (e) {
    throw new CheckpointError(`${file}: its metadata describes a model this page cannot build (${describeError(e)})`);
  }
  return spec;
}

/**
 * Loads a checkpoint. Everything is checked before the current model is
 * touched: a bad file leaves it exactly as it was. A file for another model
 * shape gets a new trainer, which replaces the current one only on success.
 */
async function loadWeights(file: File): Promise<void> {
  if (!gpu || !mnist) return;
  const before = phase;
  ui.load.disabled = true;
  ui.weightsStatus.className = 'small muted';
  ui.weightsStatus.textContent = `Loading ${file.name}…`;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const current = run;
    const spec = specOfCheckpoint(bytes, file.name) ?? current?.spec ?? modelSpecFor(readForm() ?? DEFAULT_SETTINGS);
    if (current && JSON.stringify(current.spec) === JSON.stringify(spec)) {
      await current.trainer.loadCheckpoint(bytes, file.name);
    } else {
      const base = current?.settings ?? readForm() ?? DEFAULT_SETTINGS;
      const settings = settingsFromSpec(spec, base) ?? base;
      const train = mnistSubset(mnist.train, settings.trainCount);
      const test = mnistSubset(mnist.test, settings.testCount);
      const trainer = await trainerFromCheckpoint(gpu.device, trainConfig(settings, spec), { train, test }, bytes, file.name);
      current?.trainer.destroy();
      run = { trainer, spec, settings, train, test, targetEpochs: settings.epochs, snapshot: null, epochs: [] };
      writeForm(settings);
    }
    // The page now shows the file's model, not the run it replaced: no
    // curves or epoch rows of that run, the file's epoch, its test accuracy.
    clearResults();
    ui.kernelTimes.innerHTML = '<p class="muted small">measured when training starts and after each epoch</p>';
    const r = run!;
    r.targetEpochs = r.trainer.epoch;
    r.epochs = [];
    unsaved = false;
    void keepInBrowser(r);
    await showLoadedRun(r, `loaded from ${file.name}`);
    ui.weightsStatus.textContent = `Loaded ${file.name} (${r.spec.name}): test accuracy ${ui.testAccuracy.textContent}.`;
    ui.weightsStatus.dataset.loaded = file.name;
    setPhase('done');
    classifyPad();
  } catch (e) {
    const known = e instanceof FileFormatError || e instanceof CheckpointError || e instanceof ShapeError;
    if (!known) console.error(e);
    ui.weightsStatus.className = 'small error';
    ui.weightsStatus.textContent = loadFailureText(file.name, e);
    setPhase(before);
  } finally {
    ui.load.value = '';
  }
}

/** One message: what was wrong (without repeating the file name), and that nothing changed. */
function loadFailureText(name: string, e: unknown): string {
  let why = describeError(e).trim();
  if (why.startsWith(`${name}: `)) why = why.slice(name.length + 2);
  if (!/[.!?]$/.test(why)) why += '.';
  const hint =
    e instanceof FileFormatError
      ? ' It is not a safetensors weights file saved by this page or by `npm run train`.'
      : e instanceof CheckpointError
        ? ' The file does not fit a model this page can load.'
        : '';
  return `Could not load ${name}: ${why}${hint} The current model is unchanged.`;
}

/** Puts back the model a previous visit kept in IndexedDB, with its epoch rows. */
async function restoreKept(): Promise<void> {
  if (!gpu || !mnist) return;
  const name = 'the model kept in this browser';
  try {
    const kept = await keptModel();
    if (!kept) {
      document.body.dataset.restore = 'none';
      return;
    }
    const settings = kept.settings;
    const spec = specOfCheckpoint(kept.checkpoint, name) ?? modelSpecFor(settings);
    const train = mnistSubset(mnist.train, Math.min(settings.trainCount, mnist.train.count));
    const test = mnistSubset(mnist.test, Math.min(settings.testCount, mnist.test.count));
    const trainer = await trainerFromCheckpoint(gpu.device, trainConfig(settings, spec), { train, test }, kept.checkpoint, name);
    const r: Run = { trainer, spec, settings, train, test, targetEpochs: trainer.epoch, snapshot: null, epochs: kept.epochs };
    run = r;
    writeForm(settings);
    clearResults();
    for (const e of kept.epochs) {
      addEpochRow(ui.epochRows, e);
      lossChart.addEpoch(e.epoch, e.loss, e.valLoss);
      accuracyChart.addEpoch(e.epoch, e.accuracy, e.valAccuracy);
    }
    await showLoadedRun(r, 'restored from this browser');
    ui.keptNote.textContent = `Kept in this browser since ${new Date(kept.savedAt).toLocaleString()}; Reset forgets it.`;
    unsaved = false;
    setPhase('done');
    classifyPad();
    document.body.dataset.restore = 'restored';
  } catch (e) {
    console.warn('could not restore the model kept in this browser:', e);
    document.body.dataset.restore = 'failed';
  }
}

ui.save.addEventListener('click', () => void saveWeights());
ui.load.addEventListener('change', () => {
  const file = ui.load.files?.[0];
  if (file) void loadWeights(file);
});

// ----------------------------------------------------------- test hooks

/**
 * A small handle for the end-to-end tests and for poking at the page from
 * the console. Nothing on the page depends on it.
 */
const hooks = {
  phase: () => phase,
  /** Class probabilities of the first n test images of the current run. */
  async predictTest(n: number): Promise<number[]> {
    if (!run) throw new Error('no model');
    const px = run.test.rows * run.test.cols;
    const images = Float32Array.from(run.test.images.subarray(0, n * px), (v) => v / 255);
    return Array.from((await run.trainer.predict(images, n)).probabilities);
  },
  /** Destroys the device, which the page sees exactly as a lost device. */
  loseDevice(): void {
    gpu?.device.destroy();
  },
  /** Clicks Pause from the progress callback once training reports `step` (this epoch's). */
  pauseAtStep(step: number): void {
    pauseAtStep = step;
  },
  /** Loses the device from the progress callback at a given epoch (0-based) and step. */
  loseDeviceAt(epoch: number, step: number): void {
    loseDeviceAt = { epoch, step };
  },
  timeline: () => timeline.slice(),
  maxSubmitMs: () => maxSubmitMs,
};
(window as unknown as { wgslnnDemo: typeof hooks }).wgslnnDemo = hooks;

// ------------------------------------------------------------------- start

async function main(): Promise<void> {
  const parsed = settingsFromUrl(location.search);
  writeForm(parsed.settings);
  if (parsed.applied.length > 0) ui.urlNote.textContent = `From the URL: ${parsed.applied.join(', ')}.`;
  if (parsed.problems.length > 0) {
    ui.formError.hidden = false;
    ui.formError.textContent = `Ignored URL parameters: ${parsed.problems.join('; ')}.`;
  }
  setPhase('starting');
  try {
    const acquired = await acquireGpu();
    void loadShipped(acquired.device);
  } catch (e) {
    ui.adapter.textContent = 'no WebGPU adapter';
    ui.dataStatus.textContent = 'not loaded: WebGPU is needed to train';
    showBanner('error', friendlyGpuError(e));
    setPhase('no-webgpu');
    return;
  }
  try {
    await loadData();
  } catch (e) {
    ui.dataStatus.textContent = 'failed';
    showBanner('error', `Could not load MNIST: ${describeError(e)}. Reload the page to try again.`);
    setPhase('error');
    return;
  }
  setPhase('ready');
  await restoreKept();
}

void main();
