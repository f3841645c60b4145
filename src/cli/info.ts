/** `lrdif info`: the WebGPU adapter lrdif gets here, its features and limits. */
import { createNodeContext } from '../gpu/node.js';
import type { GpuContext } from '../gpu/context.js';
import { deviceLimits } from '../selftest/adapter.js';

export interface AdapterInfoReport {
  adapter: GpuContext['adapter'];
  /** Optional WebGPU features the device was created with. */
  features: string[];
  /** Optional features lrdif uses here: the device has them and lrdif code relies on them. */
  lrdifFeatures: GpuContext['features'];
  limits: Record<string, number>;
  backend: string | null;
}

/**
 * What lrdif does with each optional feature: subgroups (the `*_sg` kernels: matmul, window and
 * channel attention, DDPM) and timestamp-query (profiling). shader-f16 is requested when the
 * adapter has it, but no kernel computes in f16 yet, so it is never "used".
 */
export function featuresInUse(device: GpuContext['features']): GpuContext['features'] {
  return { shaderF16: false, subgroups: device.subgroups, timestampQuery: device.timestampQuery };
}

export function describeContext(ctx: GpuContext): AdapterInfoReport {
  return {
    adapter: ctx.adapter,
    features: [...ctx.device.features].map(String).sort(),
    lrdifFeatures: featuresInUse(ctx.features),
    limits: deviceLimits(ctx),
    backend: process.env.LRDIF_BACKEND ?? null,
  };
}

export function formatReport(r: AdapterInfoReport): string {
  const lines = [
    `adapter      ${r.adapter.summary}`,
    `vendor       ${r.adapter.vendor || '-'}`,
    `architecture ${r.adapter.architecture || '-'}`,
    `device       ${r.adapter.device || '-'}`,
    `backend      ${r.backend ?? 'default'}`,
    `features     ${r.features.join(', ') || 'none'}`,
    `lrdif uses   subgroups: ${yes(r.lrdifFeatures.subgroups)}, timestamp-query: ${yes(r.lrdifFeatures.timestampQuery)}, ` +
      `shader-f16: no (${r.features.includes('shader-f16') ? 'the device has it; ' : ''}no lrdif kernel computes in f16 yet)`,
    'limits',
  ];
  const width = Math.max(...Object.keys(r.limits).map((k) => k.length));
  for (const [k, v] of Object.entries(r.limits)) lines.push(`  ${k.padEnd(width)}  ${v}`);
  return lines.join('\n');
}

function yes(b: boolean): string {
  return b ? 'yes' : 'no';
}

export async function runInfo(options: { json?: boolean }): Promise<void> {
  const ctx = await createNodeContext();
  try {
    const report = describeContext(ctx);
    process.stdout.write((options.json ? JSON.stringify(report, null, 2) : formatReport(report)) + '\n');
  } finally {
    ctx.dispose();
  }
}
