/** A {@link FileLayer} that fails one chosen operation with an errno code, as a full or failing disk does. */

import { type FileLayer, nodeFileLayer } from '../../src/io/atomic-write.js';

/** Which call fails: the `at`-th (0-based) call of `op`, with `code`. */
export interface Fault {
  op: 'open' | 'write' | 'fsync' | 'rename' | 'mkdir';
  at: number;
  code: 'ENOSPC' | 'EIO' | 'EDQUOT';
}

function errno(code: string, what: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: injected failure, ${what}`), { code });
}

/**
 * A file layer over the real one that fails as `fault` says. A failing write first writes half of
 * its bytes (a torn file, as a disk that fills up mid-write leaves it). `calls` counts every op, so a
 * test can first count a clean run's calls and then fail each of them in turn.
 */
export function faultyFileLayer(fault?: Fault): FileLayer & { calls: Record<Fault['op'], number> } {
  const calls = { open: 0, write: 0, fsync: 0, rename: 0, mkdir: 0 };
  const hit = (op: Fault['op']) => fault?.op === op && calls[op]++ === fault.at;
  const count = (op: Fault['op']) => void (fault?.op === op || calls[op]++);
  return {
    calls,
    openSync(file, flags) {
      if (hit('open')) throw errno(fault!.code, `open ${file}`);
      count('open');
      return nodeFileLayer.openSync(file, flags);
    },
    writeSync(fd, data, offset, length, position) {
      if (hit('write')) {
        nodeFileLayer.writeSync(fd, data, offset, length >> 1, position);
        throw errno(fault!.code, 'write');
      }
      count('write');
      return nodeFileLayer.writeSync(fd, data, offset, length, position);
    },
    fsyncSync(fd) {
      if (hit('fsync')) throw errno(fault!.code, 'fsync');
      count('fsync');
      nodeFileLayer.fsyncSync(fd);
    },
    closeSync: (fd) => nodeFileLayer.closeSync(fd),
    renameSync(from, to) {
      if (hit('rename')) throw errno(fault!.code, `rename ${from}`);
      count('rename');
      nodeFileLayer.renameSync(from, to);
    },
    rmSync: (file, options) => nodeFileLayer.rmSync(file, options),
    mkdirSync(dir, options) {
      if (hit('mkdir')) throw errno(fault!.code, `mkdir ${dir}`);
      count('mkdir');
      return nodeFileLayer.mkdirSync(dir, options);
    },
  };
}
