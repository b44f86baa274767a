import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { TabgridError } from '../errors.js';
import { csrfGuard } from './csrf.js';
import { createHostAllowList } from './host-allow-list.js';

const app = new Hono();
app.onError((err, c) => c.json({ error: { code: (err as TabgridError).code, message: err.message } }, 403));
app.use('/api/*', csrfGuard(createHostAllowList({ publicUrl: 'https://grid.example', host: '127.0.0.1', port: 8000 })));
app.all('/api/thing', (c) => c.text('done'));

const post = (headers: Record<string, string>, body: string | undefined = 'x') =>
  app.request('/api/thing', { method: 'POST', headers, body });

describe('csrfGuard', () => {
  it('refuses every kind of simple cross-site request a form or a beacon can send', async () => {
    for (const contentType of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'text/plain;charset=UTF-8',
    ]) {
      const res = await post({ 'content-type': contentType });
      expect(res.status, contentType).toBe(403);
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/X-Tabgrid-Request: 1/);
    }
    expect((await post({})).status).toBe(403);
    // A JSON-looking type that is not JSON, and a header with another value, are still simple enough.
    expect((await post({ 'content-type': 'application/json-seq' })).status).toBe(403);
    expect((await post({ 'x-tabgrid-request': 'yes' })).status).toBe(403);
  });

  it('lets a non-simple request through: the custom header, a JSON body, or an Authorization header', async () => {
    expect((await post({ 'x-tabgrid-request': '1', 'content-type': 'multipart/form-data; boundary=x' })).status).toBe(200);
    expect((await post({ 'content-type': 'application/json; charset=utf-8' }, '{}')).status).toBe(200);
    expect((await post({ authorization: 'Bearer t' })).status).toBe(200);
    for (const method of ['PUT', 'PATCH', 'DELETE']) {
      expect((await app.request('/api/thing', { method })).status, method).toBe(403);
      expect((await app.request('/api/thing', { method, headers: { 'x-tabgrid-request': '1' } })).status, method).toBe(200);
    }
  });

  it('refuses a foreign, opaque or cross-site Origin even on a non-simple request', async () => {
    for (const origin of ['https://evil.example', 'null', 'http://grid.example', 'https://grid.example:8443', 'file://', 'not a url']) {
      const res = await post({ 'x-tabgrid-request': '1', origin });
      expect(res.status, origin).toBe(403);
    }
    expect((await post({ 'x-tabgrid-request': '1', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ 'x-tabgrid-request': '1', origin: 'https://grid.example', 'sec-fetch-site': 'same-origin' })).status).toBe(200);
    expect((await post({ 'x-tabgrid-request': '1', origin: 'http://localhost:8000' })).status).toBe(200);
  });

  it('leaves reads alone: GET and HEAD change nothing', async () => {
    expect((await app.request('/api/thing', { headers: { origin: 'https://evil.example' } })).status).toBe(200);
    expect((await app.request('/api/thing', { method: 'HEAD' })).status).toBe(200);
  });
});
