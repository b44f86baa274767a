/**
 * /api/session: the dashboard's login. Open to anyone (it is how one gets in),
 * under the CSRF rules of every state change and the failed-login limit.
 *
 *   GET     → { required, authenticated, expiresAt }: does this coordinator
 *             need the operator token, and does this request carry a good
 *             credential? Never 401, so a page can ask before anything fails.
 *   POST    { token } → the same, and an HttpOnly session cookie; 401 for a
 *             wrong token, 429 after too many from one address.
 *   DELETE  → 204: the cookie's session ends (on every coordinator) and the
 *             cookie is cleared.
 */
import { Hono } from 'hono';
import { loginRequestSchema } from '@tabgrid/shared';
import { ConflictError, InvalidRequestError } from '../errors.js';
import type { OperatorAuth } from '../http/auth.js';
import type { Logger } from '../logger.js';
import { smallBody } from '../http/body-limit.js';
import { clientKey } from '../http/login-limiter.js';

export function sessionRoutes(deps: { readonly auth: OperatorAuth; readonly logger: Logger }) {
  const app = new Hono();
  const log = deps.logger.child({ component: 'session' });

  app.get('/', async (c) => c.json(await deps.auth.status(c)));

  app.post('/', smallBody, async (c) => {
    if (!deps.auth.required) {
      throw new ConflictError('this coordinator has no ADMIN_TOKEN, so every /api route is open: there is nothing to log in to');
    }
    const body = loginRequestSchema.safeParse(await c.req.json().catch(() => undefined));
    if (!body.success) throw new InvalidRequestError('send { "token": "<ADMIN_TOKEN>" } as JSON');
    try {
      const session = await deps.auth.login(c, body.data.token);
      log.info({ client: clientKey(c.env), expiresAt: session.expiresAt }, 'operator logged in');
      return c.json({ required: true, authenticated: true, expiresAt: session.expiresAt.toISOString() });
    } catch (err) {
      // Who tried, never what they tried.
      log.warn({ client: clientKey(c.env), reason: (err as Error).message }, 'login refused');
      throw err;
    }
  });

  app.delete('/', async (c) => {
    await deps.auth.logout(c);
    return c.body(null, 204);
  });

  return app;
}
