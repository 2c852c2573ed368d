/**
 * tfjs hands a model's weights over as one buffer or several (`ModelArtifacts.weightData`); files and
 * checksums want one. Pure, so the Node IO handler and its browser stand-in share it.
 */

/** Concatenates tfjs weight data (one buffer or several) into one ArrayBuffer. */
export function concatWeightData(data: ArrayBuffer | ArrayBuffer[] | undefined): ArrayBuffer {
  if (data === undefined) return new ArrayBuffer(0);
  if (!Array.isArray(data)) return data;
  const total = data.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of data) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out.buffer;
}
