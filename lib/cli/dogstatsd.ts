/**
 * `--dogstatsd`: the CLI's loop sending DogStatsD datagrams to an Agent.
 *
 * @module
 */

import { createSocket } from 'node:dgram';
import type { Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';

import { formatDogStatsD, packDatagrams } from '../outputs/dogstatsd.js';
import type { ServerRun } from '../types.js';
import { hostPort } from './args.js';
import type { HostPort } from './args.js';
import { errorLog } from './report.js';
import type { Stopper } from './stopper.js';

/**
 * `--dogstatsd`: sends every run's datagrams at start and every interval,
 * packed up to the Agent's buffer size.
 */
export async function sendDogStatsD(
  where: HostPort,
  intervalMs: number,
  runAll: () => Promise<ServerRun[]>,
  stop: Stopper,
  say: (line: string) => void,
): Promise<void> {
  const socket: UdpSocket = createSocket(isIPv6(where.host) ? 'udp6' : 'udp4');
  // Send errors arrive through the callbacks; this only keeps a stray 'error' from being thrown.
  socket.on('error', () => {});
  const log = errorLog(say);
  let lastSendError = '';
  say(`sending DogStatsD datagrams to ${hostPort(where.host, where.port)} every ${intervalMs / 1000}s`);
  try {
    while (!stop.stopped) {
      const runs = await Promise.race([runAll(), stop.promise]);
      if (runs === undefined) break;
      log(runs);
      let sendError = '';
      for (const packet of packDatagrams(formatDogStatsD(runs))) {
        const error = await new Promise<Error | null>((resolve) => socket.send(packet, where.port, where.host, (e) => resolve(e)));
        if (error !== null) sendError = error.message;
      }
      // Said once per change, not every interval, so that a missing Agent does not flood the log.
      if (sendError !== lastSendError) say(sendError === '' ? 'DogStatsD sends work again' : `cannot send to DogStatsD: ${sendError}`);
      lastSendError = sendError;
      await stop.sleep(intervalMs);
    }
  } finally {
    await new Promise<void>((resolve) => socket.close(() => resolve()));
  }
}
