import type { TaskView } from '@tabgrid/shared';
import { formatDate, formatDuration, formatTime, TASK_STATE_LABEL } from '../format';

/** Attempt outcomes in words (task_attempts.outcome). */
const OUTCOME_LABEL: Record<string, string> = {
  done: 'accepted',
  expired: 'lease expired',
  failed: 'failed in the tab',
  rejected: 'segment rejected',
  disconnected: 'tab disconnected',
  canceled: 'canceled',
};

const shortId = (id: string): string => (id.length > 12 ? `${id.slice(0, 8)}…` : id);

function took(startedAt: string, endedAt: string | null, now: number): string {
  const end = endedAt === null ? now : Date.parse(endedAt);
  const seconds = Math.max(0, (end - Date.parse(startedAt)) / 1000);
  const text = seconds < 60 ? `${seconds.toFixed(1)} s` : formatDuration(seconds);
  return endedAt === null ? `${text} so far` : text;
}

/** Everything about one chunk × rendition task: who has it, every attempt and why it ended, how long each took. */
export function TaskDetails({ task, frames, now }: { task: TaskView | null; frames: number | undefined; now: number }) {
  if (task === null) {
    return (
      <div className="task-details empty" data-testid="task-details">
        <p className="muted">
          Point at a cell, or focus the grid and move with the arrow keys, to see who transcoded that chunk, each attempt and its timings.
        </p>
      </div>
    );
  }
  return (
    <div className="task-details" data-testid="task-details">
      <h3>
        {task.rendition} · chunk {task.chunk}
      </h3>
      <dl className="facts compact">
        <div>
          <dt>State</dt>
          <dd>
            {TASK_STATE_LABEL[task.state]}
            {task.state === 'leased' && ` · ${Math.round(task.progress * 100)}%`}
          </dd>
        </div>
        <div>
          <dt>{task.state === 'leased' || task.state === 'verifying' ? 'Tab' : 'Last tab'}</dt>
          <dd>
            {task.worker === null ? <span className="muted">none yet</span> : <code title={task.worker}>{shortId(task.worker)}</code>}
          </dd>
        </div>
        {frames !== undefined && frames > 0 && (
          <div>
            <dt>Frames</dt>
            <dd>{frames}</dd>
          </div>
        )}
        {task.lastError !== null && task.state !== 'done' && (
          <div>
            <dt>Last error</dt>
            <dd className="error">{task.lastError}</dd>
          </div>
        )}
      </dl>
      {task.history.length === 0 ? (
        <p className="muted">No attempts yet.</p>
      ) : (
        <table className="attempts">
          <caption className="visually-hidden">Attempts</caption>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Tab</th>
              <th scope="col">Outcome</th>
              <th scope="col">Started</th>
              <th scope="col">Took</th>
            </tr>
          </thead>
          <tbody>
            {task.history.map((h) => (
              <tr key={h.attempt} className={h.outcome !== null && h.outcome !== 'done' ? 'attempt-bad' : undefined}>
                <td>{h.attempt}</td>
                <td>{h.worker === null ? '—' : <code title={h.worker}>{shortId(h.worker)}</code>}</td>
                <td>
                  {h.outcome === null ? 'running' : (OUTCOME_LABEL[h.outcome] ?? h.outcome)}
                  {h.reason !== null && <span className="reason">{h.reason}</span>}
                </td>
                <td>
                  <time dateTime={h.startedAt} title={formatDate(h.startedAt)}>
                    {formatTime(h.startedAt)}
                  </time>
                </td>
                <td className="count">{took(h.startedAt, h.endedAt, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
