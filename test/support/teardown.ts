/** Tearing down what a test harness started: engines, then clients, then server processes. */
import type { ChildProcess } from 'node:child_process';
import type { Cluster, Redis } from 'ioredis';
import type { RedisMemoLockEngine } from '../../lib';
import { closeConnection } from '../../lib/memolock.providers';

export function killProcess(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGCONT'); // a paused server would not die otherwise
    child.kill('SIGKILL');
  });
}

export async function tearDown(
  engines: Set<RedisMemoLockEngine>,
  clients: Set<Redis | Cluster>,
  processes: ChildProcess[] = [],
) {
  await Promise.all([...engines].map((e) => e.close()));
  engines.clear();
  // The module's own closing rule: QUIT when up, drop otherwise, never twice (ioredis would leave a timer).
  await Promise.all([...clients].map((client) => closeConnection({ client, owned: true })));
  clients.clear();
  await Promise.all(processes.map(killProcess));
}
