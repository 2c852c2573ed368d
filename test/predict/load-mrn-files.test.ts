/**
 * loadMrnFromFiles (a run from its files, as a browser gets them) against loadMrn (the run folder on
 * disk): the same members and backbone give the same P(PD), attention and aux segmentation from the
 * case's volumes in memory; a damaged member file or a foreign backbone is refused; nothing leaks.
 */
import * as tf from '@tensorflow/tfjs';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeNifti,
  loadMrn,
  loadMrnFromFiles,
  PDCAD_FILE_ROLES,
  selectBackend,
  type CaseVolumes,
} from '../../src/index.js';
import { trainTinyRun, type TinyRun } from '../helpers/tiny-run.js';

let root: string;
let tiny: TinyRun;

beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-load-files-'));
  tiny = await trainTinyRun(root, 2);
}, 300_000);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** Every file under `dir`, by path relative to it (what a dropped folder gives), read into memory. */
function filesOf(dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.set(`run/${path.relative(dir, full).split(path.sep).join('/')}`, fs.readFileSync(full));
    }
  };
  walk(dir);
  return out;
}

function caseVolumes(dir: string): CaseVolumes {
  const v = {} as CaseVolumes;
  for (const role of PDCAD_FILE_ROLES)
    v[role] = decodeNifti(fs.readFileSync(path.join(dir, `${role}.nii.gz`)));
  return v;
}

describe('loadMrnFromFiles', () => {
  it('predicts from volumes in memory exactly as loadMrn does from the case folder', async () => {
    const node = await loadMrn(tiny.run);
    const before = tf.memory().numTensors;
    const steps: string[] = [];
    const files = await loadMrnFromFiles(filesOf(tiny.run), { onProgress: (s) => steps.push(s) });
    try {
      expect(files.members).toBe(2);
      expect(steps).toEqual(['model.json', 'backbone', 'member 1/2', 'member 2/2']);
      expect(files.roiIds).toEqual(node.roiIds);
      expect(files.backbone).toEqual(node.backbone);
      for (const id of ['RJPD_001', 'RJPD_004']) {
        const dir = path.join(tiny.data, id);
        const want = await node.predictCase(dir, { explain: true });
        const got = await files.predictVolumes({ id, volumes: caseVolumes(dir) }, { explain: true });
        expect(got.caseId).toBe(id);
        expect(Math.abs(got.probPd - want.probPd)).toBeLessThan(1e-6);
        expect(got.memberProbs).toHaveLength(2);
        for (const r of node.roiIds) {
          const a = got.sliceAttention[r]!;
          a.forEach((x, d) => expect(Math.abs(x - want.sliceAttention[r]![d]!)).toBeLessThan(1e-6));
        }
        expect(got.details!.map((d) => d.predicted)).toEqual(want.details!.map((d) => d.predicted));
        expect(got.details!.map((d) => d.slices)).toEqual(want.details!.map((d) => d.slices));
      }
    } finally {
      files.dispose();
      node.dispose();
    }
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before);
  });

  it('refuses a damaged member file and a backbone other than the recorded one', async () => {
    const files = filesOf(tiny.run);
    const w = 'run/fold-1/best/model/weights.bin';
    const damaged = new Map(files);
    const bytes = Uint8Array.from(files.get(w)!); // a copy (Buffer.slice is a view)
    bytes[10] = bytes[10]! ^ 0xff;
    damaged.set(w, bytes);
    const before = tf.memory().numTensors;
    await expect(loadMrnFromFiles(damaged)).rejects.toMatchObject({
      code: 'E_CHECKPOINT',
      message: expect.stringMatching(/weights\.bin is damaged/),
    });
    const foreign = new Map(files);
    const bin = Uint8Array.from(files.get('run/backbone/backbone.bin')!);
    bin[0] = bin[0]! ^ 1;
    foreign.set('run/backbone/backbone.bin', bin);
    await expect(loadMrnFromFiles(foreign)).rejects.toMatchObject({
      code: 'E_CHECKPOINT',
      message: expect.stringMatching(/does not match the one the model was trained on/),
    });
    const missing = new Map(files);
    missing.delete('run/fold-2/best/checkpoint.json');
    await expect(loadMrnFromFiles(missing)).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    expect(tf.memory().numTensors).toBe(before);
    const notARun = new Map([['x/model.json', new TextEncoder().encode('{"format":"tfjs-layers"}')]]);
    await expect(loadMrnFromFiles(notARun)).rejects.toMatchObject({ code: 'E_CHECKPOINT' });
  });
});
