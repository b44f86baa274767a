/**
 * Domain errors → HTTP, in one place. The domain throws NotFoundError,
 * ConflictError, …; only app.onError (through this map) knows which status
 * each one is.
 */
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import {
  ConflictError,
  InvalidRequestError,
  InvalidSourceError,
  NotFoundError,
  type TabgridError,
  TooLargeError,
  UnsupportedMediaTypeError,
} from '../errors.js';

const STATUS_BY_CLASS: [new (...args: never[]) => TabgridError, ContentfulStatusCode][] = [
  [InvalidRequestError, 400],
  [NotFoundError, 404],
  [ConflictError, 409],
  [TooLargeError, 413],
  [UnsupportedMediaTypeError, 415],
  [InvalidSourceError, 422],
];

/** The status a thrown error answers with: 4xx for the domain's request errors, 500 for everything else. */
export function httpStatusOf(err: unknown): ContentfulStatusCode {
  for (const [cls, status] of STATUS_BY_CLASS) if (err instanceof cls) return status;
  return 500;
}
