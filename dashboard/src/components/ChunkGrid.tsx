import { TASK_STATES, type RenditionName, type TaskState, type TaskView } from '@tabgrid/shared';
import { memo, useId, useRef, useState, type CSSProperties, type KeyboardEvent } from 'react';
import { TASK_STATE_LABEL } from '../format';

export const cellKey = (rendition: string, chunk: number): string => `${rendition}/${chunk}`;

interface Props {
  /** The job's renditions, tallest first; they give the row order. */
  readonly renditions: readonly RenditionName[];
  readonly tasks: readonly TaskView[];
  /** The pointer is over this cell (null: over none). */
  readonly onHover: (key: string | null) => void;
  /** This cell was focused, by keyboard or click. */
  readonly onPick: (key: string) => void;
  /** The cell whose details are showing, marked in the grid. */
  readonly shown: string | null;
}

function describe(task: TaskView): string {
  let text = `${task.rendition}, chunk ${task.chunk}: ${TASK_STATE_LABEL[task.state]}`;
  if (task.state === 'leased') text += ` ${Math.round(task.progress * 100)}%`;
  if (task.attempts > 1) text += `, attempt ${task.attempts}`;
  if (task.lastError !== null && task.state !== 'done') text += `, last error: ${task.lastError}`;
  return text;
}

/**
 * One row per rendition, one column per chunk, one cell per task coloured by
 * state. The grid is one tab stop: arrow keys, Home and End move between
 * cells (a roving tabindex), and the focused or hovered cell's details show
 * below. The per-state counts in the legend carry the same information as
 * text, so reading the grid needs neither colour vision nor a pointer.
 */
export function ChunkGrid({ renditions, tasks, onHover, onPick, shown }: Props) {
  const legendId = useId();
  const tableRef = useRef<HTMLTableElement>(null);
  const [active, setActive] = useState<{ row: number; col: number }>({ row: 0, col: 0 });
  const byCell = new Map<string, TaskView>();
  const rows: RenditionName[] = [...renditions];
  let chunkCount = 0;
  const counts = new Map<TaskState, number>();
  let retried = 0;
  for (const task of tasks) {
    byCell.set(cellKey(task.rendition, task.chunk), task);
    if (!rows.includes(task.rendition)) rows.push(task.rendition);
    chunkCount = Math.max(chunkCount, task.chunk + 1);
    counts.set(task.state, (counts.get(task.state) ?? 0) + 1);
    if (task.attempts > 1) retried += 1;
  }
  const chunks = Array.from({ length: chunkCount }, (_, i) => i);
  const row = Math.min(active.row, rows.length - 1);
  const col = Math.min(active.col, chunkCount - 1);

  const focusCell = (r: number, c: number): void => {
    setActive({ row: r, col: c });
    tableRef.current?.querySelector<HTMLElement>(`[data-row="${r}"][data-col="${c}"]`)?.focus();
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTableElement>): void => {
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [row, col - 1],
      ArrowRight: [row, col + 1],
      ArrowUp: [row - 1, col],
      ArrowDown: [row + 1, col],
      Home: [row, 0],
      End: [row, chunkCount - 1],
    };
    const to = moves[e.key];
    if (!to) return;
    e.preventDefault();
    focusCell(Math.max(0, Math.min(rows.length - 1, to[0])), Math.max(0, Math.min(chunkCount - 1, to[1])));
  };

  return (
    <div className="chunk-grid" style={{ '--cell': chunkCount <= 24 ? '1.75rem' : chunkCount <= 80 ? '1.25rem' : '1rem' } as CSSProperties}>
      <ul className="legend" id={legendId} aria-label="Tasks by state">
        {TASK_STATES.map((state) => (
          <li key={state}>
            <span className={`swatch s-${state}`} aria-hidden="true" />
            {TASK_STATE_LABEL[state]}: <span className="count">{counts.get(state) ?? 0}</span>
          </li>
        ))}
        <li>
          <span className="swatch retry-swatch" aria-hidden="true">
            2
          </span>
          Retried: <span className="count">{retried}</span>
        </li>
      </ul>
      {/* biome-ignore lint/a11y/noStaticElementInteractions: leaving the grid with the mouse only clears the hover preview; the keyboard has focus for that */}
      <div className="grid-scroll" onMouseLeave={() => onHover(null)}>
        {/* biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: the WAI-ARIA grid pattern on a table: arrow keys move between cells (onKeyDown) */}
        <table ref={tableRef} role="grid" aria-label="Chunk grid: renditions by chunks" aria-describedby={legendId} onKeyDown={onKeyDown}>
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
            {rows.map((rendition, r) => (
              <tr key={rendition}>
                <th scope="row">{rendition}</th>
                {chunks.map((c) => {
                  const key = cellKey(rendition, c);
                  const task = byCell.get(key);
                  return (
                    <Cell
                      key={c}
                      row={r}
                      col={c}
                      cellKey={key}
                      label={task ? describe(task) : `${rendition}, chunk ${c}: no task`}
                      state={task?.state ?? null}
                      progress={task?.progress ?? 0}
                      attempts={task?.attempts ?? 0}
                      tabbable={r === row && c === col}
                      shown={shown === key}
                      onHover={onHover}
                      onPick={onPick}
                      onActivate={setActive}
                    />
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

interface CellProps {
  readonly row: number;
  readonly col: number;
  readonly cellKey: string;
  readonly label: string;
  readonly state: TaskState | null;
  readonly progress: number;
  readonly attempts: number;
  readonly tabbable: boolean;
  readonly shown: boolean;
  readonly onHover: (key: string) => void;
  readonly onPick: (key: string) => void;
  readonly onActivate: (at: { row: number; col: number }) => void;
}

/** Memoised: a pushed snapshot re-renders only the cells whose task changed. */
const Cell = memo(function Cell({
  row,
  col,
  cellKey: key,
  label,
  state,
  progress,
  attempts,
  tabbable,
  shown,
  onHover,
  onPick,
  onActivate,
}: CellProps) {
  const style = state === 'leased' ? ({ '--p': progress } as CSSProperties) : undefined;
  return (
    // biome-ignore lint/a11y/useKeyWithClickEvents: the click only moves focus; the keyboard reaches the same cell with the arrow keys (onFocus does the work)
    <td
      // biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: a gridcell of the ARIA grid above, focusable and reached with the arrow keys
      role="gridcell"
      data-testid="grid-cell"
      data-state={state ?? 'none'}
      data-row={row}
      data-col={col}
      className={`cell s-${state ?? 'none'}${shown ? ' shown' : ''}`}
      style={style}
      tabIndex={tabbable ? 0 : -1}
      aria-label={label}
      aria-selected={shown}
      onMouseEnter={() => onHover(key)}
      onFocus={() => {
        onActivate({ row, col });
        onPick(key);
      }}
      onClick={(e) => e.currentTarget.focus()}
    >
      {attempts > 1 && (
        <span className="retry-badge" aria-hidden="true">
          {attempts}
        </span>
      )}
    </td>
  );
});
