import { TERMINAL_JOB_STATES, type JobView } from '@tabgrid/shared';
import { useState } from 'react';
import { api, errorMessage } from '../api';
import { noteUnauthorized } from '../auth';
import { navigate, paths } from '../router';
import { ConfirmDialog } from './ConfirmDialog';

/** The three things a person can do to a job; each answers with the API's own words when refused (409 and so on). */
type JobAction = 'cancel' | 'retry' | 'delete';

const PERFORM: Record<JobAction, (id: string) => Promise<unknown>> = {
  cancel: (id) => api.cancelJob(id),
  retry: (id) => api.retryJob(id),
  delete: (id) => api.deleteJob(id),
};

const COPY: Record<JobAction, { button: string; title: string; body: string; confirm: string; keep: string }> = {
  cancel: {
    button: 'Cancel job',
    title: 'Cancel this job?',
    body: 'Tabs working on it stop, and its chunks and partial results are deleted. You can retry it later, which starts it over.',
    confirm: 'Cancel job',
    keep: 'Keep it running',
  },
  retry: {
    button: 'Retry',
    title: 'Retry this job?',
    body: 'It runs again. A failed job keeps the chunks that were already accepted and tries the rest again; a canceled one starts over.',
    confirm: 'Retry job',
    keep: 'Not now',
  },
  delete: {
    button: 'Delete',
    title: 'Delete this job?',
    body: 'The job and every file it made, the transcoded videos included, are deleted for good.',
    confirm: 'Delete for good',
    keep: 'Keep it',
  },
};

/** What can be done to a job in its state; each behind a confirmation. The change itself arrives pushed. */
export function JobActions({ job }: { job: JobView }) {
  const [asking, setAsking] = useState<JobAction | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ended = TERMINAL_JOB_STATES.includes(job.state);
  const available: JobAction[] = ended ? [...(job.state === 'done' ? [] : (['retry'] as const)), 'delete'] : ['cancel'];

  const run = async (action: JobAction): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await PERFORM[action](job.id);
      setAsking(null);
      if (action === 'delete') navigate(paths.jobs());
    } catch (e) {
      if (noteUnauthorized(e)) return;
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="job-actions">
      {available.map((action) => (
        <button
          key={action}
          type="button"
          className={action === 'retry' ? undefined : 'secondary danger-outline'}
          data-testid={action}
          onClick={() => {
            setError(null);
            setAsking(action);
          }}
        >
          {COPY[action].button}
        </button>
      ))}
      {asking !== null && (
        <ConfirmDialog
          title={COPY[asking].title}
          confirmLabel={COPY[asking].confirm}
          cancelLabel={COPY[asking].keep}
          busy={busy}
          danger={asking !== 'retry'}
          error={error}
          onConfirm={() => void run(asking)}
          onClose={() => setAsking(null)}
        >
          <p>
            <strong>{job.name}</strong>
          </p>
          <p>{COPY[asking].body}</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
