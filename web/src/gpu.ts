/**
 * The page's WebGPU device: shaders bundled by Vite (every shaders/*.wgsl as text) and
 * navigator.gpu, with the reasons a browser may have no WebGPU put plainly.
 */
import { initBrowser, type GpuContext } from '../../src/index.js';

const SHADERS = import.meta.glob('../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<string, string>;

export class NoWebGpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoWebGpuError';
  }
}

let device: Promise<GpuContext> | null = null;

/** The page's one device (created on first use). */
export function pageDevice(): Promise<GpuContext> {
  if (!device) {
    device = create();
    device.catch(() => {
      device = null;
    });
  }
  return device;
}

async function create(): Promise<GpuContext> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    const secure = globalThis.isSecureContext;
    throw new NoWebGpuError(
      secure
        ? 'This browser has no WebGPU (navigator.gpu is missing). Use a browser with WebGPU enabled: Chrome or Edge 113+, Firefox 141+ on Windows, Safari 26+; on Linux Chrome may need chrome://flags/#enable-unsafe-webgpu.'
        : 'WebGPU needs a secure page: open it over https:// or from http://localhost (or 127.0.0.1), not from another address over plain http.',
    );
  }
  const adapter = await gpu.requestAdapter();
  if (!adapter)
    throw new NoWebGpuError(
      'This browser has WebGPU but offered no adapter (the GPU may be blocklisted or WebGPU disabled); try another browser or enable WebGPU in its settings.',
    );
  return initBrowser(SHADERS);
}

export function shaderCount(): number {
  return Object.keys(SHADERS).length;
}
