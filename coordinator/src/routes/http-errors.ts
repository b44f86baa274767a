/**
 * Domain errors → HTTP, in one place. The domain throws NotFoundError,
 * ConflictError, …; only app.onError (through this map) knows which status
 * each one is.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ConflictError,
  ForbiddenError,
  InvalidRequestError,
  InvalidSourceError,
  MisdirectedRequestError,
  NotFoundError,
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
  [ConflictError, 409],
  [TooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [MisdirectedRequestError, 421],
  [InvalidSourceError, 422],
  [TooManyRequestsError, 429],
];

/**
 * Headers an error's answer must carry: the authentication scheme with a 401
 * (RFC 9110 requires WWW-Authenticate), when to come back with a 429.
 */
export function httpHeadersOf(err: unknown): Record<string, string> {
  if (err instanceof UnauthorizedError) {
    return { 'WWW-Authenticate': err.invalidToken ? 'Bearer realm="tabgrid", error="invalid_token"' : 'Bearer realm="tabgrid"' };
  }
  if (err instanceof TooManyRequestsError) return { 'Retry-After': String(err.retryAfterSeconds) };
  return {};
}

/** The status a thrown error answers with: 4xx for the domain's request errors, 500 for everything else. */
export function httpStatusOf(err: unknown): ContentfulStatusCode {
  for (const [cls, status] of STATUS_BY_CLASS) if (err instanceof cls) return status;
  return 500;
}
