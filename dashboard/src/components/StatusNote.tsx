import type { StatusSnapshot } from '@tabgrid/shared';

/**
 * The one thing a newcomer cannot guess: jobs move only while volunteers'
 * tabs are connected. Shown when work is waiting and nobody is there to do it.
 */
export function StatusNote({ status, waiting }: { status: StatusSnapshot | null; waiting: boolean }) {
  if (status === null || status.workersConnected > 0 || !waiting) return null;
  return (
    <p className="note" data-testid="no-workers">
      <strong>No volunteer tabs are connected,</strong> so chunks wait to be transcoded.{' '}
      <a href="/contribute/" target="_blank" rel="noopener">
        Open the contributor page
      </a>{' '}
      in a browser tab (several tabs are several workers) and they start at once.
    </p>
  );
}
