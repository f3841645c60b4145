/**
 * Browser platform adapter: navigator.gpu, and shader sources bundled by the page's build
 * (e.g. Vite's `import.meta.glob('/shaders/*.wgsl', { query: '?raw', eager: true })`).
 */
import { createContext, NO_ADAPTER_HELP, type CreateOptions } from './create.js';
import type { GpuContext } from './context.js';

export async function createBrowserContext(shaders: Record<string, string>, options: CreateOptions = {}): Promise<GpuContext> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!gpu) throw new Error(`${NO_ADAPTER_HELP}\nThis browser exposes no navigator.gpu.`);
  const byName = new Map<string, string>();
  for (const [path, code] of Object.entries(shaders)) {
    const m = /([^/]+)\.wgsl$/.exec(path);
    if (m) byName.set(m[1], code);
  }
  return createContext(
    gpu,
    (name) => {
      const code = byName.get(name);
      if (code === undefined) throw new Error(`shader ${name}.wgsl was not bundled`);
      return code;
    },
    options,
  );
}
