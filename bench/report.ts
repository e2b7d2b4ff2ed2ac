// The Markdown report: one table per kind of row, the targets, and the step
// profile. The same report is printed on stdout and kept (as JSON, with
// every number) under bench/results/.

import type { BenchRow } from './harness';
import type { StepProfile } from './train.bench';
import type { SuiteResult } from './suite';
import type { TuningResult } from './tune.bench';

export interface BenchEnv {
  /** Short name of host + adapter, used in the results file name. */
  slug: string;
  /** 'Dawn + lavapipe (Node)', 'Chromium + SwiftShader', ... */
  label: string;
  date: string;
  command: string;
  node: string;
  chromium?: string;
  dawn?: string;
  cpu: string;
  cores: number;
  /** 1-minute load average before and after the run (Node side). */
  loadAverage: { start: number; end: number } | null;
  quick: boolean;
  seconds: number;
}

export interface BenchReport extends SuiteResult {
  env: BenchEnv;
}

/** Three significant digits, no exponent for the sizes seen here. */
export function num(x: number | undefined | null): string {
  if (x === undefined || x === null || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a >= 0.01) return x.toFixed(3);
  return x.toPrecision(2);
}

const pct = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`);
const ratio = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${num(x)}×`);

function errorCell(r: BenchRow): string {
  if (r.error) return `**error**: ${r.error.split('\n')[0].slice(0, 120)}`;
  const v = r.validation;
  if (!v) return '–';
  return `${v.maxAbs === 0 ? '0' : v.maxAbs.toExponential(1)}${v.note ? ` (${v.note})` : ''}`;
}

function kernelTable(rows: BenchRow[]): string[] {
  const out = [
    '| kernel | shape | ms | spread | GFLOP/s | GB/s | of ceiling | TF.js ms | ours vs TF.js | max abs err |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const r of rows) {
    const t = r.ours;
    const theirs = r.theirs?.error ? `error: ${r.theirs.error.slice(0, 60)}` : num(r.theirs?.ms);
    const ceilingKind = r.bound === 'compute' ? ' FMA' : r.bound === 'memory' ? ' copy' : '';
    out.push(
      `| ${r.name} | ${r.shape} | ${num(t?.ms)} | ${t ? pct(t.spread) : '–'} | ${num(r.gflops)} | ${num(r.gbs)} | ` +
        `${r.fractionOfCeiling !== undefined ? pct(r.fractionOfCeiling) + ceilingKind : '–'} | ${theirs} | ${ratio(r.ratio)} | ${errorCell(r)} |`,
    );
  }
  return out;
}

function endToEndTable(rows: BenchRow[]): string[] {
  const out = [
    '| workload | ours img/s | TF.js img/s | ours vs TF.js | ours ms/step | GFLOP/s | of FMA ceiling | max abs err |',
    '|---|--:|--:|--:|--:|--:|--:|---|',
  ];
  for (const r of rows) {
    const theirs = r.theirs?.error ? `error: ${r.theirs.error.slice(0, 60)}` : num(r.theirs?.imagesPerSecond);
    out.push(
      `| ${r.name}, ${r.shape} | ${num(r.imagesPerSecond)} | ${theirs} | ${ratio(r.ratio)} | ${num(r.ours?.wallMs)} | ` +
        `${num(r.gflops)} | ${pct(r.fractionOfCeiling)} | ${errorCell(r)} |`,
    );
  }
  return out;
}

function profileTable(p: StepProfile, top = 8): string[] {
  const sorted = [...p.dispatches].sort((a, b) => b.ms - a.ms);
  const sum = p.dispatches.reduce((a, d) => a + d.ms, 0);
  const out = [
    `Profile of one ${p.tuned ? 'tuned ' : ''}${p.mode === 'train' ? 'training step' : 'forward pass'} at batch ${p.batch}: ${num(p.stepMs)} ms ` +
      `(the ${p.dispatches.length} dispatches timed one by one add up to ${num(sum)} ms)`,
    '',
    '| dispatch | kernel | ms | share of step |',
    '|---|---|--:|--:|',
  ];
  for (const d of sorted.slice(0, top)) out.push(`| ${d.label} | ${d.kernel} | ${num(d.ms)} | ${pct(d.share)} |`);
  if (sorted.length > top) {
    const rest = sorted.slice(top).reduce((a, d) => a + d.ms, 0);
    out.push(`| ${sorted.length - top} others | | ${num(rest)} | ${pct(rest / p.stepMs)} |`);
  }
  return out;
}

function tuningTable(results: TuningResult[]): string[] {
  const out = [
    '| workload | tuning time | kernel problems (changed, deferred) | untuned ms/step | tuned ms/step | tuned vs untuned | max abs err | variants chosen |',
    '|---|--:|--:|--:|--:|--:|---|---|',
  ];
  for (const r of results) {
    const variants = [...new Set(r.decisions.map((d) => d.variant))].join(', ');
    const err = r.error ? `**error**: ${r.error.split('\n')[0].slice(0, 120)}` : r.validation ? errorCell({ validation: r.validation } as BenchRow) : '–';
    out.push(
      `| ${r.mode === 'train' ? 'training' : 'inference'}, paper CNN, batch ${r.batch} | ${num(r.tuningMs / 1000)} s | ` +
        `${r.problems} (${r.changed}, ${r.deferred ?? 0}) | ${num(r.untunedMs)} | ${num(r.tunedMs)} | ${ratio(r.speedup)} | ${err} | ${variants} |`,
    );
  }
  return out;
}

export function toMarkdown(report: BenchReport): string {
  const { env } = report;
  const lines: string[] = [];
  const load = env.loadAverage ? `load average ${env.loadAverage.start.toFixed(1)} → ${env.loadAverage.end.toFixed(1)} on ${env.cores} cores` : `${env.cores} cores`;
  const tf = report.tfjs && 'version' in report.tfjs ? `TF.js ${report.tfjs.version} (webgpu backend)` : report.tfjs ? `TF.js: ${report.tfjs.error}` : 'TF.js not run';
  const end = report.rows.find((r) => r.name === 'peak_fma (end of run)');
  lines.push(`#### ${env.label}${env.quick ? ' (quick)' : ''}, ${env.date.slice(0, 10)}`);
  lines.push('');
  lines.push(`Adapter: **${report.adapter}**. ${env.chromium ? `Chromium ${env.chromium}, ` : ''}Node ${env.node}${env.dawn ? `, webgpu (Dawn) ${env.dawn}` : ''}; ${tf}; clock: ${report.timestamps ? 'timestamp queries' : 'onSubmittedWorkDone'}; ${env.cpu}, ${load}; ${num(env.seconds)} s.`);
  lines.push('');
  lines.push(`Ceilings measured in this run: **FMA ${num(report.ceilings.fmaGflops)} GFLOP/s**, **copy ${num(report.ceilings.copyGbs)} GB/s**` +
    (end?.gflops ? ` (FMA again at the end: ${num(end.gflops)} GFLOP/s)` : '') + '.');
  lines.push('');
  const kernels = report.rows.filter((r) => r.bound !== 'end-to-end');
  const e2e = report.rows.filter((r) => r.bound === 'end-to-end');
  lines.push(...kernelTable(kernels));
  lines.push('');
  if (e2e.length) {
    lines.push(...endToEndTable(e2e));
    lines.push('');
  }
  if (report.tuning?.length) {
    lines.push(...tuningTable(report.tuning));
    lines.push('');
  }
  if (report.targets.length) {
    lines.push('Targets:');
    lines.push('');
    for (const t of report.targets) {
      const value = t.value === null ? 'not measured' : t.goal < 1 ? pct(t.value) : ratio(t.value);
      lines.push(`- ${t.met ? 'met' : '**missed**'}: ${t.target} → ${value}`);
    }
    lines.push('');
  }
  for (const p of report.profiles) {
    lines.push(...profileTable(p));
    lines.push('');
  }
  return lines.join('\n');
}
