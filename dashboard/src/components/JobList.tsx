import type { JobView } from '@tabgrid/shared';
import { formatAgo, formatDate, formatDuration, JOB_STATE_LABEL } from '../format';
import { useNow } from '../hooks/useNow';
import { Link, paths } from '../router';
import { stableUrl } from '../stableUrl';
import { TaskProgress } from './Progress';

/**
 * Every job, newest first. On a phone the table becomes one card per job
 * (CSS only, labels from data-label), so nothing needs sideways scrolling.
 */
export function JobList({ jobs }: { jobs: JobView[] | null }) {
  const now = useNow(30_000);
  return (
    <section className="panel" aria-labelledby="jobs-heading">
      <h2 id="jobs-heading">Jobs</h2>
      {jobs === null ? (
        <p className="muted">Loading jobs…</p>
      ) : jobs.length === 0 ? (
        <p className="muted">No jobs yet. Upload a video above to start one.</p>
      ) : (
        <table className="jobs responsive">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Progress</th>
              <th scope="col">Duration</th>
              <th scope="col">Renditions</th>
              <th scope="col">Uploaded</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-testid="job-row" data-job-id={job.id} data-state={job.state}>
                <th scope="row" className="name">
                  {job.poster && (
                    <img
                      className="list-poster"
                      src={stableUrl(`${job.id}/poster`, job.poster)}
                      alt=""
                      width={48}
                      height={27}
                      loading="lazy"
                    />
                  )}
                  <Link href={paths.job(job.id)} title={job.name}>
                    {job.name}
                  </Link>
                </th>
                <td data-label="State">
                  <span className={`badge job-${job.state}`}>{JOB_STATE_LABEL[job.state]}</span>
                  {job.error !== null && (
                    <span className="row-error error" title={job.error}>
                      {job.error}
                    </span>
                  )}
                </td>
                <td data-label="Progress">
                  <TaskProgress done={job.progress.done} total={job.progress.total} label={`${job.name}: chunks done`} />
                </td>
                <td data-label="Duration">
                  {job.source.duration !== null ? formatDuration(job.source.duration) : <span className="muted">—</span>}
                </td>
                <td data-label="Renditions">{job.renditions.length > 0 ? job.renditions.join(' · ') : <span className="muted">—</span>}</td>
                <td data-label="Uploaded">
                  <time dateTime={job.createdAt} title={formatDate(job.createdAt)}>
                    {formatAgo(job.createdAt, now)}
                  </time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
