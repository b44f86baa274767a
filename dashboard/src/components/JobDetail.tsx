import { TERMINAL_JOB_STATES } from '@tabgrid/shared';
import { useEffect, useRef } from 'react';
import { errorMessage } from '../api';
import { formatDate, formatSource, JOB_STATE_DESCRIPTION, JOB_STATE_LABEL } from '../format';
import { useJob } from '../hooks/useJobs';
import { ChunkGrid } from './ChunkGrid';
import { Outputs } from './Outputs';
import { TaskProgress } from './Progress';

export function JobDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const { data, error } = useJob(id);
  const headingRef = useRef<HTMLHeadingElement>(null);
  // Mounted once per selection (App keys this by id): take focus so keyboard and
  // screen-reader users land on what they just opened, and scroll it into view.
  useEffect(() => headingRef.current?.focus(), []);
  const terminal = data !== null && TERMINAL_JOB_STATES.includes(data.job.state);

  return (
    <section className="panel job-detail" aria-labelledby="job-heading">
      <div className="detail-head">
        <h2 id="job-heading" ref={headingRef} tabIndex={-1}>{data?.job.name ?? 'Job'}</h2>
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </div>
      {error !== null && (
        <p className="error">
          {data === null ? 'Could not load this job' : 'Could not refresh this job'}: {errorMessage(error)}
        </p>
      )}
      {data === null ? (
        error === null && <p className="muted">Loading…</p>
      ) : (
        <>
          <dl className="facts">
            <div>
              <dt>State</dt>
              <dd>
                <span className={`badge job-${data.job.state}`} data-testid="job-state" data-state={data.job.state}>
                  {JOB_STATE_LABEL[data.job.state]}
                </span>{' '}
                {JOB_STATE_DESCRIPTION[data.job.state]}
              </dd>
            </div>
            {data.job.error !== null && (
              <div>
                <dt>Error</dt>
                <dd className="error">{data.job.error}</dd>
              </div>
            )}
            <div>
              <dt>Progress</dt>
              <dd>
                <TaskProgress done={data.job.progress.done} total={data.job.progress.total} label="Tasks done" />
              </dd>
            </div>
            <div>
              <dt>Source</dt>
              <dd>
                {formatSource(data.job.source, true) ?? (terminal ? 'unknown' : 'not probed yet')}
                {data.job.source.hasAudio !== null && (data.job.source.hasAudio ? ' · with audio' : ' · no audio')}
              </dd>
            </div>
            <div>
              <dt>Renditions</dt>
              <dd>{data.job.renditions.length > 0 ? data.job.renditions.join(', ') : 'not planned yet'}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd>
                <time dateTime={data.job.createdAt}>{formatDate(data.job.createdAt)}</time>
              </dd>
            </div>
            <div>
              <dt>Updated</dt>
              <dd>
                <time dateTime={data.job.updatedAt}>{formatDate(data.job.updatedAt)}</time>
              </dd>
            </div>
          </dl>
          <h3>Chunks</h3>
          {data.tasks.length === 0 ? (
            <p className="muted">
              {terminal ? 'None: the job ended before its source was split.' : 'The grid appears once the source has been split.'}
            </p>
          ) : (
            <ChunkGrid renditions={data.job.renditions} tasks={data.tasks} />
          )}
          {data.job.state === 'done' && (
            <>
              <h3>Outputs</h3>
              <Outputs job={data.job} />
            </>
          )}
        </>
      )}
    </section>
  );
}
