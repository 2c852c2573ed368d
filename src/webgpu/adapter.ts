/**
 * Finding a WebGPU adapter, the check both `selectBackend`s (browser and Node) make before loading
 * tfjs's webgpu backend, so "no GPU" is reported as such rather than as a tfjs start-up failure.
 */

/** The slice of the WebGPU API mrn touches (the DOM's types are not in this Node project's lib). */
export interface GpuLike {
  requestAdapter(options?: {
    powerPreference?: 'high-performance' | 'low-power';
  }): Promise<GpuAdapterLike | null>;
}

/** A WebGPU adapter, as much of it as the reports use. */
export interface GpuAdapterLike {
  /** Vendor and architecture, where the runtime tells. */
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
}

/** `navigator.gpu` when the runtime has it. */
export function navigatorGpu(): GpuLike | undefined {
  return (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu;
}

/** A readable name of an adapter, e.g. `google swiftshader`. */
export function describeAdapter(adapter: GpuAdapterLike): string {
  const i = adapter.info ?? {};
  return [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(' ') || 'unnamed adapter';
}
