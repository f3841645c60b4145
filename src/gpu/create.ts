/**
 * Creates a GpuContext from any `GPU` object (navigator.gpu in a page, dawn.node in Node):
 * requests the adapter's own limits (the defaults are far lower), enables the optional
 * features lrdif can use and records which are there so kernels can fall back.
 */
import { GpuContext, type AdapterDescription, type ContextOptions, type DeviceFeatures, type ShaderSource } from './context.js';

export interface CreateOptions extends ContextOptions {
  powerPreference?: GPUPowerPreference;
  /** Ask for these features only if present; default all lrdif can use. */
  features?: Array<'shader-f16' | 'subgroups' | 'timestamp-query'>;
}

export const NO_ADAPTER_HELP = [
  'lrdif: no WebGPU adapter was found.',
  'In Node, lrdif uses Dawn (npm "webgpu") on Vulkan. Install a GPU driver with Vulkan support, or the software one:',
  '  Debian 12: add bookworm-backports to apt sources, then `apt-get install -t bookworm-backports mesa-vulkan-drivers`',
  "  (bookworm's own Mesa 22.3 lavapipe is too old for Dawn) — `.ci/install-system.sh` does both.",
  "Set LRDIF_BACKEND=vulkan|opengles|... to choose Dawn's backend. In a browser, use one with WebGPU enabled.",
].join('\n');

export function describeAdapter(info: GPUAdapterInfo | undefined): AdapterDescription {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const summary = [description || device || architecture || 'unknown adapter', vendor && `(${vendor})`].filter(Boolean).join(' ');
  return { vendor, architecture, device, description, summary };
}

export async function createContext(gpu: GPU, shaderSource: ShaderSource, options: CreateOptions = {}, keepAlive: unknown = null): Promise<GpuContext> {
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) throw new Error(NO_ADAPTER_HELP);
  const wanted = options.features ?? ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  const L = adapter.limits as unknown as Record<string, number>;
  for (const name of [
    'maxBufferSize',
    'maxStorageBufferBindingSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ',
    'maxComputeWorkgroupsPerDimension',
    'maxStorageBuffersPerShaderStage',
  ]) {
    if (typeof L[name] === 'number') requiredLimits[name] = L[name];
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'lrdif' });
  const features: DeviceFeatures = {
    shaderF16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups'),
    timestampQuery: device.features.has('timestamp-query'),
  };
  return new GpuContext(device, describeAdapter(adapter.info), features, shaderSource, options, keepAlive);
}
