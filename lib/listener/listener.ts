/**
 * The event listener at work: reads supervisord's envelopes from an input
 * stream, applies each to a {@link ListenerState} and answers it on the
 * output stream at once, then does the rest off that path: the JSON line,
 * the `getProcessInfo` that tells an exit status, the alert, the resync
 * after a group was added. A resync every `resyncMs` checks the state
 * against supervisord's own answer.
 *
 * Never slowing supervisord: supervisord sends the next event only after the
 * answer to the previous one, and buffers (then drops the oldest) meanwhile.
 * So the answer is written synchronously in the input's `data` handler, right
 * after the state is updated; everything that does I/O is scheduled after it,
 * and scrapes only read the state.
 *
 * @module
 */

import { XmlRpcFault } from '../../protocol/errors.js';
import type { MulticallRequest } from '../../protocol/xmlrpc-client.js';
import { describeFailure, decodeProcessList } from '../submissions.js';
import type { CheckClient } from '../types.js';
import { EventStreamParser, READY, RESULT_OK } from './event-protocol.js';
import type { EventParserOptions } from './event-protocol.js';
import { DRIFT_GRACE_MS, ListenerState } from './state.js';
import type { Applied, ServerProcess } from './state.js';

/** Default time between two resyncs: 10 minutes. */
export const DEFAULT_RESYNC_MS = 10 * 60 * 1000;
/** After a failed collection the next one comes sooner, at most this late. */
const RETRY_MS = 10_000;

/** An unexpected exit, FATAL or BACKOFF, with the exit status `getProcessInfo` gave (undefined when it failed). */
export interface ListenerAlert {
  readonly name: string;
  readonly group: string;
  readonly from: string;
  readonly to: string;
  readonly exitstatus: number | undefined;
  readonly spawnerr: string;
}

/** Options of {@link EventListener}. */
export interface EventListenerOptions {
  /** The state to keep (its config names the server, the filters and the tags). */
  state: ListenerState;
  /** How to reach supervisord for the collections and the exit statuses. */
  client: CheckClient;
  /** supervisord's envelopes (the listener's stdin). */
  input: NodeJS.ReadableStream;
  /** Where the protocol's answers go (the listener's stdout), and nothing else. */
  output: NodeJS.WritableStream;
  /** Time between two resyncs, ms. Default {@link DEFAULT_RESYNC_MS}. */
  resyncMs?: number;
  /** A line for the operator (stderr). */
  log: (line: string) => void;
  /** One JSON object per applied event and per exit status, when JSON lines are wanted. */
  jsonl?: (record: Record<string, unknown>) => void;
  /** Unexpected exits, FATAL, BACKOFF, once their exit status is known. */
  onAlert?: (alert: ListenerAlert) => void;
  /** Limits of the parser. */
  parser?: EventParserOptions;
  /** Milliseconds since the epoch for the JSON lines; default `Date.now`. */
  clock?: () => number;
}

/**
 * One run of the listener, from the first `READY` to the end of the input.
 * {@link EventListener.start} begins it; {@link EventListener.done} resolves
 * when the input ends (supervisord closed it) or {@link EventListener.stop}
 * was called; every timer is released and no call is left in flight.
 */
export class EventListener {
  readonly state: ListenerState;
  readonly #client: CheckClient;
  readonly #input: NodeJS.ReadableStream;
  readonly #output: NodeJS.WritableStream;
  readonly #resyncMs: number;
  readonly #log: (line: string) => void;
  readonly #jsonl: ((record: Record<string, unknown>) => void) | undefined;
  readonly #onAlert: ((alert: ListenerAlert) => void) | undefined;
  readonly #parser: EventStreamParser;
  readonly #clock: () => number;
  #stopped = false;
  #resolveDone!: () => void;
  /** Resolves once the input ended or {@link EventListener.stop} was called, and the calls in flight settled. */
  readonly done: Promise<void>;
  #timer: NodeJS.Timeout | undefined;
  #driftTimer: NodeJS.Timeout | undefined;
  #collecting: Promise<void> | undefined;
  #resyncAgain = false;
  /** `group:name` -> the alert waiting for the exit status, or null for a fetch alone. */
  readonly #exitWanted = new Map<string, Applied & { kind: 'transition' }>();
  #fetching: Promise<void> | undefined;
  #lastFetchError = '';
  readonly #onData = (chunk: Buffer | string): void => this.#receive(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  readonly #onEnd = (): void => this.#end();
  readonly #onOutputError = (error: Error): void => {
    this.#log(`cannot answer supervisord: ${error.message}`);
    this.stop();
  };

  /** @param options see {@link EventListenerOptions}. */
  constructor(options: EventListenerOptions) {
    this.state = options.state;
    this.#client = options.client;
    this.#input = options.input;
    this.#output = options.output;
    this.#resyncMs = options.resyncMs ?? DEFAULT_RESYNC_MS;
    this.#log = options.log;
    this.#jsonl = options.jsonl;
    this.#onAlert = options.onAlert;
    this.#parser = new EventStreamParser(options.parser);
    this.#clock = options.clock ?? Date.now;
    let resolve!: () => void;
    const ended = new Promise<void>((r) => {
      resolve = r;
    });
    this.#resolveDone = resolve;
    this.done = ended.then(() => this.#settle());
  }

  /** Says READY, starts reading and seeds the state with a first collection. */
  start(): void {
    this.#output.on('error', this.#onOutputError);
    this.#input.on('data', this.#onData);
    this.#input.on('end', this.#onEnd);
    this.#input.on('error', this.#onEnd);
    this.#output.write(READY);
    this.#resync('seed');
  }

  /** Ends the listener as if the input had ended. Idempotent. */
  stop(): void {
    this.#end();
  }

  #receive(chunk: Buffer): void {
    if (this.#stopped) return;
    const items = this.#parser.push(chunk);
    if (items.length === 0) return;
    const applied: Applied[] = [];
    for (const item of items) {
      applied.push(item.ok ? this.state.apply(item.event) : this.state.applyMalformed(item.malformed));
      // The answer goes as soon as the event is in the state: nothing below may delay it.
      this.#output.write(RESULT_OK);
    }
    setImmediate(() => {
      for (const a of applied) this.#after(a);
    });
  }

  /** The side effects of one applied envelope, after its answer. */
  #after(a: Applied): void {
    if (this.#stopped) return;
    switch (a.kind) {
      case 'malformed':
        this.#log(`malformed event, answered OK so that supervisord does not resend it: ${a.message}`);
        this.#record({ event: 'malformed', message: a.message });
        return;
      case 'transition': {
        const { kind: _kind, fetchExit: _fetch, alert: _alert, ...record } = a;
        this.#record({ event: 'transition', ...record });
        if (a.fetchExit) {
          this.#exitWanted.set(`${a.group}:${a.name}`, a);
          this.#fetchExits();
        }
        return;
      }
      case 'group':
        this.#record({ event: a.eventname, group: a.group });
        // The group's processes may not start (autostart=false): only a listing shows them.
        if (a.eventname === 'PROCESS_GROUP_ADDED') this.#resync('group added');
        return;
      case 'supervisor':
        this.#record({ event: a.eventname });
        return;
      default:
        return;
    }
  }

  #record(record: Record<string, unknown>): void {
    if (this.#jsonl === undefined) return;
    try {
      this.#jsonl({ time: new Date(this.#clock()).toISOString(), server: this.state.config.name, ...record });
    } catch (error) {
      this.#log(`cannot write a JSON line: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  /** One `getProcessInfo` per process whose run ended (one multicall for several), one batch at a time. */
  #fetchExits(): void {
    if (this.#fetching !== undefined || this.#exitWanted.size === 0 || this.#stopped) return;
    const wanted = [...this.#exitWanted.values()];
    this.#exitWanted.clear();
    this.#fetching = this.#fetchBatch(wanted).finally(() => {
      this.#fetching = undefined;
      this.#fetchExits();
    });
  }

  async #fetchBatch(wanted: ReadonlyArray<Applied & { kind: 'transition' }>): Promise<void> {
    const method = 'supervisor.getProcessInfo';
    let answers: unknown[];
    try {
      if (wanted.length === 1 || this.#client.multicall === undefined) {
        answers = [];
        for (const w of wanted) answers.push(await this.#client.call(method, [`${w.group}:${w.name}`]).catch((error: unknown) => error));
      } else {
        const calls: MulticallRequest[] = wanted.map((w) => ({ methodName: method, params: [`${w.group}:${w.name}`] }));
        answers = (await this.#client.multicall(calls)) as unknown[];
      }
    } catch (error) {
      answers = wanted.map(() => error);
    }
    let failure = '';
    wanted.forEach((w, i) => {
      const answer = answers[i];
      const decoded = answer instanceof Error ? undefined : decodeProcessList([answer]);
      const info: ServerProcess | undefined = decoded?.ok === true ? decoded.processes[0] : undefined;
      let exitstatus: number | undefined;
      if (info === undefined) {
        // A process removed meanwhile answers BAD_NAME: nothing to say about it.
        if (!(answer instanceof XmlRpcFault && answer.faultCode === 10)) failure = answer instanceof Error ? answer.message : 'not a process struct';
      } else {
        exitstatus = this.state.exitInfo(info);
        if (exitstatus !== undefined) {
          this.#record({ event: 'exit_status', name: w.name, group: w.group, state: w.to, exitstatus, ...(info.spawnerr === '' ? {} : { spawnerr: info.spawnerr }) });
        }
      }
      if (w.alert && !this.#stopped) {
        this.#onAlert?.({ name: w.name, group: w.group, from: w.from, to: w.to, exitstatus, spawnerr: info?.spawnerr ?? '' });
      }
    });
    if (failure !== this.#lastFetchError) this.#log(failure === '' ? 'exit statuses can be read again' : `cannot read an exit status: ${failure}`);
    this.#lastFetchError = failure;
  }

  /** A collection now (or right after the one in flight), then the next one `resyncMs` after it. */
  #resync(why: string): void {
    if (this.#stopped) return;
    if (this.#collecting !== undefined) {
      this.#resyncAgain = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#collecting = this.#collect(why).finally(() => {
      this.#collecting = undefined;
      if (this.#stopped) return;
      if (this.#resyncAgain) {
        this.#resyncAgain = false;
        this.#resync('again');
      }
    });
  }

  async #collect(why: string): Promise<void> {
    const since = this.state.seq;
    const config = this.state.config;
    let failure: string | undefined;
    try {
      const [list, state, version] = await this.#collectCalls();
      if (list instanceof Error) throw list;
      const decoded = decodeProcessList(list);
      if (!decoded.ok) {
        failure = `An error occurred while reading process information: ${decoded.reason}`;
      } else if (!this.#stopped) {
        const statename = typeof state === 'object' && state !== null && !(state instanceof Error) ? (state as { statename?: unknown }).statename : undefined;
        this.state.resync(since, decoded.processes, typeof statename === 'string' ? statename : undefined, typeof version === 'string' ? version : undefined);
        if (this.state.suspects > 0) this.#confirmLater(why);
        if (why === 'seed') this.#log(`seeded from ${config.address.display}: ${decoded.processes.length} processes`);
      }
    } catch (error) {
      failure = describeFailure(error, config).message;
    }
    if (failure !== undefined) {
      this.state.collectionFailed(failure);
      this.#log(`collection (${why}) failed: ${failure}`);
    }
    if (!this.#stopped) {
      this.#timer = setTimeout(() => this.#resync('periodic'), failure === undefined ? this.#resyncMs : Math.min(this.#resyncMs, RETRY_MS));
      this.#timer.unref();
    }
  }

  /** Logs the differences of a resync that no event explained within the grace period. */
  #confirmLater(why: string): void {
    clearTimeout(this.#driftTimer);
    this.#driftTimer = setTimeout(() => {
      this.#driftTimer = undefined;
      for (const drift of this.state.confirmDrift()) this.#log(`drift found by the ${why} resync: ${drift}`);
    }, DRIFT_GRACE_MS);
    this.#driftTimer.unref();
  }

  /** `getAllProcessInfo`, `getState`, `getSupervisorVersion`: one multicall, or three calls without it. */
  async #collectCalls(): Promise<[unknown, unknown, unknown]> {
    const client = this.#client;
    const methods = ['supervisor.getAllProcessInfo', 'supervisor.getState', 'supervisor.getSupervisorVersion'];
    if (client.multicall !== undefined) {
      const answers = (await client.multicall(methods.map((methodName) => ({ methodName, params: [] })))) as unknown[];
      return [answers[0], answers[1], answers[2]];
    }
    const list = await client.call(methods[0]!);
    const rest = await Promise.all(methods.slice(1).map((m) => client.call(m).catch((error: unknown) => error)));
    return [list, rest[0], rest[1]];
  }

  #end(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#input.removeListener('data', this.#onData);
    this.#input.removeListener('end', this.#onEnd);
    this.#input.removeListener('error', this.#onEnd);
    // A stream still flowing (stdin) would keep the process alive after a signal.
    this.#input.pause();
    const destroy = (this.#input as { destroy?: () => void }).destroy;
    if (typeof destroy === 'function') destroy.call(this.#input);
    const cut = this.#parser.end();
    if (cut !== undefined) this.#log(`the input ended inside an event: ${cut}`);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#driftTimer);
    this.#driftTimer = undefined;
    this.#resolveDone();
  }

  /** Waits for the calls in flight (the client is closed by the owner afterwards). */
  async #settle(): Promise<void> {
    await Promise.allSettled([this.#collecting, this.#fetching]);
    this.#output.removeListener('error', this.#onOutputError);
  }
}
