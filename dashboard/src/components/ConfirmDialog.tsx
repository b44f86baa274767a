import { useEffect, useId, useRef, type ReactNode } from 'react';

interface Props {
  readonly title: string;
  readonly children: ReactNode;
  readonly confirmLabel: string;
  readonly cancelLabel: string;
  readonly busy: boolean;
  /** Red confirm button for what destroys something. */
  readonly danger: boolean;
  /** Shown inside the dialog when the action was refused, so the person sees why where they are looking. */
  readonly error: string | null;
  readonly onConfirm: () => void;
  readonly onClose: () => void;
}

/**
 * A modal question before anything that cannot be undone. The native
 * <dialog> with showModal() traps focus, closes on Escape and makes the rest
 * of the page inert by itself. Focus starts on the harmless choice.
 */
export function ConfirmDialog({ title, children, confirmLabel, cancelLabel, busy, danger, error, onConfirm, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const bodyId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    return () => dialog?.close();
  }, []);
  return (
    <dialog
      ref={ref}
      className="confirm"
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onClose={onClose}
      data-testid="confirm-dialog"
    >
      <h2 id={titleId}>{title}</h2>
      <div id={bodyId}>{children}</div>
      {error !== null && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        {/* biome-ignore lint/a11y/noAutofocus: a destructive confirmation opens on its safe choice, as the dialog pattern advises */}
        <button type="button" className="secondary" autoFocus onClick={() => ref.current?.close()} disabled={busy}>
          {cancelLabel}
        </button>
        <button
          type="button"
          className={danger ? 'danger' : undefined}
          data-testid="confirm"
          onClick={onConfirm}
          disabled={busy}
          aria-busy={busy}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
