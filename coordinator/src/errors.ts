/**
 * The coordinator's error classes. Each has a stable `code`; retryable and
 * permanent failures are different classes so callers can decide without
 * parsing messages.
 */
export class TabgridError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The lease a worker presented is no longer current: expired, reassigned or finished. */
export class LeaseLostError extends TabgridError {
  constructor(leaseId: string, detail = 'the lease is no longer held by this worker') {
    super('lease_lost', `lease ${leaseId}: ${detail}`);
  }
}

/** Input that can never succeed as given (not a video, bad parameters). Not retried. */
export class PermanentError extends TabgridError {}

/** A dependency is unavailable or timed out; the same operation may succeed later. */
export class RetryableError extends TabgridError {}

/** A native tool (ffmpeg/ffprobe) exited badly. */
export class MediaToolError extends TabgridError {
  constructor(
    tool: string,
    message: string,
    readonly stderr: string,
  ) {
    super('media_tool_failed', `${tool}: ${message}`);
  }
}

/**
 * A native tool (ffmpeg, ffprobe, yt-dlp) was stopped at one of its limits:
 * its time limit, its output cap or its memory ceiling. The same input hits
 * the same limit again, so it is permanent: the source is refused, or the
 * job fails with this message.
 */
export class ToolLimitError extends PermanentError {
  constructor(
    tool: string,
    readonly limit: 'time' | 'output' | 'memory',
    message: string,
  ) {
    super('tool_limit', `${tool}: ${message}`);
  }
}

// ---- Domain errors a request can end in. The domain knows nothing of HTTP:
// ---- app.ts maps each class to its status in one place (app.onError).

/** The named thing does not exist (a job id nobody created, a playlist a job does not have). */
export class NotFoundError extends TabgridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not_found', message, options);
  }
}

/** The thing exists but its state forbids the request (cancel an ended job, delete a running one). */
export class ConflictError extends TabgridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

/** The request itself is malformed: a bad parameter, a broken multipart body. */
export class InvalidRequestError extends TabgridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('bad_request', message, options);
  }
}

/** The request body is of a kind this route does not take. */
export class UnsupportedMediaTypeError extends TabgridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unsupported_media_type', message, options);
  }
}

/** Over a configured size limit (MAX_UPLOAD_BYTES). */
export class TooLargeError extends TabgridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('too_large', message, options);
  }
}

/** The client was too slow sending its request: under the minimum upload rate, or over the upload time limit. */
export class RequestTimeoutError extends TabgridError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('request_timeout', message, options);
  }
}

/** Too many requests of this kind are already being served; the same request may succeed after `retryAfterSeconds`. */
export class BusyError extends TabgridError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('busy', message);
  }
}

/**
 * The request carries no valid operator credential (ADMIN_TOKEN as a bearer
 * token, or a session cookie). `invalidToken` is true when a credential was
 * sent and is wrong, which bearer clients are told in WWW-Authenticate.
 */
export class UnauthorizedError extends TabgridError {
  constructor(
    message: string,
    readonly invalidToken = false,
  ) {
    super('unauthorized', message);
  }
}

/** The request is understood and authenticated (or needs none) but refused: a cross-site state change, a foreign Origin. */
export class ForbiddenError extends TabgridError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** The request names a host this coordinator does not serve (DNS rebinding, a wrong PUBLIC_URL). */
export class MisdirectedRequestError extends TabgridError {
  constructor(message: string) {
    super('misdirected_request', message);
  }
}

/** Too many attempts from one client (failed logins); `retryAfterSeconds` says when to try again. */
export class TooManyRequestsError extends TabgridError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super('too_many_requests', message);
  }
}

/**
 * A submitted source that can never become a job as given: not a video,
 * empty, too long, a URL that does not lead to a video. Permanent.
 */
export class InvalidSourceError extends PermanentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unprocessable', message, options);
  }
}

/** A state change the job or task state machine does not allow: a bug in the caller, never a user error. */
export class IllegalTransitionError extends TabgridError {
  constructor(what: string, from: readonly string[], to: string) {
    super('illegal_transition', `${what}: no transition from ${from.join(' | ')} to ${to}`);
  }
}
