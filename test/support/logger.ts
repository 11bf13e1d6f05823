/** A logger for tests: keeps every line instead of printing it, so that tests can read what was reported. */
import type { MemoLockLogger } from '../../lib';

export interface LoggedLine {
  level: 'log' | 'warn' | 'error';
  message: string;
}

export interface RecordingLogger extends MemoLockLogger {
  readonly lines: LoggedLine[];
  /** The lines whose message matches `pattern`. */
  matching(pattern: RegExp): LoggedLine[];
}

export function recordingLogger(): RecordingLogger {
  const lines: LoggedLine[] = [];
  return {
    lines,
    log: (message) => void lines.push({ level: 'log', message }),
    warn: (message) => void lines.push({ level: 'warn', message }),
    error: (message) => void lines.push({ level: 'error', message }),
    matching: (pattern) => lines.filter((line) => pattern.test(line.message)),
  };
}
