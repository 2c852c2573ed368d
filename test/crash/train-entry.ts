/**
 * The `mrn` command for the crash test (`node --import tsx test/crash/train-entry.ts train ...`): it
 * counts the file writes mrn makes through its file layer and, when
 * `MRN_TEST_KILL_AT_WRITE=N`, writes half of the N-th write's bytes and SIGKILLs its own process,
 * leaving a torn file, as a crash in the middle of a checkpoint write does. With
 * `MRN_TEST_COUNT_WRITES=FILE` it records the number of writes at exit.
 */

import fs from 'node:fs';
import { nodeFileLayer, setFileLayer } from '../../src/io/atomic-write.js';

const killAt = Number(process.env.MRN_TEST_KILL_AT_WRITE ?? 0);
const countFile = process.env.MRN_TEST_COUNT_WRITES;
let writes = 0;

setFileLayer({
  ...nodeFileLayer,
  writeSync(fd, data, offset, length, position) {
    writes++;
    if (writes === killAt) {
      nodeFileLayer.writeSync(fd, data, offset, length >> 1, position);
      process.kill(process.pid, 'SIGKILL');
    }
    return nodeFileLayer.writeSync(fd, data, offset, length, position);
  },
});

if (countFile) process.on('exit', () => fs.writeFileSync(countFile, String(writes)));

// The CLI itself (it reads process.argv and exits with its code).
await import('../../src/cli/main.js');
