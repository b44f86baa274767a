/**
 * What the dashboard asks of the coordinator's HTTP API: uploads and job
 * actions. (What it shows arrives pushed, through live/useEvents.ts.)
 * Responses are validated with the schemas in @tabgrid/shared, so a
 * coordinator that drifts from the contract shows up as one clear error
 * instead of a broken render.
 */
import { apiErrorSchema, jobViewSchema, type JobView, type RenditionName } from '@tabgrid/shared';

/** A failed API call: the coordinator's own `{ error: { code, message } }` when it sent one. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  constructor(
    /** HTTP status, or 0 when no response arrived. */
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The part of a zod schema this module uses; keeps zod itself out of the dashboard's dependencies. */
interface Schema<T> {
  safeParse(data: unknown): { success: true; data: T } | { success: false; error: { message: string } };
}

const createdJobSchema = jobViewSchema.pick({ id: true, state: true });
export type CreatedJob = Pick<JobView, 'id' | 'state'>;

function parseBody<T>(schema: Schema<T>, text: string, what: string, status: number): T {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new ApiRequestError(status, 'bad_response', `${what}: the response is not JSON`, { cause });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new ApiRequestError(status, 'bad_response', `${what}: unexpected response shape`, { cause: parsed.error });
  }
  return parsed.data;
}

/** Turns a non-2xx response body into an ApiRequestError, preferring the API's own message. */
function errorFromBody(status: number, statusText: string, text: string): ApiRequestError {
  try {
    const parsed = apiErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success) return new ApiRequestError(status, parsed.data.error.code, parsed.data.error.message);
  } catch {
    // Not JSON (a proxy's HTML error page, say): fall through to the status line.
  }
  return new ApiRequestError(status, 'http_error', `HTTP ${status}${statusText ? ` ${statusText}` : ''}`);
}

/** The three things a person can do to a job; each answers with the API's own words when refused (409 and so on). */
export type JobAction = 'cancel' | 'retry' | 'delete';

export async function jobAction(id: string, action: JobAction): Promise<void> {
  const path = `/api/jobs/${encodeURIComponent(id)}`;
  const [method, url] = action === 'delete' ? ['DELETE', path] : ['POST', `${path}/${action}`];
  let res: Response;
  try {
    res = await fetch(url, { method, headers: { accept: 'application/json' } });
  } catch (cause) {
    throw new ApiRequestError(0, 'network', 'cannot reach the coordinator', { cause });
  }
  if (!res.ok) throw errorFromBody(res.status, res.statusText, await res.text());
}

export interface UploadProgress {
  readonly loaded: number;
  /** null when the browser cannot tell the body's size. */
  readonly total: number | null;
}

/**
 * Uploads a source video as multipart field `file`, with the renditions
 * chosen (none: the coordinator's default ladder). XMLHttpRequest rather than
 * fetch because only XHR reports upload progress in every browser; the body
 * is the File itself, which the browser streams from disk.
 * Rejects with a DOMException named AbortError when `signal` aborts.
 */
export function uploadJob(
  file: File,
  options: { renditions?: readonly RenditionName[]; onProgress?: (p: UploadProgress) => void; signal?: AbortSignal } = {},
): Promise<CreatedJob> {
  const { renditions, onProgress, signal } = options;
  return new Promise<CreatedJob>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('upload aborted', 'AbortError'));
      return;
    }
    const xhr = new XMLHttpRequest();
    const onAbortSignal = (): void => xhr.abort();
    const cleanup = (): void => signal?.removeEventListener('abort', onAbortSignal);
    signal?.addEventListener('abort', onAbortSignal, { once: true });

    xhr.upload.addEventListener('progress', (e) => {
      onProgress?.({ loaded: e.loaded, total: e.lengthComputable ? e.total : null });
    });
    xhr.addEventListener('load', () => {
      cleanup();
      const text = typeof xhr.response === 'string' ? xhr.response : '';
      if (xhr.status < 200 || xhr.status >= 300) {
        reject(errorFromBody(xhr.status, xhr.statusText, text));
        return;
      }
      try {
        resolve(parseBody(createdJobSchema, text, 'POST /api/jobs', xhr.status));
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    xhr.addEventListener('error', () => {
      cleanup();
      reject(new ApiRequestError(0, 'network', 'the upload failed: cannot reach the coordinator'));
    });
    xhr.addEventListener('abort', () => {
      cleanup();
      reject(new DOMException('upload aborted', 'AbortError'));
    });

    const body = new FormData();
    if (renditions !== undefined && renditions.length > 0) body.append('renditions', renditions.join(','));
    body.append('file', file, file.name);
    xhr.open('POST', '/api/jobs');
    xhr.responseType = 'text';
    xhr.setRequestHeader('accept', 'application/json');
    xhr.send(body);
  });
}

/** A message fit to show a person, whatever was thrown. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

export function isAbortError(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}
