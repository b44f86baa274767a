/** Upload state for the form: one upload at a time, cancelable, with progress. */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { CreatedJob, JobEncoderSetting, RenditionName } from '@tabgrid/shared';
import { errorMessage, isAbortError, uploadJob, type UploadProgress } from '../api';
import { noteUnauthorized } from '../auth';

export type UploadState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'uploading'; readonly fileName: string; readonly progress: UploadProgress }
  | { readonly phase: 'done'; readonly fileName: string; readonly job: CreatedJob }
  | { readonly phase: 'failed'; readonly fileName: string; readonly message: string };

export interface Upload {
  readonly state: UploadState;
  /** Starts an upload (no renditions: the coordinator's default); resolves with the new job, or null when it failed or was canceled. */
  readonly start: (file: File, renditions?: readonly RenditionName[], encoder?: JobEncoderSetting) => Promise<CreatedJob | null>;
  readonly cancel: () => void;
}

export function useUpload(): Upload {
  const [state, setState] = useState<UploadState>({ phase: 'idle' });
  const controllerRef = useRef<AbortController | null>(null);

  // Leaving the page mid-upload aborts the request rather than orphaning it.
  useEffect(() => () => controllerRef.current?.abort(), []);

  const start = useCallback(
    async (file: File, renditions?: readonly RenditionName[], encoder?: JobEncoderSetting): Promise<CreatedJob | null> => {
      controllerRef.current?.abort();
      const controller = new AbortController();
      controllerRef.current = controller;
      const fileName = file.name;
      setState({ phase: 'uploading', fileName, progress: { loaded: 0, total: file.size } });
      try {
        const job = await uploadJob(file, {
          signal: controller.signal,
          ...(renditions ? { renditions } : {}),
          ...(encoder ? { encoder } : {}),
          onProgress: (progress) => setState({ phase: 'uploading', fileName, progress }),
        });
        setState({ phase: 'done', fileName, job });
        return job;
      } catch (e) {
        if (isAbortError(e) || noteUnauthorized(e)) setState({ phase: 'idle' });
        else setState({ phase: 'failed', fileName, message: errorMessage(e) });
        return null;
      } finally {
        if (controllerRef.current === controller) controllerRef.current = null;
      }
    },
    [],
  );

  const cancel = useCallback(() => controllerRef.current?.abort(), []);

  return { state, start, cancel };
}
