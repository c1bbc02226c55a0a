/**
 * Structured logs for Cloud Logging: one JSON object a line on stdout, with `severity`,
 * `message` and the trace key Cloud Logging links to requests. pino writes them;
 * anything that looks like a secret is redacted before it is written.
 */
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogEntry, LogSink, Severity } from '../core/ports.ts';

const LEVEL: Record<Severity, 'debug' | 'info' | 'warn' | 'error'> = { DEBUG: 'debug', INFO: 'info', NOTICE: 'info', WARNING: 'warn', ERROR: 'error' };

/** Keys never written, at any depth pino's redaction reaches. */
export const REDACTED_PATHS = [
  'token',
  'accessToken',
  'authorization',
  'secret',
  'webhookSecret',
  'apiKey',
  '*.token',
  '*.accessToken',
  '*.authorization',
  '*.Authorization',
  '*.secret',
  '*.webhookSecret',
  '*.apiKey',
  '*.headers.authorization',
  '*.headers.Authorization',
];
/** Any field whose name says it holds a secret is censored, at any depth. */
const SECRET_KEY = /token|secret|password|authorization|api[-_]?key|credential/i;
const SECRET_VALUE = /(Bearer\s+)[A-Za-z0-9._~+/-]+=*|whsec_[A-Za-z0-9+/=]+|ya29\.[A-Za-z0-9._-]+/g;

export function createCloudLoggingSink(opts: { level?: 'debug' | 'info' | 'warn' | 'error'; gcpProject?: string; destination?: DestinationStream } = {}): LogSink {
  const logger: Logger = pino(
    {
      level: opts.level ?? 'info',
      messageKey: 'message',
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ severity: label === 'warn' ? 'WARNING' : label.toUpperCase() }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    opts.destination,
  );
  return {
    write(entry: LogEntry) {
      const { severity, message, trace, ...fields } = entry;
      const traceField = trace && opts.gcpProject ? { 'logging.googleapis.com/trace': `projects/${opts.gcpProject}/traces/${trace}` } : {};
      const censored = JSON.stringify({ ...fields, ...traceField }, (key, value: unknown) => (key && SECRET_KEY.test(key) && value !== null && typeof value !== 'object' ? '[redacted]' : value));
      const safe = JSON.parse(censored.replace(SECRET_VALUE, (_m, bearer: string | undefined) => `${bearer ?? ''}[redacted]`)) as Record<string, unknown>;
      logger[LEVEL[severity]](safe, message.replace(SECRET_VALUE, (_m, bearer: string | undefined) => `${bearer ?? ''}[redacted]`));
    },
  };
}
