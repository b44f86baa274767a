import type { JobView, ShareLink } from '@tabgrid/shared';
import { useId, useRef, useState } from 'react';
import { api, errorMessage } from '../api';
import { noteUnauthorized } from '../auth';
import { formatDate } from '../format';

type ShareState =
  | { readonly phase: 'idle' }
  | { readonly phase: 'busy' }
  | { readonly phase: 'ready'; readonly link: ShareLink; readonly copied: boolean }
  | { readonly phase: 'failed'; readonly message: string };

/**
 * "Share": a link that shows this one job (its player, outputs and
 * thumbnails) to whoever has it, with no login and nothing else of the
 * grid. Each press makes a new link; links end on their own (7 days) or
 * when the job is deleted.
 */
export function ShareControl({ job }: { job: JobView }) {
  const [state, setState] = useState<ShareState>({ phase: 'idle' });
  const fieldId = useId();
  const field = useRef<HTMLInputElement>(null);

  const create = async (): Promise<void> => {
    setState({ phase: 'busy' });
    try {
      const link = await api.shareJob(job.id);
      setState({ phase: 'ready', link, copied: false });
      requestAnimationFrame(() => field.current?.select());
    } catch (e) {
      if (!noteUnauthorized(e)) setState({ phase: 'failed', message: errorMessage(e) });
    }
  };
  const copy = async (link: ShareLink): Promise<void> => {
    try {
      await navigator.clipboard.writeText(link.url);
      setState({ phase: 'ready', link, copied: true });
    } catch {
      // No clipboard (plain http on another machine): the link is selected for copying by hand.
      field.current?.select();
    }
  };

  return (
    <div className="share" data-testid="share-control">
      <button type="button" className="secondary" onClick={() => void create()} disabled={state.phase === 'busy'} data-testid="share">
        {state.phase === 'busy' ? 'Making a link…' : 'Share'}
      </button>
      {state.phase === 'ready' && (
        <div className="share-box">
          <label htmlFor={fieldId}>Anyone with this link can watch and download this job, and see nothing else:</label>
          <div className="share-row">
            <input id={fieldId} ref={field} readOnly value={state.link.url} onFocus={(e) => e.target.select()} data-testid="share-url" />
            <button type="button" onClick={() => void copy(state.link)}>
              {state.copied ? 'Copied' : 'Copy'}
            </button>
          </div>
          <p className="hint">
            Works until{' '}
            <time dateTime={state.link.expiresAt} title={formatDate(state.link.expiresAt)}>
              {formatDate(state.link.expiresAt)}
            </time>
            , or until the job is deleted.
          </p>
        </div>
      )}
      {state.phase === 'failed' && (
        <p className="error" role="alert">
          Could not make a link: {state.message}
        </p>
      )}
    </div>
  );
}
