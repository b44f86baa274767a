import { ApiRequestError } from '@tabgrid/shared';
import { useId, useState, type FormEvent } from 'react';
import { errorMessage } from '../api';
import { logIn } from '../auth';
import { PageHeading } from '../components/PageHeading';

/**
 * Asked once per browser: the operator token (the coordinator's ADMIN_TOKEN),
 * exchanged for a session cookie. The field is a password field, so it is
 * neither shown nor kept in the page.
 */
export function LoginPage({ reason }: { reason: string | null }) {
  const inputId = useId();
  const hintId = useId();
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent<HTMLFormElement>): Promise<void> => {
    e.preventDefault();
    if (token === '' || busy) return;
    setBusy(true);
    setError(null);
    try {
      await logIn(token.trim());
    } catch (err) {
      setError(
        err instanceof ApiRequestError && err.status === 401
          ? 'That is not this coordinator’s token.'
          : err instanceof ApiRequestError && err.status === 429
            ? `${err.message}.`
            : `Could not log in: ${errorMessage(err)}.`,
      );
      setToken('');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel login" aria-labelledby="login-heading">
      <PageHeading>
        <span id="login-heading">Log in</span>
      </PageHeading>
      {reason !== null && (
        <p className="note" role="status" data-testid="login-reason">
          {reason}
        </p>
      )}
      <p>This coordinator is for its operators. Enter its token once; this browser then keeps a session until it expires or you log out.</p>
      <form className="login-form" onSubmit={(e) => void submit(e)}>
        <label htmlFor={inputId}>Operator token</label>
        <input
          id={inputId}
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          required
          value={token}
          onChange={(e) => setToken(e.target.value)}
          aria-describedby={hintId}
          aria-invalid={error !== null}
          data-testid="login-token"
        />
        <p className="hint" id={hintId}>
          The value of <code>ADMIN_TOKEN</code> the coordinator was started with.
        </p>
        <div className="actions">
          <button type="submit" disabled={busy || token === ''} aria-busy={busy} data-testid="login-submit">
            {busy ? 'Logging in…' : 'Log in'}
          </button>
        </div>
      </form>
      {error !== null && (
        <p className="error" role="alert" data-testid="login-error">
          {error}
        </p>
      )}
    </section>
  );
}
