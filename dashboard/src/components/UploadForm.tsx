import { useId, useRef, useState, type FormEvent } from 'react';
import type { CreatedJob } from '../api';
import { formatBytes } from '../format';
import { useUpload, type UploadState } from '../hooks/useUpload';

export function UploadForm({ onUploaded }: { onUploaded: (job: CreatedJob) => void }) {
  const inputId = useId();
  const hintId = useId();
  const formRef = useRef<HTMLFormElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const { state, start, cancel } = useUpload();
  const uploading = state.phase === 'uploading';

  const onSubmit = async (e: FormEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    if (file === null || uploading) return;
    const job = await start(file);
    if (job !== null) {
      formRef.current?.reset();
      setFile(null);
      onUploaded(job);
    }
  };

  return (
    <section className="panel" aria-labelledby="upload-heading">
      <h2 id="upload-heading">Transcode a video</h2>
      <form ref={formRef} className="upload-form" onSubmit={(e) => void onSubmit(e)}>
        <label htmlFor={inputId}>Video file</label>
        <input
          id={inputId}
          data-testid="upload-input"
          type="file"
          name="file"
          accept="video/*,.mkv,.mov,.webm,.ts,.m2ts"
          required
          disabled={uploading}
          aria-describedby={hintId}
          onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)}
        />
        <p id={hintId} className="hint">
          The coordinator splits it into chunks that volunteers’ browser tabs transcode into each rendition.
        </p>
        <div className="actions">
          <button type="submit" data-testid="upload-submit" disabled={uploading || file === null}>
            Upload
          </button>
          {uploading && (
            <button type="button" className="secondary" onClick={cancel}>
              Cancel
            </button>
          )}
        </div>
      </form>
      <UploadStatus state={state} />
    </section>
  );
}

/**
 * The bar and byte counts update many times a second, so they stay outside
 * the live region; only phase changes are announced to screen readers.
 */
function UploadStatus({ state }: { state: UploadState }) {
  let announcement = '';
  if (state.phase === 'uploading') {
    const { loaded, total } = state.progress;
    announcement = total !== null && loaded >= total ? `${state.fileName} sent, waiting for the coordinator…` : `Uploading ${state.fileName}…`;
  } else if (state.phase === 'done') {
    announcement = `Uploaded ${state.fileName}; the job is ${state.job.state}.`;
  }
  return (
    <div className="upload-status">
      {state.phase === 'uploading' && (
        <div className="upload-progress">
          <progress
            className="bar"
            aria-label={`Uploading ${state.fileName}`}
            value={state.progress.total === null ? undefined : state.progress.loaded}
            max={state.progress.total ?? undefined}
          />
          <span className="muted">
            {formatBytes(state.progress.loaded)}
            {state.progress.total === null ? '' : ` of ${formatBytes(state.progress.total)}`}
          </span>
        </div>
      )}
      <p role="status" className={state.phase === 'done' ? 'ok' : undefined}>
        {announcement}
      </p>
      {state.phase === 'failed' && (
        <p role="alert" className="error">
          Upload of {state.fileName} failed: {state.message}
        </p>
      )}
    </div>
  );
}
