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
