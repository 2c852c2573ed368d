#!/usr/bin/env node
import { runCli } from './run-cli.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The threaded wasm backend's worker threads keep the event loop alive after the work is done.
    process.exit(code);
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
