import type { JobView } from '@tabgrid/shared';
import { errorMessage } from '../api';
import { formatDate, formatSource, JOB_STATE_LABEL } from '../format';
import { jobHref } from '../hooks/useSelectedJob';
import { TaskProgress } from './Progress';

interface Props {
  readonly jobs: JobView[] | null;
  readonly error: unknown;
  readonly selectedId: string | null;
}

export function JobList({ jobs, error, selectedId }: Props) {
  return (
    <section className="panel" aria-labelledby="jobs-heading">
      <h2 id="jobs-heading">Jobs</h2>
      {error !== null && (
        <p className="error">
          Could not refresh the jobs: {errorMessage(error)}
          {jobs !== null && ' (showing the last known list)'}
        </p>
      )}
      {jobs === null ? (
        error === null && <p className="muted">Loading jobs…</p>
      ) : jobs.length === 0 ? (
        <p className="muted">No jobs yet. Upload a video to start one.</p>
      ) : (
        <div className="table-scroll">
          <table className="jobs">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">State</th>
                <th scope="col">Progress</th>
                <th scope="col">Source</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => {
                const selected = job.id === selectedId;
                return (
                  <tr
                    key={job.id}
                    data-testid="job-row"
                    data-job-id={job.id}
                    data-state={job.state}
                    className={selected ? 'selected' : undefined}
                  >
                    <th scope="row">
                      <a href={jobHref(job.id)} aria-current={selected ? 'true' : undefined}>
                        {job.name}
                      </a>
                    </th>
                    <td>
                      <span className={`badge job-${job.state}`}>{JOB_STATE_LABEL[job.state]}</span>
                    </td>
                    <td>
                      <TaskProgress done={job.progress.done} total={job.progress.total} label={`${job.name}: progress`} />
                    </td>
                    <td>{formatSource(job.source) ?? <span className="muted">—</span>}</td>
                    <td>
                      <time dateTime={job.createdAt}>{formatDate(job.createdAt)}</time>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
