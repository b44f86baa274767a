import { useCallback } from 'react';
import type { CreatedJob } from './api';
import { Header } from './components/Header';
import { JobDetail } from './components/JobDetail';
import { JobList } from './components/JobList';
import { UploadForm } from './components/UploadForm';
import { useJobs } from './hooks/useJobs';
import { useSelectedJob } from './hooks/useSelectedJob';

export function App() {
  const jobs = useJobs();
  const [selectedId, select] = useSelectedJob();
  const { refresh } = jobs;

  const onUploaded = useCallback(
    (job: CreatedJob) => {
      refresh();
      select(job.id);
    },
    [refresh, select],
  );

  return (
    <>
      <Header />
      <main>
        <UploadForm onUploaded={onUploaded} />
        <JobList jobs={jobs.data} error={jobs.error} selectedId={selectedId} />
        {/* Keyed by id so switching jobs starts from a clean slate. */}
        {selectedId !== null && <JobDetail key={selectedId} id={selectedId} onClose={() => select(null)} />}
      </main>
    </>
  );
}
