/**
 * Where the functions' structured logs go locally: every entry at or above LOG_LEVEL as a
 * JSON line in a file (started afresh by each run) (the same redaction as in Cloud Logging), and warnings and errors
 * also as one short line on the console, so the console stays readable.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createCloudLoggingSink } from '../../functions/src/adapters/log-sink.cloud-logging.ts';
import type { LogEntry, LogSink } from '../../functions/src/core/ports.ts';

export interface FileLogSink extends LogSink {
  readonly path: string;
  close(): Promise<void>;
}

export function createLocalLogSink(path: string, level: 'debug' | 'info' | 'warn' | 'error', console: (line: string) => void): FileLogSink {
  mkdirSync(dirname(path), { recursive: true });
  const stream: WriteStream = createWriteStream(path, { flags: 'w' });
  stream.on('error', () => undefined);
  const file = createCloudLoggingSink({ level, destination: stream });
  let closed = false;
  return {
    path,
    write(entry: LogEntry) {
      // Work still finishing while the stack stops must not write to a closed file.
      if (closed) return;
      file.write(entry);
      if (entry.severity === 'WARNING' || entry.severity === 'ERROR') {
        const job = entry.jobId ? ` job ${String(entry.jobId).slice(0, 8)}` : '';
        // The sink above redacts the file copy; the console line carries only the event name and message.
        const message = entry.message.replace(/(Bearer\s+)\S+|whsec_[A-Za-z0-9+/=]+/g, '$1[redacted]');
        console(`${entry.severity} ${entry.event}${job}: ${message.length > 200 ? `${message.slice(0, 200)}…` : message}`);
      }
    },
    close: () => {
      closed = true;
      return new Promise<void>((r) => stream.end(() => r()));
    },
  };
}
