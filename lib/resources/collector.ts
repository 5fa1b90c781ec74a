/**
 * The resources of a check's processes, run after run: which targets can
 * have them (`collect_resources` needs supervisord on this host), and what
 * is remembered between runs: supervisord's pid (asked once with
 * `supervisor.getPID`, then checked in `/proc` every run, asked again only
 * when it no longer holds) and the warnings said (each said once, again
 * when it changes).
 *
 * @module
 */

import type { Metric } from '../types.js';
import { readProcessResources } from './read.js';
import type { ReadResourcesOptions, ResourceProcess } from './read.js';

export { resourcesProblem } from './local-target.js';

/** Options of {@link ResourceCollector}. */
export interface ResourceCollectorOptions {
  /** `instance_tags` of the check. */
  instanceTags: readonly string[];
  /** For tests: see {@link ReadResourcesOptions}. */
  read?: Pick<ReadResourcesOptions, 'procRoot' | 'startWindow' | 'clockTicks' | 'pageSize' | 'now'>;
}

/** What one collection adds to a run. */
export interface CollectedResources {
  metrics: Metric[];
  /** Warnings not said by the previous collection. */
  warnings: string[];
}

/** Runs {@link readProcessResources} for one check, remembering supervisord's pid and the warnings said. */
export class ResourceCollector {
  readonly #options: ResourceCollectorOptions;
  /** supervisord's pid and start, once seen in `/proc`. */
  #supervisord: { pid: number; startTicks: number } | undefined;
  #said = new Set<string>();

  /** @param options see {@link ResourceCollectorOptions}. */
  constructor(options: ResourceCollectorOptions) {
    this.#options = options;
  }

  /**
   * Reads the processes' resources.
   *
   * @param processes the monitored processes of the run (those without a pid are skipped).
   * @param run `getPid` asks supervisord its pid (`supervisor.getPID`, bounded by the run's
   *   deadline);
   *   `listedAt`, `performance.now()` when the processes' listing arrived, when
   *   they come from one (see `readProcessResources`).
   */
  async collect(processes: readonly ResourceProcess[], run: { getPid: () => Promise<unknown>; listedAt?: number }): Promise<CollectedResources> {
    const { getPid, listedAt } = run;
    const warnings: string[] = [];
    let metrics: Metric[] = [];
    // Twice at most: a remembered pid that no longer holds (supervisord restarted) is asked again at once.
    for (let attempt = 0; attempt < 2; attempt++) {
      const remembered = this.#supervisord;
      let pid = remembered?.pid;
      if (pid === undefined) {
        try {
          pid = pidValue(await getPid());
        } catch (error) {
          warnings.push(`resources are not collected this run: supervisor.getPID failed: ${error instanceof Error ? error.message : String(error)}`);
          break;
        }
        if (pid === undefined) {
          warnings.push('resources are not collected: supervisor.getPID did not answer a process id');
          break;
        }
      }
      const reading = await readProcessResources(processes, {
        ...this.#options.read,
        supervisordPid: pid,
        instanceTags: this.#options.instanceTags,
        ...(listedAt === undefined ? {} : { listedAt }),
        ...(remembered === undefined ? {} : { supervisordStartTicks: remembered.startTicks }),
      });
      if (reading.supervisord.ok) {
        this.#supervisord = { pid, startTicks: reading.supervisord.startTicks };
        metrics = reading.metrics;
        warnings.push(...reading.warnings);
        break;
      }
      this.#supervisord = undefined;
      if (remembered === undefined) {
        warnings.push(...reading.warnings);
        break;
      }
    }
    const fresh = warnings.filter((w) => !this.#said.has(w));
    this.#said = new Set(warnings);
    return { metrics, warnings: fresh };
  }
}

function pidValue(value: unknown): number | undefined {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0 ? n : undefined;
}
