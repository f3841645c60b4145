/** The adapter behind a context, as the self-test (and `lrdif info`) report it: description, features, limits. */
import type { GpuContext } from '../gpu/context.js';
import type { AdapterCaps } from '../gpu/capabilities.js';
import type { ReadonlyKernelTuning } from '../gpu/tuning.js';

export interface AdapterReport {
  adapter: GpuContext['adapter'];
  /** Optional WebGPU features the device was created with. */
  features: string[];
  /** What lrdif kernels can use. */
  lrdifFeatures: GpuContext['features'];
  /** What the kernels choose by (subgroup sizes, CPU adapter…). */
  caps: AdapterCaps;
  /** The kernel variants this adapter gets by default. */
  tuning: ReadonlyKernelTuning;
  limits: Record<string, number>;
}

/** The device's limits by name (GPUSupportedLimits exposes them as prototype getters). */
export function deviceLimits(ctx: GpuContext): Record<string, number> {
  const limits: Record<string, number> = {};
  const proto = Object.getPrototypeOf(ctx.limits) as object;
  for (const name of Object.getOwnPropertyNames(proto).sort()) {
    const v = (ctx.limits as unknown as Record<string, unknown>)[name];
    if (typeof v === 'number') limits[name] = v;
  }
  return limits;
}

export function adapterReport(ctx: GpuContext): AdapterReport {
  return {
    adapter: ctx.adapter,
    features: [...ctx.device.features].map(String).sort(),
    lrdifFeatures: ctx.features,
    caps: ctx.caps,
    tuning: ctx.tuning,
    limits: deviceLimits(ctx),
  };
}
