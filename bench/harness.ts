/**
 * Benchmark harness: times one case of lrdif and of each peer library in the same process
 * on the same adapter, records rows, prints a table and writes JSON.
 *
 * How a case is timed (for every library alike):
 * - warm-up calls first (pipeline compilation, buffer pools), then a calibration call picks
 *   `inner`, the number of ops per timed call, so a call lasts ~25 ms (at most 20 ops);
 * - wall time: a timed call runs the op `inner` times and reads the last result back (which
 *   waits for all of them), so the figure includes submission and one readback per call;
 *   per-op ms = call ms / inner. The statistics come from Benchmark.js (deferred, async);
 *   ops slower than ~0.5 s use a plain loop of `samples` calls instead, because Benchmark.js
 *   would first spend several extra calls calibrating its cycle count;
 * - GPU time: for lrdif, timestamp queries around each dispatch (`ctx.startProfile()`), summed
 *   per op; for tfjs, `tf.time()`'s kernelMs (its own timestamp queries) when it reports one.
 *   Medians of `samples` ops.
 * - ratio = peer wall ms / lrdif wall ms (like for like: the same method on both sides;
 *   > 1 means lrdif is faster).
 *
 * Devices and CPU sharing: dawn.node keeps one device per library alive here. Every timed
 * call awaits its own completion before anything else runs, so at any moment only the library
 * being timed has GPU work in flight (a device with nothing pending does not poll). Before
 * each suite the harness measures the process's CPU use while idle and records it: a value far
 * above zero means some device is spinning and the timings are suspect.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Benchmark from 'benchmark';
import type { GpuContext } from '../src/node.js';
import type { Peers, PeerStatus } from './peers.js';

export type PeerName = 'tfjs-webgpu' | 'jax-js';

/** One library's way of running a case: `run` launches the op, `finish` reads back and frees. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export interface Impl<R = any> {
  run: () => R;
  /** Waits for the results (reading back the last one) and releases all of them. */
  finish: (results: R[]) => Promise<void>;
  /** Optional GPU time of one op in ms (null when the library cannot tell). */
  gpuMs?: () => Promise<number | null>;
}

export interface CaseSpec {
  /** Operation, e.g. 'matmul'. */
  name: string;
  /** Human-readable shape, e.g. '[1024, 1024]·[1024, 1024]'. */
  shape: string;
  /** Work per op, for GFLOP/s... */
  flops?: number;
  /** ...or bytes moved per op, for GB/s. */
  bytes?: number;
  ours: Impl;
  peers?: Partial<Record<PeerName, Impl>>;
  /** Timed samples per library (default 7; fewer for very slow cases). */
  samples?: number;
}

export interface Row {
  name: string;
  shape: string;
  /** lrdif per-op ms: GPU time where timestamp queries exist, else wall. */
  ours_ms: number;
  ours_metric: 'gpu' | 'wall';
  ours_wall_ms: number;
  peer: PeerName | null;
  /** Peer per-op wall ms (null with `note` when the peer could not run). */
  peer_ms: number | null;
  peer_gpu_ms: number | null;
  /** GFLOP/s (or GB/s) of lrdif from ours_ms, and of the peer from peer_ms (wall). */
  gflops?: number;
  gbps?: number;
  peer_gflops?: number | null;
  peer_gbps?: number | null;
  /** peer wall / ours wall. */
  ratio: number | null;
  /** Timed calls behind each wall figure. */
  ours_samples: number;
  peer_samples?: number;
  /** Fastest and slowest wall sample of lrdif and of the peer (ms per call). */
  ours_wall_range_ms?: [number, number];
  peer_range_ms?: [number, number];
  adapter: string;
  peer_adapter?: string | null;
  note?: string;
}

export interface Suite {
  name: string;
  description: string;
  run: (h: Harness) => Promise<void>;
}

export interface HarnessOptions {
  /** Fewer samples, for a quick look. */
  quick?: boolean;
  /** Skip the peers. */
  noPeers?: boolean;
  /**
   * The sizes meant for a GPU (`--gpu-sizes`): suites add the cases a CPU adapter would take
   * minutes over (matmul 4096², the LRDif steps at batch 8 and 64).
   */
  gpuSizes?: boolean;
}

interface WallStats {
  medianMs: number;
  /** Fastest and slowest sample (ms per call): how far one run's median can be trusted. */
  rangeMs: [number, number];
  rme: number | null;
  samples: number;
}

const rangeOf = (xs: number[]): [number, number] => [round(Math.min(...xs), 4), round(Math.max(...xs), 4)];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const TARGET_CALL_MS = 25;
const MAX_INNER = 20;
const SLOW_OP_MS = 500;

export class Harness {
  readonly rows: Row[] = [];
  readonly idleCpu: Array<{ suite: string; cpuPercent: number }> = [];
  readonly adapter: string;

  constructor(
    readonly ctx: GpuContext,
    readonly peers: Peers,
    readonly options: HarnessOptions = {},
  ) {
    this.adapter = ctx.adapter.summary;
  }

  get peerStatus(): PeerStatus[] {
    return this.peers.status;
  }

  /** CPU used by this process over 300 ms of idling, in % of one core. */
  async checkIdle(suite: string): Promise<number> {
    await new Promise((r) => setTimeout(r, 50));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 300));
    const c = process.cpuUsage(c0);
    const pct = ((c.user + c.system) / 1000 / (performance.now() - t0)) * 100;
    this.idleCpu.push({ suite, cpuPercent: Math.round(pct * 10) / 10 });
    return pct;
  }

  private async call(impl: Impl, inner: number): Promise<void> {
    const rs: unknown[] = [];
    for (let i = 0; i < inner; i++) rs.push(impl.run());
    await impl.finish(rs);
  }

  /** Warms up, calibrates `inner` and measures the per-op wall time. */
  private async wall(impl: Impl, samples: number): Promise<WallStats> {
    await this.call(impl, 1); // compile
    let t = performance.now();
    await this.call(impl, 1);
    const one = performance.now() - t;
    if (one > SLOW_OP_MS) {
      // plain loop: Benchmark.js would spend several more multi-second calls calibrating;
      // the calibration call counts as the first sample, and ops over 5 s take 2 samples
      const times = [one];
      const n = one > 5000 ? Math.min(samples, 2) : samples;
      for (let i = 1; i < n; i++) {
        t = performance.now();
        await this.call(impl, 1);
        times.push(performance.now() - t);
      }
      return { medianMs: median(times), rangeMs: rangeOf(times), rme: null, samples: times.length };
    }
    const inner = Math.max(1, Math.min(MAX_INNER, Math.round(TARGET_CALL_MS / Math.max(one, 0.01))));
    const bench = new Benchmark('case', {
      defer: true,
      minSamples: samples,
      maxTime: this.options.quick ? 0.3 : 1,
      fn: (deferred: { resolve: () => void }) => {
        this.call(impl, inner).then(
          () => deferred.resolve(),
          (e: unknown) => {
            console.error(e);
            deferred.resolve();
          },
        );
      },
    } as Benchmark.Options);
    await new Promise<void>((resolve, reject) => {
      bench.on('complete', () => resolve());
      bench.on('error', () => reject(bench.error));
      bench.run({ async: true });
    });
    const sample = bench.stats.sample.map((s) => (s * 1000) / inner);
    return { medianMs: median(sample), rangeMs: rangeOf(sample), rme: bench.stats.rme, samples: sample.length };
  }

  /** Median GPU ms per op of lrdif from timestamp queries, or null without them. */
  private async oursGpu(impl: Impl, samples: number): Promise<number | null> {
    if (!this.ctx.canProfile) return null;
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      await this.ctx.sync();
      this.ctx.startProfile();
      const r = impl.run();
      const prof = await this.ctx.stopProfile();
      await impl.finish([r]);
      times.push(prof.reduce((s, p) => s + p.ms, 0));
    }
    return median(times);
  }

  private async peerGpu(impl: Impl, samples: number): Promise<number | null> {
    if (!impl.gpuMs) return null;
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const ms = await impl.gpuMs();
      if (ms === null || !Number.isFinite(ms)) return null;
      times.push(ms);
    }
    return median(times);
  }

  /** Times lrdif and every peer on one case and records a row per peer. */
  async case(spec: CaseSpec): Promise<void> {
    const samples = Math.max(3, this.options.quick ? Math.min(3, spec.samples ?? 7) : (spec.samples ?? 7));
    const oursWall = await this.wall(spec.ours, samples);
    const gpu = await this.oursGpu(spec.ours, samples);
    const oursMs = gpu ?? oursWall.medianMs;
    const rate = (ms: number | null) => {
      if (ms === null || ms <= 0) return null;
      if (spec.flops !== undefined) return round(spec.flops / ms / 1e6, 2);
      if (spec.bytes !== undefined) return round(spec.bytes / ms / 1e6, 2);
      return null;
    };
    const base = {
      name: spec.name,
      shape: spec.shape,
      ours_ms: round(oursMs, 4),
      ours_metric: (gpu === null ? 'wall' : 'gpu') as 'gpu' | 'wall',
      ours_wall_ms: round(oursWall.medianMs, 4),
      ours_wall_range_ms: oursWall.rangeMs,
      ours_samples: oursWall.samples,
      adapter: this.adapter,
      ...(spec.flops !== undefined ? { gflops: rate(oursMs)! } : {}),
      ...(spec.bytes !== undefined ? { gbps: rate(oursMs)! } : {}),
    };
    const peerNames = Object.keys(spec.peers ?? {}) as PeerName[];
    if (this.options.noPeers || peerNames.length === 0) {
      this.rows.push({ ...base, peer: null, peer_ms: null, peer_gpu_ms: null, ratio: null, note: this.options.noPeers ? 'peers skipped (--no-peers)' : undefined });
      return;
    }
    for (const name of peerNames) {
      const impl = spec.peers![name]!;
      const status = this.peers.status.find((s) => s.name === name);
      const rateKey = spec.flops !== undefined ? 'peer_gflops' : 'peer_gbps';
      if (!status || status.error) {
        this.rows.push({
          ...base,
          peer: name,
          peer_ms: null,
          peer_gpu_ms: null,
          [rateKey]: null,
          ratio: null,
          peer_adapter: null,
          note: `${name} unavailable: ${status?.error ?? 'not started'}`,
        });
        continue;
      }
      try {
        const w = await this.wall(impl, samples);
        const pg = await this.peerGpu(impl, samples);
        this.rows.push({
          ...base,
          peer: name,
          peer_ms: round(w.medianMs, 4),
          peer_gpu_ms: pg === null ? null : round(pg, 4),
          [rateKey]: rate(w.medianMs),
          ratio: round(w.medianMs / oursWall.medianMs, 3),
          peer_samples: w.samples,
          peer_range_ms: w.rangeMs,
          peer_adapter: status.adapter,
        });
      } catch (e) {
        this.rows.push({
          ...base,
          peer: name,
          peer_ms: null,
          peer_gpu_ms: null,
          [rateKey]: null,
          ratio: null,
          peer_adapter: status.adapter,
          note: `${name} failed: ${(e as Error).message.split('\n')[0]}`,
        });
      }
    }
  }

  printTable(): void {
    const header = ['name', 'shape', 'ours ms', 'wall ms', 'rate', 'peer', 'peer ms', 'peer rate', 'ratio'];
    const lines = this.rows.map((r) => {
      const unit = r.gflops !== undefined ? 'GF/s' : r.gbps !== undefined ? 'GB/s' : '';
      const ours = r.gflops ?? r.gbps;
      const peerRate = r.peer_gflops ?? r.peer_gbps;
      return [
        r.name,
        r.shape,
        `${fmt(r.ours_ms)} ${r.ours_metric}`,
        fmt(r.ours_wall_ms),
        ours !== undefined ? `${fmt(ours)} ${unit}` : '',
        r.peer ?? '-',
        r.peer_ms === null ? (r.note ? 'n/a' : '-') : fmt(r.peer_ms),
        peerRate === null || peerRate === undefined ? '-' : `${fmt(peerRate)} ${unit}`,
        r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`,
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
    const row = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
    console.log(row(header));
    console.log(widths.map((w) => '-'.repeat(w)).join('  '));
    for (const l of lines) console.log(row(l));
    for (const r of this.rows) if (r.note && r.peer) console.log(`note: ${r.name} ${r.shape} vs ${r.peer}: ${r.note}`);
  }

  /** Writes bench/results/<timestamp>.json and latest.json, each via a temp file and rename. */
  /**
   * Writes the results document: to `out` when given, else to bench/results/<timestamp>.json and
   * bench/results/latest.json; each through a temp file and a rename. Returns the file written.
   */
  writeJson(extra: Record<string, unknown> = {}, out?: string): string {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const doc = {
      date: new Date().toISOString(),
      adapter: this.adapter,
      node: process.version,
      peers: this.peers.status,
      idleCpuPercent: this.idleCpu,
      ...extra,
      rows: this.rows,
    };
    const text = `${JSON.stringify(doc, null, 2)}\n`;
    let targets: string[];
    if (out) targets = [out];
    else {
      const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
      targets = [join(dir, `${stamp}.json`), join(dir, 'latest.json')];
    }
    for (const target of targets) {
      mkdirSync(dirname(target), { recursive: true });
      const tmp = `${target}.${process.pid}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, target);
    }
    return targets[0];
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmt(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toFixed(3);
}
