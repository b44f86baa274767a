import { RENDITION_NAMES, type CreatedJob, type JobEncoderSetting, type RenditionName } from '@tabgrid/shared';
import { useEffect, useId, useRef, useState, type DragEvent, type FormEvent } from 'react';
import { formatBytes } from '../format';
import { useUpload, type UploadState } from '../hooks/useUpload';

const ACCEPT = 'video/*,.mkv,.mov,.webm,.ts,.m2ts';

const ENCODER_CHOICES: readonly { value: JobEncoderSetting; label: string; hint: string }[] = [
  { value: 'x264', label: 'x264', hint: 'x264 in every tab (ffmpeg.wasm): the smallest files, the slowest.' },
  {
    value: 'webcodecs',
    label: 'WebCodecs',
    hint: 'The browsers’ own H.264 encoder: several times faster, about twice the bits for the same quality; only tabs that have it take the work.',
  },
  { value: 'auto', label: 'Auto', hint: 'WebCodecs when at least half of the connected tabs have it and the video is H.264, else x264.' },
];

/**
 * Pick or drop a video, optionally choose renditions, upload with progress.
 * The file input stays the real control (labelled, focusable, what tests
 * drive); the drop zone is its label, so a click anywhere on it opens the
 * picker and a drop anywhere on the page lands here rather than making the
 * browser navigate away to the file.
 */
export function UploadForm({ onUploaded }: { onUploaded: (job: CreatedJob) => void }) {
  const inputId = useId();
  const titleId = useId();
  const hintId = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [renditions, setRenditions] = useState<RenditionName[]>([]);
  const [encoder, setEncoder] = useState<JobEncoderSetting>('x264');
  const [dragging, setDragging] = useState(false);
  const { state, start, cancel } = useUpload();
  const uploading = state.phase === 'uploading';

  useEffect(() => {
    // Outside the zone a dropped file would replace the dashboard with the video.
    const stray = (e: globalThis.DragEvent): void => e.preventDefault();
    window.addEventListener('dragover', stray);
    window.addEventListener('drop', stray);
    return () => {
      window.removeEventListener('dragover', stray);
      window.removeEventListener('drop', stray);
    };
  }, []);

  const choose = (f: File | null): void => {
    setFile(f);
    if (f === null && inputRef.current) inputRef.current.value = '';
  };
  const onDrop = (e: DragEvent<HTMLElement>): void => {
    e.preventDefault();
    setDragging(false);
    if (uploading) return;
    const dropped = e.dataTransfer.files[0];
    if (dropped) choose(dropped);
  };
  const onSubmit = async (e: FormEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    if (file === null || uploading) return;
    const job = await start(file, renditions, encoder);
    if (job !== null) {
      choose(null);
      onUploaded(job);
    }
  };
  const toggle = (r: RenditionName, on: boolean): void =>
    setRenditions((list) => (on ? RENDITION_NAMES.filter((n) => n === r || list.includes(n)) : list.filter((n) => n !== r)));

  return (
    <section className="panel" aria-labelledby="upload-heading">
      <h2 id="upload-heading">Transcode a video</h2>
      <form className="upload-form" onSubmit={(e) => void onSubmit(e)}>
        <label
          htmlFor={inputId}
          className={`dropzone${dragging ? ' dragging' : ''}${uploading ? ' disabled' : ''}`}
          onDragEnter={(e) => {
            e.preventDefault();
            if (!uploading) setDragging(true);
          }}
          onDragOver={(e) => e.preventDefault()}
          onDragLeave={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
          }}
          onDrop={onDrop}
        >
          <span className="dropzone-title" id={titleId}>
            {file === null ? (
              <>
                <span className="pointer-only">Drop a video here, or choose a file</span>
                <span className="touch-only">Choose a video</span>
              </>
            ) : (
              file.name
            )}
          </span>
          <span className="dropzone-sub" id={hintId}>
            {file === null
              ? 'MP4, MOV, MKV, WebM… Large files are fine: they stream to the coordinator.'
              : `${formatBytes(file.size)} · choose again to change it`}
          </span>
          <input
            ref={inputRef}
            id={inputId}
            className="file-input"
            data-testid="upload-input"
            type="file"
            name="file"
            accept={ACCEPT}
            disabled={uploading}
            // Named by the title alone; the line under it is its description, not read twice.
            aria-labelledby={titleId}
            aria-describedby={hintId}
            onChange={(e) => choose(e.currentTarget.files?.[0] ?? null)}
          />
        </label>
        <fieldset className="renditions" disabled={uploading}>
          <legend>Renditions</legend>
          <div className="rendition-options">
            {RENDITION_NAMES.map((r) => (
              <label key={r} className="check">
                <input
                  type="checkbox"
                  name="renditions"
                  value={r}
                  checked={renditions.includes(r)}
                  onChange={(e) => toggle(r, e.currentTarget.checked)}
                />
                {r}
              </label>
            ))}
          </div>
          <p className="hint">
            {renditions.length === 0 ? 'None chosen: the coordinator’s default ladder.' : `Will make ${renditions.join(', ')}.`} Rungs
            taller than the video are skipped.
          </p>
        </fieldset>
        <fieldset className="encoder" disabled={uploading}>
          <legend>Encoder</legend>
          <div className="rendition-options">
            {ENCODER_CHOICES.map((c) => (
              <label key={c.value} className="check">
                <input
                  type="radio"
                  name="encoder"
                  value={c.value}
                  data-testid={`encoder-${c.value}`}
                  checked={encoder === c.value}
                  onChange={() => setEncoder(c.value)}
                />
                {c.label}
              </label>
            ))}
          </div>
          <p className="hint">{ENCODER_CHOICES.find((c) => c.value === encoder)?.hint}</p>
        </fieldset>
        <div className="actions">
          <button type="submit" data-testid="upload-submit" disabled={uploading || file === null}>
            Upload and transcode
          </button>
          {uploading && (
            <button type="button" className="secondary" onClick={cancel}>
              Stop upload
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
    announcement =
      total !== null && loaded >= total ? `${state.fileName} sent; the coordinator is checking it…` : `Uploading ${state.fileName}…`;
  } else if (state.phase === 'done') {
    announcement = `Uploaded ${state.fileName}.`;
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
          <span className="muted count">
            {formatBytes(state.progress.loaded)}
            {state.progress.total === null ? '' : ` of ${formatBytes(state.progress.total)}`}
          </span>
        </div>
      )}
      <p role="status" className={state.phase === 'done' ? 'ok' : undefined}>
        {announcement}
      </p>
      {state.phase === 'failed' && (
        <p role="alert" className="error" data-testid="upload-error">
          {state.fileName} was not accepted: {state.message}
        </p>
      )}
    </div>
  );
}
