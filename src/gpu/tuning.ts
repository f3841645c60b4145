/**
 * The kernel variants a context runs (`ctx.tuning`): which path of each op family (subgroup or
 * portable kernels), tile and chunk sizes, chosen per adapter from its capabilities. Tests,
 * benchmarks and a self-test force any variant with `ctx.setTuning(patch)` (returns a function
 * that restores the previous settings) or `ctx.withTuning(patch, fn)`; a variant the adapter
 * cannot run is refused there, with the reason.
 *
 * Settings that are `null` are chosen per call from the problem's shape (tile rows, splits...);
 * a number forces them.
 */
import { describeSubgroups, type AdapterCaps } from './capabilities.js';

/** 'subgroup': the kernels built on subgroup operations (need subgroups of ≥ 8 invocations); 'portable': any adapter. */
export type KernelPath = 'subgroup' | 'portable';

export interface KernelTuning {
  matmul: {
    /** shaders/matmul_sg*.wgsl or shaders/matmul.wgsl. Default: subgroup wherever it can run. */
    path: KernelPath;
    /** Subgroup kernel's tile rows (8: matmul_sg8, 16: matmul_sg16, 32: matmul_sg); null: the smallest tile that holds M (32 above 16 rows). */
    tileRows: 8 | 16 | 32 | null;
  };
  conv: {
    /**
     * Convolutions with one group (not 1×1): 'gemm' lays the input out as columns
     * (shaders/im2col.wgsl) and runs the matrix-product kernels; 'direct' runs shaders/conv2d.wgsl;
     * null: gemm where the weight's rows (C·kh·kw) are a multiple of 4 (the product's vec4 path).
     */
    path: 'gemm' | 'direct' | null;
    /** gemm: most bytes of one chunk's column matrix (images are processed in chunks below it). */
    colBytes: number;
    /** Depthwise 3×3 (stride 1, padding 1, one input channel per group) on strips of four columns (depthwise.wgsl's forward_strips) rather than tiles. Default on. */
    depthwiseStrips: boolean;
  };
  channelAttention: {
    /** shaders/channel_attention_sg.wgsl or channel_attention.wgsl. Default: subgroup wherever it can run. */
    path: KernelPath;
    /** Portable kernels: invocations per gram/mix workgroup. Default 8 on CPU adapters, else 64. */
    lanes: number;
    /** vec4 loads and stores where N % 4 == 0. Default on GPUs; on CPU adapters a vec4 load costs four scalar ones. */
    vec: boolean;
    /** Column chunks of the c×c products (clamped to what N allows); null: enough workgroups for the adapter. */
    splits: number | null;
    /** Subgroup mix kernel: groups of 4 columns per lane (1…6); null: 1. */
    mixColumns: number | null;
    /** Subgroup kernels: 8-row groups per workgroup (1…6) of mix and of gram, and gram's b rows per lane; null: the least padding of c. */
    mixRowGroups: number | null;
    gramRowGroups: number | null;
    gramColumns: number | null;
  };
  windowAttention: {
    /** shaders/window_attention_sg.wgsl (built for CPU adapters) or window_attention.wgsl. Default: subgroup on CPU adapters that can run it. */
    path: KernelPath;
    /** Portable kernels: invocations per workgroup. Default 8 on CPU adapters, else 64. */
    lanes: number;
    /** Portable kernels: query (or key) rows per invocation, 1…4. */
    rows: number;
    /** Splits of the windows (or window groups) in the bias-gradient sums; null: by adapter. */
    splits: number | null;
    /** Most bytes of the backward's ds buffer (windows are processed in chunks below it). */
    chunkBytes: number;
    /** Subgroup kernels: windows per workgroup (they share the gathered bias); null: enough workgroups for the CPU's threads. */
    windowsPerGroup: number | null;
  };
  ddpm: {
    /** The fused chain: shaders/ddpm_sg.wgsl or ddpm.wgsl's chain_wg. Default: subgroup on CPU adapters that can run it. */
    path: KernelPath;
    /** Subgroup chain: batch rows per workgroup; null: as many as fit while the batch fills two workgroups. */
    rows: 8 | 16 | 32 | null;
  };
  permute: {
    /** The tiled transpose (workgroup memory) where it applies. Default on GPUs; the strided kernel is faster on CPU adapters. */
    tiled: boolean;
  };
  layout: {
    /**
     * Copies of one contiguous block (a narrow or a concat along the first axis that is not 1)
     * and zero padding around one as buffer commands (copyBufferToBuffer, clearBuffer) instead of
     * compute dispatches. Default on.
     */
    copyCommands: boolean;
  };
  fft: {
    /** Lines of at most this many points run all their passes in one workgroup (≤ 1024). Default 1024 on GPUs, 1 (every pass its own dispatch) on CPU adapters. */
    localMax: number;
  };
  layerNorm: {
    /** Pixels per chunk of the channels-form dweight/dbias partial sums. Default 128·256 on CPU adapters, 8·256 on GPUs. */
    pixelsPerChunk: number;
    /** vec4 accesses: the channels form takes four pixels per thread where H·W is a multiple of 4, the last-axis form (one thread per row) four features per access where D is. Default on. */
    quads: boolean;
  };
  rowKernels: {
    /** Elements per thread of the row-cooperative kernels (softmax, layer norm, reductions). Default 256 on CPU adapters, 8 on GPUs. */
    perThread: number;
  };
  gdfn: {
    /** Rows per invocation's chunk; null: split rows only when the images give too few invocations. */
    rowsPerChunk: number | null;
    /** Backward: (image, chunk, strip) units per invocation; null: by adapter. */
    unitsPerInvocation: number | null;
    /** Rows read and written a vec4 at a time where W % 4 == 0. Default on. */
    quads: boolean;
  };
  udc: {
    /** Bytes of complex frames per FFT batch of the UDC degradation; larger batches are split. */
    fftBatchBytes: number;
  };
}

export type KernelFamily = keyof KernelTuning;

/** What `ctx.tuning` gives: the settings in force, read-only (change them with `ctx.setTuning`). */
export type ReadonlyKernelTuning = { readonly [F in KernelFamily]: Readonly<KernelTuning[F]> };

/** Some settings of some families, for `ctx.setTuning`. */
export type TuningPatch = { [F in KernelFamily]?: Partial<KernelTuning[F]> };

/** The variants chosen for an adapter. */
export function defaultTuning(caps: AdapterCaps): KernelTuning {
  const cpu = caps.isCpuAdapter;
  const sg = caps.subgroupsAtLeast8;
  return {
    matmul: { path: sg ? 'subgroup' : 'portable', tileRows: null },
    conv: { path: null, colBytes: 64 * 2 ** 20, depthwiseStrips: true },
    channelAttention: {
      path: sg ? 'subgroup' : 'portable',
      lanes: cpu ? 8 : 64,
      vec: !cpu,
      splits: null,
      mixColumns: null,
      mixRowGroups: null,
      gramRowGroups: null,
      gramColumns: null,
    },
    // the subgroup kernels are built for CPU adapters (per-lane loads, broadcasts in registers);
    // GPUs get the portable ones
    windowAttention: { path: sg && cpu ? 'subgroup' : 'portable', lanes: cpu ? 8 : 64, rows: 1, splits: null, chunkBytes: 64 * 2 ** 20, windowsPerGroup: null },
    ddpm: { path: sg && cpu ? 'subgroup' : 'portable', rows: null },
    permute: { tiled: !cpu },
    layout: { copyCommands: true },
    // lavapipe: 96×256×256 rows 1.47 s in workgroups, 1.14 s per pass
    fft: { localMax: cpu ? 1 : 1024 },
    // lavapipe, forward of [16, 8, 56, 56]: 1.38 ms one pixel per thread, 0.76 ms four
    layerNorm: { pixelsPerChunk: cpu ? 128 * 256 : 8 * 256, quads: true },
    // a 25088×49 softmax on lavapipe: ~25 ms with 1 thread per row, ~430 ms with 64
    rowKernels: { perThread: cpu ? 256 : 8 },
    gdfn: { rowsPerChunk: null, unitsPerInvocation: null, quads: true },
    udc: { fftBatchBytes: 96 * 2 ** 20 },
  };
}

type Check = (v: unknown) => string | null;

const positiveInt: Check = (v) => (Number.isInteger(v) && (v as number) >= 1 ? null : 'a positive integer');
const orNull =
  (c: Check, what: string): Check =>
  (v) =>
    v === null || c(v) === null ? null : `${what} or null`;
const oneOf =
  (...vs: unknown[]): Check =>
  (v) =>
    vs.includes(v) ? null : `one of ${vs.map((x) => JSON.stringify(x)).join(', ')}`;
const intIn =
  (lo: number, hi: number): Check =>
  (v) =>
    Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi ? null : `an integer in ${lo}…${hi}`;
const bool: Check = (v) => (typeof v === 'boolean' ? null : 'true or false');
const path: Check = oneOf('subgroup', 'portable');

/** What each setting accepts (beyond this, `path: 'subgroup'` needs the adapter's subgroups). */
const CHECKS: { [F in KernelFamily]: { [K in keyof KernelTuning[F]]-?: Check } } = {
  matmul: { path, tileRows: oneOf(8, 16, 32, null) },
  conv: { path: oneOf('gemm', 'direct', null), colBytes: positiveInt, depthwiseStrips: bool },
  channelAttention: {
    path,
    lanes: intIn(1, 256),
    vec: bool,
    splits: orNull(positiveInt, 'a positive integer'),
    mixColumns: orNull(intIn(1, 6), 'an integer in 1…6'),
    mixRowGroups: orNull(intIn(1, 6), 'an integer in 1…6'),
    gramRowGroups: orNull(intIn(1, 6), 'an integer in 1…6'),
    gramColumns: orNull(intIn(1, 6), 'an integer in 1…6'),
  },
  windowAttention: {
    path,
    lanes: intIn(1, 256),
    rows: intIn(1, 4),
    splits: orNull(positiveInt, 'a positive integer'),
    chunkBytes: positiveInt,
    windowsPerGroup: orNull(positiveInt, 'a positive integer'),
  },
  ddpm: { path, rows: oneOf(8, 16, 32, null) },
  permute: { tiled: bool },
  layout: { copyCommands: bool },
  fft: { localMax: intIn(1, 1024) },
  layerNorm: { pixelsPerChunk: positiveInt, quads: bool },
  rowKernels: { perThread: positiveInt },
  gdfn: {
    rowsPerChunk: orNull(positiveInt, 'a positive integer'),
    unitsPerInvocation: orNull(positiveInt, 'a positive integer'),
    quads: bool,
  },
  udc: { fftBatchBytes: positiveInt },
};

/**
 * `base` with `patch` applied, deeply frozen; throws, naming the setting, for an unknown
 * family or setting, a value out of range, or a subgroup path the adapter cannot run.
 */
export function applyTuning(base: ReadonlyKernelTuning, patch: TuningPatch, caps: AdapterCaps, adapter: string): ReadonlyKernelTuning {
  if (typeof patch !== 'object' || patch === null) throw new Error(`lrdif: setTuning: expected an object of kernel families, got ${JSON.stringify(patch)}`);
  const next = { ...base } as Record<string, Record<string, unknown>>;
  for (const [family, settings] of Object.entries(patch)) {
    const checks = (CHECKS as Record<string, Record<string, Check>>)[family];
    if (!checks) throw new Error(`lrdif: setTuning: unknown kernel family '${family}' (known: ${Object.keys(CHECKS).join(', ')})`);
    if (settings === undefined) continue;
    if (typeof settings !== 'object' || settings === null) throw new Error(`lrdif: setTuning: ${family} must be an object of settings, got ${JSON.stringify(settings)}`);
    const merged = { ...next[family] };
    for (const [key, value] of Object.entries(settings)) {
      const check = checks[key];
      if (!check) throw new Error(`lrdif: setTuning: unknown setting '${family}.${key}' (known: ${Object.keys(checks).join(', ')})`);
      if (value === undefined) continue;
      const want = check(value);
      if (want) throw new Error(`lrdif: setTuning: ${family}.${key} must be ${want}, got ${JSON.stringify(value)}`);
      if (key === 'path' && value === 'subgroup' && !caps.subgroupsAtLeast8) {
        throw new Error(`lrdif: setTuning: ${family}.path 'subgroup' cannot run on this adapter (${adapter}): ${describeSubgroups(caps)}`);
      }
      merged[key] = value;
    }
    next[family] = Object.freeze(merged);
  }
  return Object.freeze(next) as unknown as ReadonlyKernelTuning;
}

export function freezeTuning(t: KernelTuning): ReadonlyKernelTuning {
  for (const v of Object.values(t)) Object.freeze(v);
  return Object.freeze(t);
}
