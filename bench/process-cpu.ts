/**
 * CPU a process has used, read from /proc (Linux): for the HTTP figures, where the app, autocannon and
 * redis-server share the machine and requests per second alone cannot say whose CPU a request costs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICK_MICROS = 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** utime + stime of process `pid` so far, in µs (counted in clock ticks, 10 ms on most Linux systems). */
export function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MICROS;
}

/** The pid of the redis-server a client is connected to (INFO server). */
export async function redisPid(client: { info(section: string): Promise<string> }): Promise<number> {
  return Number(/process_id:(\d+)/.exec(await client.info('server'))![1]);
}
