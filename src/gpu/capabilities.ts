/**
 * What the adapter behind a context can do, in the terms lrdif's kernels choose by. Computed
 * once per context (`ctx.caps`), so two contexts in one process (a GPU and a CPU adapter, or a
 * device made without the subgroups feature) each choose for themselves.
 */
import type { AdapterDescription, DeviceFeatures } from './context.js';

export interface AdapterCaps {
  /** The 'subgroups' feature is enabled on the device. */
  readonly subgroups: boolean;
  /**
   * The 'subgroups' feature is enabled and the adapter's subgroups have at least 8 invocations:
   * the subgroup kernels (matmul_sg*, channel_attention_sg, window_attention_sg, ddpm_sg) can run.
   */
  readonly subgroupsAtLeast8: boolean;
  /** Smallest and largest subgroup size the adapter reports; 0 without the subgroups feature or where it does not say. */
  readonly subgroupMinSize: number;
  readonly subgroupMaxSize: number;
  /** A CPU (software) adapter: lavapipe/llvmpipe, SwiftShader. Barriers are dear and there is no memory coalescing to win. */
  readonly isCpuAdapter: boolean;
  readonly shaderF16: boolean;
  readonly timestampQuery: boolean;
}

/** The subgroup sizes Dawn reports on the device's adapter info (WebGPU's GPUAdapterInfo). */
export interface SubgroupSizes {
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
}

export function isCpuAdapter(a: AdapterDescription): boolean {
  return a.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${a.description} ${a.device}`);
}

export function adapterCaps(adapter: AdapterDescription, features: DeviceFeatures, sizes: SubgroupSizes | undefined): AdapterCaps {
  const min = features.subgroups ? (sizes?.subgroupMinSize ?? 0) : 0;
  const max = features.subgroups ? (sizes?.subgroupMaxSize ?? 0) : 0;
  return Object.freeze({
    subgroups: features.subgroups,
    subgroupsAtLeast8: features.subgroups && min >= 8,
    subgroupMinSize: min,
    subgroupMaxSize: max,
    isCpuAdapter: isCpuAdapter(adapter),
    shaderF16: features.shaderF16,
    timestampQuery: features.timestampQuery,
  });
}

/** One line for errors: why the subgroup kernels cannot run here. */
export function describeSubgroups(caps: AdapterCaps): string {
  if (!caps.subgroups) return "the device has no 'subgroups' feature";
  return `its subgroups have as few as ${caps.subgroupMinSize || 'an unreported number of'} invocations (the subgroup kernels need at least 8)`;
}
