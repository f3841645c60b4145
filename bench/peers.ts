/**
 * Peer libraries for comparison, run in this process on the same WebGPU adapter as lrdif:
 * `@tensorflow/tfjs-backend-webgpu` (with `@tensorflow/tfjs-core`) and `@jax-js/jax`.
 *
 * Both look for `navigator.gpu`, which Node does not have: the harness creates one dawn.node
 * `GPU` object, uses it for lrdif's own device and installs it as `globalThis.navigator.gpu`
 * for the peers (each then requests its own adapter and device from it; on a machine whose
 * only adapter is lavapipe all three land on it, and each row records what every library
 * reported). jax-js also reads `navigator.userAgent`.
 *
 * A peer that cannot start is kept with the reason, so its rows say why they have no figures.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as Jax from '@jax-js/jax';

export interface PeerStatus {
  name: string;
  /** Adapter as the peer reports it (for checking that everyone is on the same one). */
  adapter: string | null;
  /** Why the peer is unavailable, or null. */
  error: string | null;
}

export interface Peers {
  tf: typeof TfCore | null;
  jax: typeof Jax | null;
  status: PeerStatus[];
}

function describeInfo(info: unknown): string | null {
  if (!info || typeof info !== 'object') return null;
  const i = info as Record<string, unknown>;
  const parts = [i.description, i.device, i.vendor, i.architecture].filter((p) => typeof p === 'string' && p) as string[];
  return parts.length ? parts.join(' / ') : null;
}

/** Installs `gpu` as navigator.gpu (Node has no navigator before v21). */
export function installNavigator(gpu: GPU): void {
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (g.navigator && typeof g.navigator === 'object') {
    try {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
      if (!g.navigator.userAgent) Object.defineProperty(g.navigator, 'userAgent', { value: `Node.js ${process.version}`, configurable: true });
      return;
    } catch {
      // read-only navigator: replace it below
    }
  }
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: `Node.js ${process.version}` }, configurable: true, writable: true });
}

async function startTf(): Promise<{ tf: typeof TfCore; status: PeerStatus }> {
  const tf = await import('@tensorflow/tfjs-core');
  // registers the 'webgpu' backend when navigator.gpu exists
  await import('@tensorflow/tfjs-backend-webgpu');
  const ok = await tf.setBackend('webgpu');
  if (!ok || tf.getBackend() !== 'webgpu') throw new Error(`tf.setBackend('webgpu') failed (backend is ${tf.getBackend()})`);
  await tf.ready();
  const backend = tf.backend() as unknown as { adapterInfo?: unknown; device?: GPUDevice };
  const info = backend.device?.adapterInfo ?? backend.adapterInfo;
  return { tf, status: { name: 'tfjs-webgpu', adapter: describeInfo(info), error: null } };
}

async function startJax(): Promise<{ jax: typeof Jax; status: PeerStatus }> {
  const jax = await import('@jax-js/jax');
  const devices = await jax.init('webgpu');
  if (!devices.includes('webgpu')) throw new Error(`jax-js found no WebGPU device (devices: ${devices.join(', ')})`);
  jax.defaultDevice('webgpu');
  const device = jax.getWebGPUDevice() as GPUDevice | undefined;
  return { jax, status: { name: 'jax-js', adapter: describeInfo(device?.adapterInfo), error: null } };
}

/** Starts every peer library it can; never throws. */
export async function startPeers(gpu: GPU, wanted: { tf: boolean; jax: boolean }): Promise<Peers> {
  installNavigator(gpu);
  const peers: Peers = { tf: null, jax: null, status: [] };
  if (wanted.tf) {
    try {
      const r = await startTf();
      peers.tf = r.tf;
      peers.status.push(r.status);
    } catch (e) {
      peers.status.push({ name: 'tfjs-webgpu', adapter: null, error: (e as Error).message });
    }
  }
  if (wanted.jax) {
    try {
      const r = await startJax();
      peers.jax = r.jax;
      peers.status.push(r.status);
    } catch (e) {
      peers.status.push({ name: 'jax-js', adapter: null, error: (e as Error).message });
    }
  }
  return peers;
}
