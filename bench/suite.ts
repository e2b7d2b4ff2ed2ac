// The whole benchmark suite, independent of the host: bench/run.ts calls it
// in Node (Dawn), bench/browser/main.ts in a Chromium page. The order puts
// each of our measurements right before TF.js's same workload, so that every
// ratio is measured back to back, and measures the FMA ceiling again at the
// end to show whether the machine's load changed during the run.

import type { AcquiredDevice } from '../src/gpu/device';
import type { BenchContext, BenchRow, Ceilings } from './harness';
import { benchCeilingAgain, benchCeilings } from './peak.bench';
import type { StepProfile } from './train.bench';
import type { TuningResult } from './tune.bench';
import { createTfjsPeer, type TfjsPeer } from './tfjs';

export const GROUPS = ['ceiling', 'gemm', 'conv2d', 'maxpool', 'layers', 'small', 'train', 'tune'] as const;
export type Group = (typeof GROUPS)[number];

export interface SuiteOptions {
  quick: boolean;
  /** Run only these groups (the ceilings always run: every row is relative to them). */
  only?: Group[];
  /** Compare with TF.js's WebGPU backend (on by default). */
  tfjs: boolean;
  log: (line: string) => void;
}

export interface TargetResult {
  target: string;
  value: number | null;
  goal: number;
  met: boolean;
}

export interface SuiteResult {
  adapter: string;
  timestamps: boolean;
  ceilings: Ceilings;
  rows: BenchRow[];
  profiles: StepProfile[];
  /** Tuned vs untuned plans and the tuning time (the 'tune' group). */
  tuning?: TuningResult[];
  tfjs: { version: string; adapter: string; flags: Record<string, unknown> } | { error: string } | null;
  targets: TargetResult[];
}

export async function runSuite(acquired: AcquiredDevice, options: SuiteOptions): Promise<SuiteResult> {
  const ctx: BenchContext = {
    quick: options.quick,
    log: options.log,
    device: acquired.device,
    adapterName: acquired.adapterName,
    hasTimestamps: acquired.hasTimestamps,
  };
  const wants = (g: Group) => !options.only || options.only.includes(g);
  let peer: TfjsPeer | null = null;
  let tfjs: SuiteResult['tfjs'] = null;
  if (options.tfjs) {
    try {
      peer = await createTfjsPeer(options);
      tfjs = { version: peer.version, adapter: peer.adapter, flags: peer.flags };
      options.log(`TF.js ${peer.version} on webgpu (${peer.adapter})`);
    } catch (e) {
      tfjs = { error: (e as Error).message };
      options.log(`TF.js unavailable: ${(e as Error).message}`);
    }
  }

  options.log(`ceilings on ${acquired.adapterName}`);
  const start = await benchCeilings(ctx);
  const { ceilings } = start;
  options.log(`  FMA ${ceilings.fmaGflops.toFixed(2)} GFLOP/s, copy ${ceilings.copyGbs.toFixed(2)} GB/s`);
  const rows: BenchRow[] = [...start.rows];
  let profiles: StepProfile[] = [];
  let tuning: TuningResult[] | undefined;
  // Each group's module is loaded when its turn comes: a module that fails to
  // load (a kernel being rewritten) costs its own rows, not the whole run.
  const group = async (name: Group, body: () => Promise<void>) => {
    if (!wants(name)) return;
    try {
      await body();
    } catch (e) {
      rows.push({ group: name, name: `${name} (all)`, shape: '', bound: 'compute', error: (e as Error).message });
      options.log(`${name}: ${(e as Error).message}`);
    }
  };
  try {
    await group('gemm', async () => {
      rows.push(...(await (await import('./gemm.bench')).benchGemm(ctx, ceilings, peer)));
    });
    await group('conv2d', async () => {
      rows.push(...(await (await import('./conv2d.bench')).benchConv2d(ctx, ceilings, peer)));
    });
    await group('maxpool', async () => {
      rows.push(...(await (await import('./maxpool.bench')).benchMaxPool(ctx, ceilings, peer)));
    });
    await group('layers', async () => {
      rows.push(...(await (await import('./layers.bench')).benchLayers(ctx, ceilings)));
    });
    await group('small', async () => {
      rows.push(...(await (await import('./small.bench')).benchSmallKernels(ctx, ceilings)));
    });
    await group('train', async () => {
      const e2e = await (await import('./train.bench')).benchEndToEnd(ctx, ceilings, peer);
      rows.push(...e2e.rows);
      profiles = e2e.profiles;
    });
    await group('tune', async () => {
      const t = await (await import('./tune.bench')).benchTuning(ctx);
      tuning = t.results;
      profiles = [...profiles, ...t.profiles];
    });
    rows.push(await benchCeilingAgain(ctx, start.best));
  } finally {
    peer?.dispose();
  }
  return {
    adapter: acquired.adapterName,
    timestamps: acquired.hasTimestamps,
    ceilings,
    rows,
    profiles,
    ...(tuning ? { tuning } : {}),
    tfjs,
    targets: checkTargets(rows),
  };
}

/** The targets, from the rows of this run. */
export function checkTargets(rows: BenchRow[]): TargetResult[] {
  const out: TargetResult[] = [];
  const ratioTarget = (target: string, pick: (r: BenchRow) => boolean, goal: number) => {
    for (const r of rows.filter(pick)) {
      const value = r.ratio ?? null;
      out.push({ target: `${target}: ${r.name} ${r.shape}`, value, goal, met: value !== null && value >= goal });
    }
  };
  ratioTarget('training >= 10x TF.js', (r) => r.group === 'train' && r.name === 'training', 10);
  ratioTarget('inference >= 10x TF.js', (r) => r.group === 'train' && r.name === 'inference', 10);
  ratioTarget('GEMM 1024 >= 3x tf.matMul', (r) => r.name === 'gemm 1024', 3);
  for (const r of rows.filter((r) => r.name === 'gemm 1024' || (r.group === 'conv2d' && r.name.includes('forward')))) {
    const value = r.fractionOfCeiling ?? null;
    out.push({ target: `>= 50% of FMA ceiling: ${r.name} ${r.shape}`, value, goal: 0.5, met: value !== null && value >= 0.5 });
  }
  return out;
}
