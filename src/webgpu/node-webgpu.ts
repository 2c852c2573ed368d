/**
 * WebGPU in Node: the `webgpu` npm package (Dawn's Node binding, an optional peer) provides
 * `navigator.gpu`; tfjs's webgpu backend (`@tensorflow/tfjs-backend-webgpu`, a dependency) then
 * runs on the machine's GPU. Used by `selectBackend({ backend: 'webgpu' })`.
 */

import { describeAdapter, type GpuLike, navigatorGpu } from './adapter.js';

/** The two packages the Node webgpu path needs. */
export const NODE_WEBGPU_PACKAGES = ['webgpu', '@tensorflow/tfjs-backend-webgpu'] as const;

/** The `webgpu` package's entry, as much of it as mrn uses. */
interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

/**
 * Installs Dawn's `navigator.gpu` (unless the runtime already has one) and asks it for an adapter.
 * Callers check that the packages are installed first.
 *
 * @returns the adapter's description.
 * @throws Error `no GPU adapter` when Dawn finds no GPU (e.g. a machine without one or without Vulkan).
 */
export async function installNodeWebgpu(): Promise<string> {
  let gpu = navigatorGpu();
  if (!gpu) {
    const dawn = (await import('webgpu')) as unknown as DawnModule;
    // GPUBufferUsage and friends are globals in a browser; tfjs's webgpu backend reads them so.
    for (const [name, value] of Object.entries(dawn.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
    gpu = dawn.create([]);
    const g = globalThis as { navigator?: { gpu?: GpuLike } };
    if (g.navigator === undefined) {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    } else {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
    }
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new Error(
      'no GPU adapter: the webgpu package (Dawn) found no GPU it can use (it needs Vulkan, Metal or D3D12 with a GPU)',
    );
  }
  return describeAdapter(adapter);
}
