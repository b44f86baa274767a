/**
 * A cap on the small JSON bodies (a login, a share request): they are read
 * whole into memory, so one may not be large. Counted as it streams, so a
 * chunked body without Content-Length is cut off too.
 */
import { bodyLimit } from 'hono/body-limit';
import { TooLargeError } from '../errors.js';

export const SMALL_BODY_BYTES = 4096;

export const smallBody = bodyLimit({
  maxSize: SMALL_BODY_BYTES,
  onError: () => {
    throw new TooLargeError(`the body is larger than ${SMALL_BODY_BYTES} bytes; this route takes a small JSON object`);
  },
});
