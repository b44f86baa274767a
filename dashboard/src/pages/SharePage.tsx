import { ApiRequestError, TERMINAL_JOB_STATES, type SharedJob } from '@tabgrid/shared';
import { useEffect, useState } from 'react';
import { api, errorMessage } from '../api';
import { Outputs } from '../components/Outputs';
import { PageHeading } from '../components/PageHeading';
import { TaskProgress } from '../components/Progress';
import { formatDate, formatSource, JOB_STATE_LABEL } from '../format';

/** While the shared job runs, its page asks again this often (a viewer has no event stream: that is the operators'). */
const POLL_MS = 5000;

type Loaded = { readonly phase: 'loading' } | { readonly phase: 'shown'; readonly shared: SharedJob } | { readonly phase: 'gone' };

/**
 * `/share/<capability>`: one job, as its share link shows it to anyone who
 * has the link: the player, the downloads, the thumbnails. No login, no
 * other page of the dashboard (the links to them would only ask for one).
 */
export function SharePage({ capability }: { capability: string }) {
  const [loaded, setLoaded] = useState<Loaded>({ phase: 'loading' });
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async (): Promise<void> => {
      try {
        const shared = await api.sharedJob(capability, { signal: abort.signal });
        setLoaded({ phase: 'shown', shared });
        setProblem(null);
        if (!TERMINAL_JOB_STATES.includes(shared.job.state)) timer = setTimeout(() => void load(), POLL_MS);
      } catch (e) {
        if (abort.signal.aborted) return;
        if (e instanceof ApiRequestError && e.status === 404) {
          setLoaded({ phase: 'gone' });
          return;
        }
        setProblem(errorMessage(e));
        timer = setTimeout(() => void load(), POLL_MS);
      }
    };
    void load();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [capability]);

  const title = loaded.phase === 'shown' ? loaded.shared.job.name : loaded.phase === 'gone' ? 'Link not valid' : 'Shared video';
  useEffect(() => {
    document.title = `${title} — tabgrid`;
  }, [title]);

  if (loaded.phase === 'loading') {
    return (
      <section className="panel">
        <PageHeading>Shared video</PageHeading>
        <p className="muted">{problem === null ? 'Loading…' : `Cannot load it now (${problem}); trying again…`}</p>
      </section>
    );
  }
  if (loaded.phase === 'gone') {
    return (
      <section className="panel" data-testid="share-gone">
        <PageHeading>This link does not work</PageHeading>
        <p>It may have expired, or the video may have been deleted. Ask whoever sent it for a new one.</p>
      </section>
    );
  }

  const { job, expiresAt } = loaded.shared;
  const source = formatSource(job.source, true);
  return (
    <>
      <section className="panel job-head" aria-labelledby="shared-heading" data-testid="shared-job" data-job-id={job.id}>
        <div id="shared-heading" className="title-block">
          <PageHeading className="job-title">{job.name}</PageHeading>
          <span className={`badge job-${job.state}`} data-testid="job-state" data-state={job.state}>
            {JOB_STATE_LABEL[job.state]}
          </span>
        </div>
        <p className="state-line">
          Shared with you: this link works until{' '}
          <time dateTime={expiresAt} title={formatDate(expiresAt)}>
            {formatDate(expiresAt)}
          </time>
          .
        </p>
        {problem !== null && (
          <p className="banner error" role="alert">
            Updates are paused: {problem}.
          </p>
        )}
      </section>
      {job.state === 'done' ? (
        <section className="panel" aria-labelledby="outputs-heading">
          <h2 id="outputs-heading">Watch and download</h2>
          <Outputs job={job} />
        </section>
      ) : (
        <section className="panel">
          {TERMINAL_JOB_STATES.includes(job.state) ? (
            <p>This video was not finished: there is nothing to watch.</p>
          ) : (
            <>
              <p>
                Still being transcoded{source === null ? '' : ` (${source})`}: {job.progress.done} of {job.progress.total} pieces done. This
                page shows the video when it is ready.
              </p>
              <TaskProgress done={job.progress.done} total={job.progress.total} label="Pieces transcoded" />
            </>
          )}
        </section>
      )}
    </>
  );
}
