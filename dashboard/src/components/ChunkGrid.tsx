import { TASK_STATES, type RenditionName, type TaskState, type TaskView } from '@tabgrid/shared';
import { useId, type CSSProperties } from 'react';
import { TASK_STATE_LABEL } from '../format';

interface Props {
  /** The job's renditions, tallest first; they give the row order. */
  readonly renditions: readonly RenditionName[];
  readonly tasks: readonly TaskView[];
}

function describe(task: TaskView): string {
  const parts = [`${task.rendition}, chunk ${task.chunk}: ${TASK_STATE_LABEL[task.state]}`];
  if (task.state === 'leased') parts[0] += ` (${Math.round(task.progress * 100)}%)`;
  parts.push(task.worker === null ? 'no worker' : `worker ${task.worker}`);
  parts.push(task.attempts === 1 ? '1 attempt' : `${task.attempts} attempts`);
  if (task.lastError !== null) parts.push(`last error: ${task.lastError}`);
  return parts.join('\n');
}

/**
 * One row per rendition, one column per chunk, one cell per task coloured by
 * state. The per-state counts in the legend carry the same information as
 * text, so the grid needs neither colour vision nor a pointer to read.
 */
export function ChunkGrid({ renditions, tasks }: Props) {
  const legendId = useId();
  const byCell = new Map<string, TaskView>();
  const rows: RenditionName[] = [...renditions];
  let chunkCount = 0;
  const counts = new Map<TaskState, number>();
  for (const task of tasks) {
    byCell.set(`${task.rendition}/${task.chunk}`, task);
    if (!rows.includes(task.rendition)) rows.push(task.rendition);
    chunkCount = Math.max(chunkCount, task.chunk + 1);
    counts.set(task.state, (counts.get(task.state) ?? 0) + 1);
  }
  const chunks = Array.from({ length: chunkCount }, (_, i) => i);

  return (
    <div className="chunk-grid">
      <ul className="legend" id={legendId} aria-label="Tasks by state">
        {TASK_STATES.map((state) => (
          <li key={state}>
            <span className={`swatch s-${state}`} aria-hidden="true" />
            {TASK_STATE_LABEL[state]}: {counts.get(state) ?? 0}
          </li>
        ))}
      </ul>
      <div className="grid-scroll" role="region" aria-label="Chunk grid" aria-describedby={legendId} tabIndex={0}>
        <table>
          <thead>
            <tr>
              <th scope="col">
                <span className="visually-hidden">Rendition</span>
              </th>
              {chunks.map((c) => (
                <th key={c} scope="col" className="chunk-no">
                  {/* Every fifth number keeps the header readable at hundreds of chunks. */}
                  {c % 5 === 0 ? c : <span className="visually-hidden">{c}</span>}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((rendition) => (
              <tr key={rendition}>
                <th scope="row">{rendition}</th>
                {chunks.map((c) => {
                  const task = byCell.get(`${rendition}/${c}`);
                  if (task === undefined) return <td key={c} className="cell s-none" title={`${rendition}, chunk ${c}: no task`} />;
                  const style = task.state === 'leased' ? ({ '--p': task.progress } as CSSProperties) : undefined;
                  return <td key={c} className={`cell s-${task.state}`} data-state={task.state} title={describe(task)} style={style} />;
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
