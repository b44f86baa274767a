import type { EventTopic } from '@tabgrid/shared';
import { useEffect } from 'react';
import { Header } from './components/Header';
import { useEvents } from './live/useEvents';
import { JobPage } from './pages/JobPage';
import { JobsPage } from './pages/JobsPage';
import { MissingPage } from './pages/MissingPage';
import { WorkersPage } from './pages/WorkersPage';
import { useRoute, type Route } from './router';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What each page needs pushed; one stream carries all of it. */
function topicsOf(route: Route): EventTopic[] {
  if (route.page === 'workers') return ['workers', 'status'];
  if (route.page === 'job') return ['status'];
  return ['jobs', 'status'];
}

export function App() {
  const route = useRoute();
  // A malformed id cannot name a job; the API would refuse the stream, so do not ask.
  const jobId = route.page === 'job' && UUID.test(route.id) ? route.id : null;
  const live = useEvents(topicsOf(route), jobId);

  useEffect(() => {
    const titles = { jobs: 'Jobs', workers: 'Volunteers', job: live.job?.job?.name ?? 'Job', missing: 'Not found' };
    document.title = `${titles[route.page]} — tabgrid`;
  }, [route.page, live.job?.job?.name]);

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header route={route} connection={live.connection} status={live.status} />
      <main id="main" tabIndex={-1}>
        {live.problem !== null && (
          <p className="banner error" role="alert">
            Updates are paused: {live.problem}.
          </p>
        )}
        {route.page === 'jobs' && <JobsPage jobs={live.jobs?.jobs ?? null} status={live.status} />}
        {route.page === 'job' &&
          (jobId === null ? (
            <MissingPage what={`There is no job “${route.id}”.`} />
          ) : (
            <JobPage key={jobId} id={jobId} snapshot={live.job} status={live.status} clockOffsetMs={live.clockOffsetMs} />
          ))}
        {route.page === 'workers' && <WorkersPage snapshot={live.workers} clockOffsetMs={live.clockOffsetMs} />}
        {route.page === 'missing' && <MissingPage what={`There is no page at ${route.path}.`} />}
      </main>
    </>
  );
}
