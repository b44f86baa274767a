/**
 * Domain errors → HTTP, in one place. The domain throws NotFoundError,
 * ConflictError, …; only app.onError (through this map) knows which status
 * each one is.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  BusyError,
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  InvalidSourceError,
  MisdirectedRequestError,
  NotFoundError,
  RequestTimeoutError,
  type TabgridError,
  TooLargeError,
  TooManyRequestsError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from '../errors.js';

const STATUS_BY_CLASS: [new (...args: never[]) => TabgridError, ContentfulStatusCode][] = [
  [InvalidRequestError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [RequestTimeoutError, 408],
  [ConflictError, 409],
  [TooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [MisdirectedRequestError, 421],
  [InvalidSourceError, 422],
  [BusyError, 503],
  [TooManyRequestsError, 429],
];

/** The status a thrown error answers with: 4xx for the domain's request errors, 500 for everything else. */
export function httpStatusOf(err: unknown): ContentfulStatusCode {
  for (const [cls, status] of STATUS_BY_CLASS) if (err instanceof cls) return status;
  return 500;
}

/**
 * Headers that go with the error's answer: the authentication scheme with a
 * 401 (RFC 9110 requires WWW-Authenticate), Retry-After when the same request
 * may succeed later (429, 503), and Connection: close when the request's body
 * was not read to its end (a refused, cut-off or oversized request), so the
 * socket ends instead of staying open for the rest of the body.
 */
export function httpHeadersOf(err: unknown): Record<string, string> {
  if (err instanceof UnauthorizedError) {
    return { 'WWW-Authenticate': err.invalidToken ? 'Bearer realm="tabgrid", error="invalid_token"' : 'Bearer realm="tabgrid"' };
  }
  if (err instanceof TooManyRequestsError) return { 'Retry-After': String(err.retryAfterSeconds) };
  if (err instanceof BusyError) return { 'Retry-After': String(err.retryAfterSeconds), Connection: 'close' };
  if (err instanceof RequestTimeoutError || err instanceof TooLargeError) return { Connection: 'close' };
  return {};
}
