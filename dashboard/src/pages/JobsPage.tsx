import { TERMINAL_JOB_STATES, type CreatedJob, type JobView, type StatusSnapshot } from '@tabgrid/shared';
import { useCallback } from 'react';
import { JobList } from '../components/JobList';
import { PageHeading } from '../components/PageHeading';
import { StatusNote } from '../components/StatusNote';
import { UploadForm } from '../components/UploadForm';
import { navigate, paths } from '../router';

export function JobsPage({ jobs, status }: { jobs: JobView[] | null; status: StatusSnapshot | null }) {
  // Straight to the new job's page: its grid is what the person wants to watch now.
  const onUploaded = useCallback((job: CreatedJob) => navigate(paths.job(job.id)), []);
  const waiting = (jobs ?? []).some((j) => !TERMINAL_JOB_STATES.includes(j.state));
  return (
    <>
      <PageHeading className="visually-hidden">Jobs</PageHeading>
      <UploadForm onUploaded={onUploaded} />
      <StatusNote status={status} waiting={waiting} />
      <JobList jobs={jobs} />
    </>
  );
}
