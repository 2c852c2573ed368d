import * as tf from '@tensorflow/tfjs';
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserSubstitutes } from '../build/browser-substitutes.js';
import { selectBackend } from '../src/backend.js';
import { fileSystemIO as fileSystemIOStandIn } from '../src/browser/file-system-io.js';
import { checkpointIO } from '../src/browser/load-model.js';
import { readFile as readFileStandIn } from '../src/browser/node/fs-promises.js';
import { endianness } from '../src/browser/node/os.js';
import { gunzipSync } from '../src/browser/node/zlib.js';
import { readBytes } from '../src/browser/read-bytes.js';
import { MultiRoiNet } from '../src/layers/multi-roi-net.js';
import { pngDataUri } from '../src/plots/png.js';
import { expectMrnError, expectMrnRejection } from './helpers/errors.js';
import { disposeBatch, TINY_CONFIG, tinyImageBatch } from './layers/helpers/tiny-model.js';
import { TinyVit } from './layers/helpers/tiny-vit.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mrn-browser-'));
beforeAll(async () => {
  await selectBackend({ backend: 'cpu' });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Node's built-in modules, with and without the `node:` prefix. */
const NODE_BUILTIN =
  /^(node:.*|fs|fs\/promises|path|os|crypto|zlib|module|util|url|child_process|worker_threads|perf_hooks|stream|buffer|http|https|net)$/;

describe('the browser bundle (src/browser.ts through build/browser-substitutes.ts)', () => {
  it('imports no Node built-in, only tfjs (peer), fflate and ndarray', async () => {
    // The same settings as tsup.config.ts's browser entry, kept in memory.
    const result = await build({
      entryPoints: ['src/browser.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      metafile: true,
      packages: 'external',
      logLevel: 'silent',
      plugins: [browserSubstitutes()],
    });
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports.map((i) => i.path));
    expect(imports.filter((p) => NODE_BUILTIN.test(p))).toEqual([]);
    expect([...new Set(imports)].sort()).toEqual([
      '@tensorflow/tfjs',
      '@tensorflow/tfjs-backend-wasm',
      '@tensorflow/tfjs-backend-webgpu',
      'fflate',
      'ndarray',
    ]);
    const text = result.outputFiles[0]!.text;
    expect(/from\s*["']node:|require\(["'](fs|path|os)["']\)/.test(text)).toBe(false);
    // Node-only modules are there as stand-ins that name themselves.
    expect(/nodeOnlyError\(\s*"fileSystemIO"/.test(text)).toBe(true);
    // Nor Node's globals: a page has no `process` (a stray `process.env` read once broke the web page
    // in CI), `Buffer`, `__dirname` or `require`.
    const globals = [
      /\bprocess\s*[.[]/,
      /\bBuffer\s*[.(]/,
      /\b__dirname\b/,
      /\b__filename\b/,
      /\brequire\s*\(/,
    ];
    expect(globals.filter((re) => re.test(text)).map(String)).toEqual([]);
  });

  it('fails the build for a Node built-in that has no stand-in, naming the importer', async () => {
    const error = await build({
      stdin: {
        contents: "import { spawn } from 'node:child_process'; spawn('x');",
        resolveDir: 'src',
        sourcefile: 'leak.ts',
      },
      bundle: true,
      write: false,
      platform: 'browser',
      logLevel: 'silent',
      plugins: [browserSubstitutes()],
    }).catch((e: unknown) => e);
    expect(String(error)).toMatch(/node:child_process has no browser stand-in \(imported by .*leak\.ts\)/);
  });
});

describe('browser stand-ins', () => {
  it('fileSystemIO and fs calls throw E_NODE_ONLY naming the function', async () => {
    expectMrnError(() => fileSystemIOStandIn('run/model'), 'E_NODE_ONLY', /^fileSystemIO is Node-only/);
    const err = await expectMrnRejection(async () => readFileStandIn('x.nii.gz'), 'E_NODE_ONLY');
    expect(err.message).toMatch(/^fs\.readFile is Node-only.*readBytes/);
  });

  it('zlib: gunzips what Node gzips; a cut-off stream reports Z_BUF_ERROR as Node does', () => {
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) % 251);
    const gz = gzipSync(data);
    expect(Array.from(gunzipSync(gz))).toEqual(Array.from(data));
    let caught: unknown;
    try {
      gunzipSync(gz.subarray(0, gz.length - 20));
    } catch (e) {
      caught = e;
    }
    expect((caught as { code?: string }).code).toBe('Z_BUF_ERROR');
    expect(endianness()).toBe(os.endianness());
  });
});

describe('pngDataUri without Buffer (a browser)', () => {
  it('gives the same data URI through btoa', () => {
    const rgb = Uint8Array.from({ length: 3 * 300 * 200 }, (_, i) => (i * 31) % 256);
    const withBuffer = pngDataUri(rgb, 300, 200);
    const saved = globalThis.Buffer;
    try {
      (globalThis as { Buffer?: unknown }).Buffer = undefined;
      expect(pngDataUri(rgb, 300, 200)).toBe(withBuffer);
    } finally {
      globalThis.Buffer = saved;
    }
  });
});

describe('readBytes and checkpointIO', () => {
  it('reads ArrayBuffers, typed-array views, Blobs and Responses', async () => {
    const bytes = Uint8Array.from([1, 2, 3, 4, 5]);
    expect(Array.from(await readBytes(bytes.buffer))).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(await readBytes(new DataView(bytes.buffer, 1, 2)))).toEqual([2, 3]);
    expect(Array.from(await readBytes(new Blob([bytes])))).toEqual([1, 2, 3, 4, 5]);
    expect(Array.from(await readBytes(new Response(bytes)))).toEqual([1, 2, 3, 4, 5]);
    const notFound = await expectMrnRejection(
      readBytes(new Response('', { status: 404 })),
      'E_FILE_NOT_FOUND',
    );
    expect(notFound.message).toMatch(/answered 404/);
  });

  it('loads a checkpoint saved by MultiRoiNet.save from its two files, with identical outputs', async () => {
    const backbone = new TinyVit({ imageSize: 28, patchSize: 7, embedDim: 16 });
    const model = new MultiRoiNet(TINY_CONFIG, { backbone });
    const dir = path.join(tmp, 'ckpt');
    await model.save(dir);
    const files = {
      modelJson: new Blob([readFileSync(path.join(dir, 'model.json'))]),
      weights: readFileSync(path.join(dir, 'weights.bin')),
    };
    const loaded = await MultiRoiNet.load(checkpointIO(files), { backbone });
    const batch = tinyImageBatch([0, 1]);
    const a = model.apply(batch).logits;
    const b = loaded.apply(batch).logits;
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([a, b]);
    disposeBatch(batch);
    const truncated = { ...files, weights: files.weights.subarray(0, 100) };
    await expectMrnRejection(MultiRoiNet.load(checkpointIO(truncated), { backbone }), 'E_CHECKPOINT');
    model.dispose();
    loaded.dispose();
    backbone.dispose();
  });
});
