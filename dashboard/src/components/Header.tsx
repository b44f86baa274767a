import type { StatusSnapshot } from '@tabgrid/shared';
import { useState } from 'react';
import { logOut } from '../auth';
import type { Connection } from '../live/useEvents';
import { Link, paths, type Route } from '../router';

const CONNECTION_LABEL: Record<Connection, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  reconnecting: 'Reconnecting…',
  paused: 'Paused while hidden',
};

/**
 * The site header. `minimal` (the login, a share link's page) shows only the
 * name and the contributor page: the rest would only ask for a login.
 * `canLogOut` adds the log-out control (a coordinator with ADMIN_TOKEN).
 */
export function Header({
  route,
  connection,
  status,
  minimal = false,
  canLogOut = false,
}: {
  route: Route;
  connection: Connection;
  status: StatusSnapshot | null;
  minimal?: boolean;
  canLogOut?: boolean;
}) {
  const onJobs = route.page === 'jobs' || route.page === 'job';
  const [leaving, setLeaving] = useState(false);
  if (minimal) {
    return (
      <header className="site-header">
        <span className="brand">tabgrid</span>
        <nav aria-label="Site" className="site-nav">
          <a className="donate" href="/contribute/">
            Donate compute
          </a>
        </nav>
      </header>
    );
  }
  return (
    <header className="site-header">
      <Link className="brand" href={paths.jobs()}>
        tabgrid
      </Link>
      <nav aria-label="Site" className="site-nav">
        <Link href={paths.jobs()} aria-current={onJobs ? 'page' : undefined}>
          Jobs
        </Link>
        <Link href={paths.workers()} aria-current={route.page === 'workers' ? 'page' : undefined}>
          Volunteers
          {status !== null && (
            <span className="count-pill">
              <span className="visually-hidden">, </span>
              {status.workersConnected}
              <span className="visually-hidden"> connected</span>
            </span>
          )}
        </Link>
        {/* A full page load on purpose: the contributor page is a separate app served by the coordinator. */}
        <a className="donate" href="/contribute/">
          Donate compute
        </a>
      </nav>
      {/* Announced politely: a reconnect matters, but must not interrupt. */}
      <p className={`live-state live-${connection}`} role="status" data-testid="connection" data-state={connection}>
        <span className="dot" aria-hidden="true" />
        {CONNECTION_LABEL[connection]}
      </p>
      {canLogOut && (
        <button
          type="button"
          className="secondary small"
          disabled={leaving}
          onClick={() => {
            setLeaving(true);
            void logOut().finally(() => setLeaving(false));
          }}
          data-testid="logout"
        >
          Log out
        </button>
      )}
    </header>
  );
}
