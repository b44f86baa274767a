import type { JobState } from '@tabgrid/shared';
import type { JobStats } from '../stats';
import { formatDuration, formatRate } from '../format';

/** Throughput and ETA as a row of figures; every figure says what it measures. */
export function JobStatsPanel({ stats, state }: { stats: JobStats; state: JobState }) {
  const measuring = stats.tasksPerMinute === null;
  const transcoding = state === 'transcoding';
  let eta: string;
  if (stats.ended)
    eta = stats.elapsedSeconds === null ? '—' : `${state === 'done' ? 'took' : 'ran for'} ${formatDuration(stats.elapsedSeconds)}`;
  else if (stats.total > 0 && stats.done === stats.total) eta = 'all chunks done';
  else if (stats.etaSeconds !== null) eta = `≈ ${formatDuration(stats.etaSeconds)}`;
  else eta = transcoding && stats.running > 0 ? 'measuring…' : '—';
  return (
    <dl className="figures" aria-label="Throughput">
      <div>
        <dt>Chunks done</dt>
        <dd data-testid="figure-done">
          {stats.done}
          <span className="of"> / {stats.total}</span>
        </dd>
      </div>
      <div>
        <dt>{stats.ended ? 'Average tasks/min' : 'Tasks per minute'}</dt>
        <dd>{measuring ? '—' : formatRate(stats.tasksPerMinute!)}</dd>
      </div>
      <div>
        <dt>{stats.ended ? 'Average frames/s' : 'Frames per second'}</dt>
        <dd>{stats.framesPerSecond === null ? '—' : formatRate(stats.framesPerSecond)}</dd>
      </div>
      <div>
        <dt>Tabs on it now</dt>
        <dd>{stats.tabs}</dd>
      </div>
      <div>
        <dt>{stats.ended ? 'Transcoding' : 'Time left'}</dt>
        <dd data-testid="eta">{eta}</dd>
      </div>
    </dl>
  );
}
