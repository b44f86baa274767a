import { TERMINAL_JOB_STATES, type JobSnapshot, type JobView, type StatusSnapshot } from '@tabgrid/shared';
import { useCallback, useState } from 'react';
import { cellKey, ChunkGrid } from '../components/ChunkGrid';
import { JobActions } from '../components/JobActions';
import { JobStatsPanel } from '../components/JobStatsPanel';
import { Outputs } from '../components/Outputs';
import { PageHeading } from '../components/PageHeading';
import { Quality } from '../components/Quality';
import { ShareControl } from '../components/ShareControl';
import { StatusNote } from '../components/StatusNote';
import { TaskDetails } from '../components/TaskDetails';
import { formatAgo, formatDate, formatSource, JOB_STATE_DESCRIPTION, JOB_STATE_LABEL } from '../format';
import { useNow } from '../hooks/useNow';
import { Link, paths } from '../router';
import { stableUrl } from '../stableUrl';
import { jobStats } from '../stats';

interface Props {
  readonly id: string;
  readonly snapshot: JobSnapshot | null;
  readonly status: StatusSnapshot | null;
  readonly clockOffsetMs: number;
}

export function JobPage({ id, snapshot, status, clockOffsetMs }: Props) {
  const job = snapshot?.job ?? null;
  const running = job !== null && !TERMINAL_JOB_STATES.includes(job.state);
  // Ticks only while something moves: ETAs and "running for" times between pushes.
  const now = useNow(1000, running) + clockOffsetMs;
  const [hovered, setHovered] = useState<string | null>(null);
  const [picked, setPicked] = useState<string | null>(null);
  // The latest gesture wins: moving by keyboard shows that cell even while the pointer rests on another.
  const pick = useCallback((key: string) => {
    setPicked(key);
    setHovered(null);
  }, []);

  if (snapshot === null) {
    return (
      <section className="panel">
        <BackLink />
        <PageHeading>Job</PageHeading>
        <p className="muted">Loading…</p>
      </section>
    );
  }
  if (job === null) {
    return (
      <section className="panel">
        <BackLink />
        <PageHeading>Job not found</PageHeading>
        <p>There is no job {id}: it may have been deleted.</p>
      </section>
    );
  }

  const stats = jobStats(snapshot, now);
  const shownKey = hovered ?? picked;
  const shownTask = shownKey === null ? null : (snapshot.tasks.find((t) => cellKey(t.rendition, t.chunk) === shownKey) ?? null);
  const source = formatSource(job.source, true);

  return (
    <>
      <section className="panel job-head" aria-labelledby="job-heading">
        <BackLink />
        <div className="title-row">
          {job.poster && (
            <img
              className="head-poster"
              src={stableUrl(`${job.id}/poster`, job.poster)}
              alt=""
              width={160}
              height={90}
              data-testid="job-poster"
            />
          )}
          <div id="job-heading" className="title-block">
            <PageHeading className="job-title">{job.name}</PageHeading>
            <span className={`badge job-${job.state}`} data-testid="job-state" data-state={job.state}>
              {JOB_STATE_LABEL[job.state]}
            </span>
          </div>
          <div className="head-controls">
            <ShareControl job={job} />
            <JobActions job={job} />
          </div>
        </div>
        <p className="state-line">{JOB_STATE_DESCRIPTION[job.state]}</p>
        {job.error !== null && (
          <p className="error-box" role="alert" data-testid="job-error">
            <strong>Why it failed:</strong> {job.error}
          </p>
        )}
        <dl className="facts inline">
          <div>
            <dt>Source</dt>
            <dd>
              {source ?? (running ? 'not probed yet' : 'unknown')}
              {job.source.hasAudio !== null && (job.source.hasAudio ? ' · audio' : ' · no audio')}
            </dd>
          </div>
          <div>
            <dt>Renditions</dt>
            <dd>{job.renditions.length > 0 ? job.renditions.join(', ') : 'not planned yet'}</dd>
          </div>
          <div>
            <dt>Encoder</dt>
            <dd data-testid="job-encoder">{encoderText(job.encoder)}</dd>
          </div>
          <div>
            <dt>Uploaded</dt>
            <dd>
              <time dateTime={job.createdAt} title={formatDate(job.createdAt)}>
                {formatAgo(job.createdAt, now)}
              </time>
            </dd>
          </div>
          <div>
            <dt>{running ? 'Last change' : 'Ended'}</dt>
            <dd>
              <time dateTime={job.updatedAt} title={formatDate(job.updatedAt)}>
                {formatAgo(job.updatedAt, now)}
              </time>
            </dd>
          </div>
        </dl>
      </section>
      <StatusNote status={status} waiting={job.state === 'transcoding' && stats.done < stats.total} />
      <section className="panel" aria-labelledby="grid-heading">
        <h2 id="grid-heading">Chunks</h2>
        {snapshot.tasks.length === 0 ? (
          <p className="muted">
            {running ? 'The grid appears once the source has been split into chunks.' : 'None: the job ended before its source was split.'}
          </p>
        ) : (
          <>
            <JobStatsPanel stats={stats} state={job.state} />
            <ChunkGrid renditions={job.renditions} tasks={snapshot.tasks} onHover={setHovered} onPick={pick} shown={shownKey} />
            <TaskDetails task={shownTask} frames={shownTask ? snapshot.chunkFrames[shownTask.chunk] : undefined} now={now} />
          </>
        )}
      </section>
      {job.state === 'done' && (
        <section className="panel" aria-labelledby="outputs-heading">
          <h2 id="outputs-heading">Outputs</h2>
          <Outputs job={job} />
        </section>
      )}
      {job.state === 'done' && job.quality !== undefined && (
        <section className="panel" aria-labelledby="quality-heading">
          <h2 id="quality-heading">Quality</h2>
          <Quality job={job} />
        </section>
      )}
    </>
  );
}

function BackLink() {
  return (
    <Link className="back" href={paths.jobs()}>
      ← All jobs
    </Link>
  );
}

const ENCODER_NAMES = { x264: 'x264', webcodecs: 'WebCodecs', auto: 'auto' } as const;

/** "WebCodecs", or "x264 (auto)" once an auto job was planned; "auto" before. */
function encoderText(e: JobView['encoder']): string {
  if (!e) return 'x264';
  if (e.chosen === null) return ENCODER_NAMES[e.asked];
  return e.asked === 'auto' ? `${ENCODER_NAMES[e.chosen]} (auto)` : ENCODER_NAMES[e.chosen];
}
