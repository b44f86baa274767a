/**
 * The dashboard's client of the coordinator's HTTP API (the shared one, on
 * the page's own origin), plus the one request it sends itself: the upload.
 * (What the dashboard shows arrives pushed, through live/useEvents.ts.)
 */
import { ApiRequestError, createApiClient, type CreatedJob, type JobEncoderSetting, type RenditionName } from '@tabgrid/shared';

export const api = createApiClient({ baseUrl: '' });

export interface UploadProgress {
  readonly loaded: number;
  /** null when the browser cannot tell the body's size. */
  readonly total: number | null;
}

/**
 * Uploads a source video, with the renditions chosen (none: the
 * coordinator's default). XMLHttpRequest rather than the client's fetch
 * because only XHR reports upload progress in every browser; the request
 * (URL, headers, form) comes from the shared client and its answer is read
 * there too, so this knows nothing of the route. The body is the File
 * itself, which the browser streams from disk.
 * Rejects with a DOMException named AbortError when `signal` aborts.
 */
export function uploadJob(
  file: File,
  options: {
    renditions?: readonly RenditionName[];
    encoder?: JobEncoderSetting;
    onProgress?: (p: UploadProgress) => void;
    signal?: AbortSignal;
  } = {},
): Promise<CreatedJob> {
  const { renditions, encoder, onProgress, signal } = options;
  return new Promise<CreatedJob>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DOMException('upload aborted', 'AbortError'));
      return;
    }
    const request = api.submitFileRequest(file, { ...(renditions ? { renditions } : {}), ...(encoder ? { encoder } : {}) });
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
      try {
        resolve(api.readSubmitResponse({ status: xhr.status, statusText: xhr.statusText, text }));
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

    xhr.open(request.method, request.url);
    xhr.responseType = 'text';
    for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
    xhr.send(request.body ?? null);
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
