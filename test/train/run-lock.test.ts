import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { MRN_ERROR_CODES } from '../../src/errors.js';
import { acquireRunLock, processStartTicks, RUN_LOCK_FILE } from '../../src/train/run-lock.js';
import { captureIO } from '../helpers/cli-io.js';

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'mrn-lock-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function writeLock(dir: string, pid: number, extra: Record<string, unknown> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const holder = {
    pid,
    host: os.hostname(),
    since: '2026-01-01T00:00:00.000Z',
    command: 'mrn train',
    ...extra,
  };
  fs.writeFileSync(path.join(dir, RUN_LOCK_FILE), JSON.stringify(holder));
}

describe('run folder lock', () => {
  it('refuses a second holder, naming the pid, and is free again after release', () => {
    const dir = path.join(root, 'a');
    const lock = acquireRunLock(dir, { command: 'mrn train' });
    expect(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid).toBe(process.pid);
    let error: unknown;
    try {
      acquireRunLock(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'E_RUN_LOCKED', file: lock.file });
    expect((error as Error).message).toContain(`pid ${process.pid}`);
    lock.release();
    expect(fs.existsSync(lock.file)).toBe(false);
    acquireRunLock(dir).release();
  });

  it('takes over the lock of a process that no longer exists', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const dir = path.join(root, 'b');
    writeLock(dir, dead);
    const lock = acquireRunLock(dir);
    expect(lock.tookOverFrom?.pid).toBe(dead);
    expect(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });

  it('does not mistake a recycled pid for the holder (Linux: start time from /proc)', () => {
    expect(processStartTicks(process.pid)).toBeGreaterThan(0);
    const dir = path.join(root, 'c');
    writeLock(dir, process.pid, { startTicks: processStartTicks(process.pid)! - 1 });
    const lock = acquireRunLock(dir);
    expect(lock.tookOverFrom?.pid).toBe(process.pid);
    lock.release();
  });

  it('a second `mrn train` on a folder held by a live process exits 3 naming its pid', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const data = path.join(root, 'data');
      fs.mkdirSync(data, { recursive: true });
      const labels = path.join(root, 'labels.csv');
      fs.writeFileSync(labels, 'case,label\n');
      const out = path.join(root, 'run');
      writeLock(out, child.pid!, { startTicks: processStartTicks(child.pid!) });
      const t = captureIO();
      const code = await runCli(['train', '--data', data, '--labels', labels, '--out', out], t.io);
      expect(code).toBe(MRN_ERROR_CODES.E_RUN_LOCKED);
      expect(t.err.join('\n')).toMatch(new RegExp(`in use by pid ${child.pid} `));
      // The holder's lock is untouched.
      expect(JSON.parse(fs.readFileSync(path.join(out, RUN_LOCK_FILE), 'utf8')).pid).toBe(child.pid);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
