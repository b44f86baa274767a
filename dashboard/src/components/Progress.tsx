/** Done/total as a native <progress> plus the numbers, or a dash before the total is known. */
export function TaskProgress({ done, total, label }: { done: number; total: number; label: string }) {
  if (total <= 0) return <span className="muted">—</span>;
  return (
    <span className="task-progress">
      <progress className="bar" aria-label={label} value={done} max={total} />
      <span className="count">
        {done}/{total}
      </span>
    </span>
  );
}
