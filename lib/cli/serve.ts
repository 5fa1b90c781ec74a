/**
 * `--serve`: the Prometheus endpoint of the CLI.
 *
 * @module
 */

import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

import { CounterTotals, formatPrometheus, PROMETHEUS_CONTENT_TYPE } from '../outputs/prometheus.js';
import type { ServerRun } from '../types.js';
import { hostPort, UsageError } from './args.js';
import type { HostPort } from './args.js';
import { errorLog, fsProblem } from './report.js';
import type { Stopper } from './stopper.js';

/**
 * `--serve`: `/metrics` runs the checks (concurrent scrapes share one run)
 * and answers the exposition; `/` points there; anything else is 404.
 */
export async function serve(
  where: HostPort,
  runAll: () => Promise<ServerRun[]>,
  stop: Stopper,
  onListening: ((address: HostPort) => void) | undefined,
  say: (line: string) => void,
): Promise<void> {
  const counters = new CounterTotals();
  const log = errorLog(say);
  let inflight: Promise<string> | undefined;
  const scrape = (): Promise<string> => {
    // Coalescing: a Datadog count must be added to the counters once per run, and supervisord is asked once.
    inflight ??= (async () => {
      try {
        const runs = await runAll();
        log(runs);
        return formatPrometheus(runs, { counters });
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' && path !== '/') {
      reply(res, 404, 'text/plain; charset=utf-8', 'Not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      reply(res, 405, 'text/plain; charset=utf-8', 'Method not allowed: use GET\n');
      return;
    }
    if (path === '/') {
      reply(
        res,
        200,
        'text/html; charset=utf-8',
        '<!DOCTYPE html>\n<html><head><title>supervisord-check</title></head>' +
          '<body><h1>supervisord-check</h1><p><a href="/metrics">Metrics</a></p></body></html>\n',
        req.method === 'HEAD',
      );
      return;
    }
    scrape().then(
      (body) => reply(res, 200, PROMETHEUS_CONTENT_TYPE, body, req.method === 'HEAD'),
      (error: unknown) => {
        say(`internal error while scraping: ${error instanceof Error ? error.message : String(error)}`);
        reply(res, 500, 'text/plain; charset=utf-8', 'Internal error of supervisord-check\n');
      },
    );
  };
  const server = createServer(handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where.port, where.host, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
  } catch (error) {
    throw new UsageError(`cannot listen on ${hostPort(where.host, where.port)}: ${fsProblem(error)}`);
  }
  try {
    const bound = server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : where.port;
    say(`serving http://${hostPort(where.host, port)}/metrics`);
    onListening?.({ host: where.host, port });
    await stop.promise;
  } finally {
    await closeServer(server);
  }
}

function reply(res: ServerResponse, status: number, type: string, body: string, head = false): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': bytes.length });
  res.end(head ? undefined : bytes);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Scrapers keep connections alive; close() alone would wait for them.
    server.closeAllConnections();
  });
}
