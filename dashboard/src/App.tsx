import type { EventTopic } from '@tabgrid/shared';
import { useEffect } from 'react';
import { checkSession, useAuth } from './auth';
import { Header } from './components/Header';
import { useEvents } from './live/useEvents';
import { JobPage } from './pages/JobPage';
import { JobsPage } from './pages/JobsPage';
import { LoginPage } from './pages/LoginPage';
import { MissingPage } from './pages/MissingPage';
import { SharePage } from './pages/SharePage';
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
  const auth = useAuth();
  // A malformed id cannot name a job; the API would refuse the stream, so do not ask.
  const jobId = route.page === 'job' && UUID.test(route.id) ? route.id : null;
  // A share link's page is for people without a login: it never opens the operators' stream.
  const live = useEvents(topicsOf(route), jobId, {
    enabled: auth.phase === 'in' && route.page !== 'share',
    onRefused: () => void checkSession(),
  });
  const shared = route.page === 'share';

  useEffect(() => {
    if (auth.phase === 'checking' && !shared) void checkSession();
  }, [auth.phase, shared]);

  useEffect(() => {
    if (shared) return; // the share page names itself
    const titles = { jobs: 'Jobs', workers: 'Volunteers', job: live.job?.job?.name ?? 'Job', missing: 'Not found' };
    document.title = auth.phase === 'login' ? 'Log in — tabgrid' : `${titles[route.page]} — tabgrid`;
  }, [route.page, live.job?.job?.name, auth.phase, shared]);

  const skip = (
    <a className="skip-link" href="#main">
      Skip to content
    </a>
  );
  if (route.page === 'share' || auth.phase !== 'in') {
    return (
      <>
        {skip}
        <Header route={route} connection={live.connection} status={null} minimal />
        <main id="main" tabIndex={-1}>
          {route.page === 'share' ? (
            <SharePage capability={route.capability} />
          ) : auth.phase === 'login' ? (
            <LoginPage reason={auth.reason} />
          ) : (
            <p className="muted">Loading…</p>
          )}
        </main>
      </>
    );
  }

  return (
    <>
      {skip}
      <Header route={route} connection={live.connection} status={live.status} canLogOut={auth.required} />
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
