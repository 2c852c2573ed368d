/**
 * The esbuild plugin of the browser bundle (tsup.config.ts): mrn's Node-only pieces are swapped for
 * browser stand-ins under src/browser/, so dist/browser.js imports no Node built-in.
 *
 * - Node built-ins (`node:fs`, `path`, ...) resolve to src/browser/node/<name>.ts: stand-ins whose
 *   file-system and process functions throw `E_NODE_ONLY` naming themselves, and real browser code
 *   where mrn needs the function itself (`zlib` gunzip through fflate, `os.endianness`).
 * - mrn modules that are Node-only as a whole resolve to their stand-in in src/browser/ (table below).
 *
 * Built-ins that dependencies import (guarded, never run in a browser) resolve to an empty module.
 * A built-in without a stand-in in mrn's own code fails the build, naming the file that imports it: a new Node import
 * in code the browser entry reaches must be decided on, not shipped.
 */

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** mrn modules (relative to the repo root, without extension) replaced by a browser stand-in. */
export const BROWSER_MODULE_SUBSTITUTES: Readonly<Record<string, string>> = {
  'src/io/file-system-io': 'src/browser/file-system-io.ts',
};

const BUILTIN =
  /^(node:)?(fs|fs\/promises|path|os|crypto|zlib|module|util|url|child_process|worker_threads|perf_hooks|stream|buffer)$/;

/** The esbuild plugin; see the module notes. */
export function browserSubstitutes(): Plugin {
  return {
    name: 'mrn-browser-substitutes',
    setup(build) {
      build.onResolve({ filter: BUILTIN }, (args) => {
        // Dependencies (tfjs's Node platform, the threaded wasm glue) guard their Node-only requires
        // themselves and never run them in a browser (tests bundling tfjs into a page meet them).
        if (args.importer.includes(`${path.sep}node_modules${path.sep}`)) {
          return { path: args.path, namespace: 'mrn-unused-builtin' };
        }
        const name = args.path.replace(/^node:/, '').replace('/', '-');
        const standIn = path.join(root, 'src/browser/node', `${name}.ts`);
        if (!existsSync(standIn)) {
          return {
            errors: [
              {
                text: `${args.path} has no browser stand-in (imported by ${path.relative(root, args.importer)}); add src/browser/node/${name}.ts or keep the importer out of src/browser.ts`,
              },
            ],
          };
        }
        return { path: standIn };
      });
      build.onLoad({ filter: /.*/, namespace: 'mrn-unused-builtin' }, () => ({
        contents: 'module.exports = {};',
        loader: 'js',
      }));
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = path
          .relative(root, path.resolve(args.resolveDir, args.path))
          .replace(/\.(js|ts)$/, '');
        const standIn = BROWSER_MODULE_SUBSTITUTES[target.split(path.sep).join('/')];
        return standIn ? { path: path.join(root, standIn) } : undefined;
      });
    },
  };
}
