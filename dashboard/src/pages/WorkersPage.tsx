import type { WorkerView, WorkersSnapshot } from '@tabgrid/shared';
import { PageHeading } from '../components/PageHeading';
import { ThroughputChart } from '../components/ThroughputChart';
import { formatAgo, formatBrowser, formatDate } from '../format';
import { useNow } from '../hooks/useNow';
import { Link, paths } from '../router';

const ENCODER_LABEL: Record<string, string> = {
  'wasm-x264': 'x264 (wasm)',
  'webcodecs-h264': 'WebCodecs H.264',
  'native-x264': 'x264 (native)',
};

function workerState(w: WorkerView): { label: string; tone: string } {
  if (!w.connected) return { label: 'Left', tone: 'muted' };
  if (w.quarantinedUntil !== null) return { label: 'Paused: failing', tone: 'warn' };
  if (w.current.length > 0) return { label: 'Working', tone: 'ok' };
  return { label: 'Idle', tone: 'idle' };
}

/** The volunteers' tabs: who is connected, what each is doing, how much each has done, and the grid's pace. */
export function WorkersPage({ snapshot, clockOffsetMs }: { snapshot: WorkersSnapshot | null; clockOffsetMs: number }) {
  const now = useNow(15_000) + clockOffsetMs;
  if (snapshot === null) {
    return (
      <section className="panel">
        <PageHeading>Volunteers</PageHeading>
        <p className="muted">Loading…</p>
      </section>
    );
  }
  const { totals } = snapshot;
  return (
    <>
      <section className="panel" aria-labelledby="volunteers-heading">
        <div id="volunteers-heading">
          <PageHeading>Volunteers</PageHeading>
        </div>
        <p className="muted">
          Each is a browser tab on the <a href="/contribute/">contributor page</a>, transcoding chunks with ffmpeg compiled to WebAssembly.
        </p>
        <dl className="figures">
          <div>
            <dt>Connected</dt>
            <dd data-testid="workers-connected">{totals.connected}</dd>
          </div>
          <div>
            <dt>Working now</dt>
            <dd>{totals.busy}</dd>
          </div>
          <div>
            <dt>Paused for failing</dt>
            <dd>{totals.quarantined}</dd>
          </div>
          <div>
            <dt>Segments accepted</dt>
            <dd>{totals.tasksDone}</dd>
          </div>
          <div>
            <dt>Failed attempts</dt>
            <dd>{totals.tasksFailed}</dd>
          </div>
        </dl>
      </section>
      <section className="panel" aria-labelledby="pace-heading">
        <h2 id="pace-heading">Accepted segments per minute</h2>
        <ThroughputChart throughput={snapshot.throughput} />
      </section>
      <section className="panel" aria-labelledby="tabs-heading">
        <h2 id="tabs-heading">Tabs</h2>
        {snapshot.workers.length === 0 ? (
          <p className="muted">
            No tabs in the last hour. Open the <a href="/contribute/">contributor page</a> in a browser tab to add one.
          </p>
        ) : (
          <table className="workers responsive">
            <thead>
              <tr>
                <th scope="col">Tab</th>
                <th scope="col">State</th>
                <th scope="col">Current task</th>
                <th scope="col">Done</th>
                <th scope="col">Failed</th>
                <th scope="col">Encoder</th>
                <th scope="col">Browser</th>
                <th scope="col">Connected</th>
              </tr>
            </thead>
            <tbody>
              {snapshot.workers.map((w) => (
                <WorkerRow key={w.id} worker={w} now={now} />
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function WorkerRow({ worker: w, now }: { worker: WorkerView; now: number }) {
  const state = workerState(w);
  const caps = w.capabilities;
  return (
    <tr data-testid="workers-row" data-worker-id={w.id} data-state={state.label.toLowerCase()}>
      <th scope="row" className="name">
        {w.name ?? <code title={w.id}>{w.id.slice(0, 8)}</code>}
      </th>
      <td data-label="State">
        <span className={`badge tone-${state.tone}`}>{state.label}</span>
        {w.quarantinedUntil !== null && (
          <span className="row-error">
            after {w.consecutiveFailures} failures in a row; back{' '}
            <time dateTime={w.quarantinedUntil}>{formatAgo(w.quarantinedUntil, now)}</time>
          </span>
        )}
      </td>
      <td data-label="Current task">
        {w.current.length === 0 ? (
          <span className="muted">—</span>
        ) : (
          w.current.map((t) => (
            <span key={`${t.jobId}/${t.chunk}/${t.rendition}`} className="current-task">
              <Link href={paths.job(t.jobId)}>{t.jobName}</Link> · chunk {t.chunk} · {t.rendition}
              {t.state === 'leased' ? ` · ${Math.round(t.progress * 100)}%` : ' · verifying'}
              {t.attempt > 1 && ` · attempt ${t.attempt}`}
            </span>
          ))
        )}
      </td>
      <td data-label="Done" className="count">
        {w.tasksDone}
      </td>
      <td data-label="Failed" className="count">
        {w.tasksFailed}
      </td>
      <td data-label="Encoder" className="wrap">
        {caps === null ? (
          <span className="muted">unknown</span>
        ) : (
          <>
            {caps.encoders.map((e) => ENCODER_LABEL[e] ?? e).join(', ')} · {caps.threads} thread{caps.threads === 1 ? '' : 's'}
            {caps.wasmMultiThread && ' (multi-thread)'}
            {caps.hardwareConcurrency !== undefined && <span className="muted"> · {caps.hardwareConcurrency} cores</span>}
          </>
        )}
      </td>
      <td data-label="Browser">{formatBrowser(caps?.userAgent) ?? <span className="muted">unknown</span>}</td>
      <td data-label="Connected">
        {w.connected ? (
          <time dateTime={w.connectedAt} title={formatDate(w.connectedAt)}>
            {formatAgo(w.connectedAt, now)}
          </time>
        ) : (
          <time dateTime={w.disconnectedAt ?? w.lastSeenAt} title={formatDate(w.disconnectedAt ?? w.lastSeenAt)}>
            left {formatAgo(w.disconnectedAt ?? w.lastSeenAt, now)}
          </time>
        )}
      </td>
    </tr>
  );
}
