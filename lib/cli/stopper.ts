/**
 * How the long-running modes of the CLI stop: a signal, or the caller's `AbortSignal`.
 *
 * @module
 */

/** Stops the long-running modes: SIGINT/SIGTERM or the caller's abort signal. */
export interface Stopper {
  readonly stopped: boolean;
  /** Resolves (with undefined) once stopped. */
  readonly promise: Promise<undefined>;
  /** Waits `ms`, or less when stopped meanwhile. */
  sleep(ms: number): Promise<void>;
  dispose(): void;
}

/**
 * Stops on `signal`, or on SIGINT/SIGTERM when there is none. The signal
 * listeners go as soon as the first signal arrives, so that a second Ctrl-C
 * during shutdown kills the process the default way.
 */
export function stopper(signal: AbortSignal | undefined): Stopper {
  let stopped = false;
  let resolve!: (value: undefined) => void;
  const promise = new Promise<undefined>((r) => {
    resolve = r;
  });
  const timers = new Set<{ timer: NodeJS.Timeout; done: () => void }>();
  const onStop = (): void => {
    if (stopped) return;
    stopped = true;
    removeListeners();
    for (const t of timers) {
      clearTimeout(t.timer);
      t.done();
    }
    timers.clear();
    resolve(undefined);
  };
  const removeListeners = (): void => {
    signal?.removeEventListener('abort', onStop);
    process.removeListener('SIGINT', onStop);
    process.removeListener('SIGTERM', onStop);
  };
  if (signal !== undefined) {
    if (signal.aborted) onStop();
    else signal.addEventListener('abort', onStop, { once: true });
  } else {
    process.on('SIGINT', onStop);
    process.on('SIGTERM', onStop);
  }
  return {
    get stopped() {
      return stopped;
    },
    promise,
    sleep: (ms) =>
      new Promise<void>((done) => {
        if (stopped) return done();
        const entry = {
          timer: setTimeout(() => {
            timers.delete(entry);
            done();
          }, ms),
          done,
        };
        timers.add(entry);
      }),
    dispose: removeListeners,
  };
}
