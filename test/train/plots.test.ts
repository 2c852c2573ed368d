import { unzlibSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { caseExplanationSvg } from '../../src/plots/case-explanation.js';
import { crc32, encodePngRgb } from '../../src/plots/png.js';
import { rocSvg } from '../../src/plots/roc-plot.js';
import { escapeXml, niceTicks } from '../../src/plots/svg.js';
import { trainingCurvesSvg } from '../../src/plots/training-curves.js';
import { rocCurve } from '../../src/train/metrics.js';

/** Checks that every tag is closed in order (enough to catch broken SVG text). */
function expectWellFormed(svg: string): void {
  expect(svg.startsWith('<?xml')).toBe(true);
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, close, name, self] = m;
    if (self) continue;
    if (close) expect(stack.pop()).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(svg).not.toMatch(/NaN|undefined/);
}

/** Decodes our own PNG output (filter 0 only), checking signature, chunk CRCs and the image header. */
function decodePng(png: Uint8Array): { width: number; height: number; rgb: Uint8Array } {
  expect(Array.from(png.subarray(0, 8))).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let off = 8;
  let width = 0;
  let height = 0;
  const idat: Uint8Array[] = [];
  while (off < png.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...png.subarray(off + 4, off + 8));
    const data = png.subarray(off + 8, off + 8 + len);
    expect(view.getUint32(off + 8 + len)).toBe(crc32(png.subarray(off + 4, off + 8 + len)));
    if (type === 'IHDR') {
      width = new DataView(data.buffer, data.byteOffset).getUint32(0);
      height = new DataView(data.buffer, data.byteOffset).getUint32(4);
      expect(data[8]).toBe(8);
      expect(data[9]).toBe(2);
    }
    if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = unzlibSync(Buffer.concat(idat));
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (1 + width * 3)]).toBe(0);
    rgb.set(raw.subarray(y * (1 + width * 3) + 1, (y + 1) * (1 + width * 3)), y * width * 3);
  }
  return { width, height, rgb };
}

describe('plot helpers', () => {
  it('CRC-32 matches the standard check value and PNGs round-trip', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    const rgb = new Uint8Array(5 * 3 * 3).map((_, i) => (i * 37) % 256);
    const png = encodePngRgb(rgb, 5, 3);
    const back = decodePng(png);
    expect(back.width).toBe(5);
    expect(back.height).toBe(3);
    expect(Array.from(back.rgb)).toEqual(Array.from(rgb));
    expect(() => encodePngRgb(rgb, 4, 3)).toThrow(/do not make a 4x3/);
  });

  it('escape text and pick round ticks', () => {
    expect(escapeXml('a<b & "c"')).toBe('a&lt;b &amp; &quot;c&quot;');
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.37, 2.9, 5)).toEqual([0.5, 1, 1.5, 2, 2.5]);
    expect(niceTicks(3, 3)).toEqual([3]);
  });
});

describe('figures', () => {
  it('training curves: one colour per fold, losses and validation metrics', () => {
    const records = [0, 1].flatMap((fold) =>
      [1, 2, 3].map((epoch) => ({
        epoch,
        fold,
        trainLoss: 2 / epoch + fold * 0.1,
        val: { loss: 2.2 / epoch, accuracy: 0.5 + 0.1 * epoch, auc: 0.55 + 0.1 * epoch },
      })),
    );
    const svg = trainingCurvesSvg(records);
    expectWellFormed(svg);
    expect(svg).toContain('fold 2 val accuracy');
    expect((svg.match(/<path /g) ?? []).length).toBe(8); // 2 folds x (train, val loss, acc, auc)
    expect(() => trainingCurvesSvg([])).toThrow(/no epoch records/);
    const noVal = trainingCurvesSvg([
      { epoch: 1, trainLoss: 1 },
      { epoch: 2, trainLoss: 0.5 },
    ]);
    expectWellFormed(noVal);
    expect(noVal).toContain('width="560"'); // one panel: plot plus legend column
  });

  it('ROC: AUC in the legend and the chance diagonal', () => {
    const labels = [0, 0, 1, 1, 0, 1];
    const scores = [0.1, 0.4, 0.35, 0.8, 0.2, 0.9];
    const svg = rocSvg([{ name: 'MRN & co', points: rocCurve(labels, scores) }]);
    expectWellFormed(svg);
    expect(svg).toContain('MRN &amp; co (AUC 0.889)');
    expect(svg).toContain('stroke-dasharray="3,3"');
    expect(() => rocSvg([])).toThrow(/no curves/);
  });

  it('case explanation: one embedded PNG per slice, attention bars, padding marked', () => {
    const d = 3;
    const s = 8;
    const slices = new Float32Array(d * s * s).map((_, i) => Math.sin(i));
    const predicted = new Int32Array(d * s * s).map((_, i) => (i % s > 4 ? 1 : 0));
    const truth = new Int32Array(d * s * s).map((_, i) => (i % s > 3 ? 1 : 0));
    const svg = caseExplanationSvg({
      caseId: 'RJPD_001',
      probPd: 0.8123,
      label: 1,
      rois: [
        {
          roiId: 'qsm-mb',
          slices,
          depth: d,
          size: s,
          valid: [1, 1, 0],
          sliceAttention: [0.25, 0.75, 0],
          predicted,
          truth,
          classNames: ['SN'],
        },
      ],
      roiAttention: { 'qsm-mb': 1 },
    });
    expectWellFormed(svg);
    expect((svg.match(/data:image\/png;base64,/g) ?? []).length).toBe(3);
    expect(svg).toContain('RJPD_001: P(PD) = 0.812 → PD, true label PD');
    expect(svg).toContain('>0.75<');
    expect(svg).toContain('>pad<');
    // The overlay changes pixels where the aux head predicts the nucleus.
    const first = svg.match(/data:image\/png;base64,([^"]+)/)![1]!;
    const img = decodePng(new Uint8Array(Buffer.from(first, 'base64')));
    const px = (x: number, y: number) => Array.from(img.rgb.subarray((y * s + x) * 3, (y * s + x) * 3 + 3));
    const [r, g, b] = px(6, 2);
    expect(r === g && g === b).toBe(false); // coloured overlay
    expect(px(4, 2)).toEqual([255, 255, 255]); // truth outline (class boundary at x=4)
    expect(() =>
      caseExplanationSvg({
        caseId: 'x',
        probPd: 0.5,
        rois: [{ roiId: 'r', slices, depth: 2, size: s, valid: [1, 1], sliceAttention: [1, 0] }],
      }),
    ).toThrow(/do not match depth 2/);
  });
});
