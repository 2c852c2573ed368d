/**
 * The static server of `npm run test:browser` (and bench/browser-case.ts): 127.0.0.1 on a free port,
 * fixed routes to in-memory bodies or to files under a few folders, with the cross-origin isolation
 * headers (COOP/COEP) that give a page SharedArrayBuffer and so threaded wasm.
 */

import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';

/** A route: a fixed body, or a folder whose files are served under the route's prefix. */
export type Route = { body: string | Uint8Array; type: string } | { dir: string };

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.css': 'text/css',
};

/** A running server; `close` stops it. */
export interface StaticServer {
  url: string;
  /** Paths requested so far, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serves `routes` (exact paths for bodies, prefixes ending in `/` for folders) on 127.0.0.1, on
 * `port` (default: a free one). Paths that leave a folder are refused.
 */
export async function serveStatic(routes: Record<string, Route>, port = 0): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const url = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(url);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    try {
      const exact = routes[url];
      if (exact && 'body' in exact) {
        res.writeHead(200, { ...headers, 'Content-Type': exact.type });
        res.end(exact.body);
        return;
      }
      const prefix = Object.keys(routes).find(
        (p) => p.endsWith('/') && url.startsWith(p) && 'dir' in routes[p]!,
      );
      if (prefix) {
        const dir = (routes[prefix] as { dir: string }).dir;
        const file = path.resolve(dir, url.slice(prefix.length));
        if (!file.startsWith(path.resolve(dir) + path.sep))
          throw Object.assign(new Error('outside'), { code: 'ENOENT' });
        const body = await readFile(file);
        res.writeHead(200, {
          ...headers,
          'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream',
        });
        res.end(body);
        return;
      }
      res.writeHead(404, headers);
      res.end();
    } catch {
      res.writeHead(404, headers);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
