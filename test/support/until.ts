import { sleep } from './sleep';

/**
 * Waits until `condition` holds, checking every 10 ms, or fails after `ms` saying what was awaited: tests
 * wait for conditions, never for a fixed time, since the machine may be loaded.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  ms = 5_000,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting until ${what}`);
    await sleep(10);
  }
}

/** Calls of `command` Redis has run so far (from `INFO commandstats`, without resetting anything). */
export async function commandCalls(admin: { info(section: string): Promise<string> }, command: string) {
  const info = await admin.info('commandstats');
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return match ? Number(match[1]) : 0;
}
