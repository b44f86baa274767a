/**
 * The one client of the coordinator's HTTP API, used by the dashboard (in the
 * browser), the CLI and the end-to-end tests (in Node): one method per route,
 * over the standard fetch.
 *
 * Every answer is checked against the shapes in api.ts and events.ts, so a
 * coordinator that drifts from the contract fails here, as one clear error,
 * instead of somewhere downstream. Every failure is an ApiRequestError that
 * carries the API's own `{ error: { code, message } }` when there is one.
 *
 * Authentication (a coordinator with ADMIN_TOKEN): a `token` is sent as
 * `Authorization: Bearer` (CLI, scripts, tests). In the browser the
 * dashboard instead logs in once (`login`), which sets an HttpOnly session
 * cookie; requests go with `credentials: 'same-origin'`, so the cookie
 * rides along, and every state change carries `X-Tabgrid-Request: 1`, which
 * the coordinator demands so that no other site can forge one with a form.
 *
 * A caller that must send a request itself (the dashboard's upload goes over
 * XMLHttpRequest, the only way to see upload progress) still takes the
 * request from here (`submitFileRequest`) and reads the answer here
 * (`readSubmitResponse`), so the routes and shapes are known in one place.
 */
import {
  apiErrorSchema,
  createdJobSchema,
  healthReportSchema,
  jobStateChangeSchema,
  jobViewSchema,
  sessionStatusSchema,
  sharedJobSchema,
  shareLinkSchema,
  taskViewSchema,
  type CreatedJob,
  type HealthReport,
  type JobStateChange,
  type JobView,
  type SessionStatus,
  type SharedJob,
  type ShareLink,
  type TaskView,
} from './api.js';
import { workersSnapshotSchema, type EventTopic, type WorkersSnapshot } from './events.js';
import type { JobEncoderSetting } from './encoder-choice.js';
import type { RenditionName } from './ladder.js';

/**
 * A failed API call. `code` is the API's own when it sent one (`not_found`,
 * `conflict`, …); otherwise the client's: `network` (no response; status 0),
 * `bad_response` (a 2xx that breaks the contract) or `http_error` (an error
 * status without the API's error body, e.g. a proxy's HTML page).
 */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError';
  constructor(
    /** HTTP status, or 0 when no response arrived. */
    readonly status: number,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A response as both fetch and XMLHttpRequest can give it. */
export interface RawResponse {
  readonly status: number;
  readonly statusText: string;
  readonly text: string;
}

/** One HTTP request, ready for fetch or XMLHttpRequest. */
export interface ApiRequest {
  readonly method: 'GET' | 'POST' | 'DELETE';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** FormData: fetch and XMLHttpRequest set the multipart content type, boundary included, themselves. */
  readonly body?: FormData | string;
}

export interface ApiClientOptions {
  /** The coordinator's origin, e.g. `http://127.0.0.1:8000`; empty for the page's own origin (the dashboard). */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <token>` on every request; change it later with `setToken`. */
  readonly token?: string | null;
  /** Defaults to the global fetch. */
  readonly fetch?: typeof fetch;
}

export interface CallOptions {
  /** Aborting rejects with the signal's reason (an AbortError), never an ApiRequestError, so a cancel is told from a failure. */
  readonly signal?: AbortSignal;
}

export interface SubmitOptions extends CallOptions {
  /** The ladder to make; none: the coordinator's default. */
  readonly renditions?: readonly RenditionName[];
  /** Which encoder makes it (encoder-choice.ts); none: x264. */
  readonly encoder?: JobEncoderSetting;
}

export interface SubmitFileOptions extends SubmitOptions {
  /** The name the job gets; defaults to the File's own name, or `upload`. */
  readonly filename?: string;
}

/** The part of a zod schema this module uses. */
interface Schema<T> {
  safeParse(data: unknown): { success: true; data: T } | { success: false; error: { message: string } };
}

/** What a route answers when it worked: the statuses it uses and how to read the body. */
interface Answer<T> {
  readonly statuses: readonly number[];
  readonly read: (res: RawResponse, label: string) => T;
}

function json<T>(schema: Schema<T>, status = 200): Answer<T> {
  return { statuses: [status], read: (res, label) => parseBody(schema, res, label) };
}

const NO_CONTENT: Answer<void> = { statuses: [204], read: () => undefined };

/** The 503 body says what is down, so it is an answer, not a failure; a 503 from something else (a proxy) is still a failure. */
const HEALTH: Answer<HealthReport> = {
  statuses: [200, 503],
  read: (res, label) => {
    if (res.status !== 200 && !healthReportSchema.safeParse(jsonOrUndefined(res.text)).success) throw errorFromBody(res);
    return parseBody(healthReportSchema, res, label);
  },
};

const JOB_LIST = json(jobViewSchema.array());
const JOB = json(jobViewSchema);
const TASKS = json(taskViewSchema.array());
const CREATED = json(createdJobSchema, 201);
const STATE_CHANGE = json(jobStateChangeSchema);
const WORKERS = json(workersSnapshotSchema);
const SESSION = json(sessionStatusSchema);
const SHARE = json(shareLinkSchema, 201);
const SHARED = json(sharedJobSchema);

/**
 * Sent with every state change (POST, DELETE): the coordinator refuses one
 * without it (or a JSON body), since a form on another site can send
 * neither, so it cannot forge one.
 */
export const CSRF_HEADER = 'x-tabgrid-request';

/** The body as JSON, or undefined when it is not JSON (a proxy's HTML error page, say). */
function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Validates a 2xx body against its schema; `label` (`GET /api/jobs`) names the call in the message. */
export function parseBody<T>(schema: Schema<T>, res: RawResponse, label: string): T {
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch (cause) {
    throw new ApiRequestError(res.status, 'bad_response', `${label}: the response is not JSON`, { cause });
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new ApiRequestError(res.status, 'bad_response', `${label}: unexpected response shape`, { cause: parsed.error });
  }
  return parsed.data;
}

/** Turns an error response into an ApiRequestError, preferring the API's own code and message. */
export function errorFromBody(res: RawResponse): ApiRequestError {
  const parsed = apiErrorSchema.safeParse(jsonOrUndefined(res.text));
  if (parsed.success) return new ApiRequestError(res.status, parsed.data.error.code, parsed.data.error.message);
  return new ApiRequestError(res.status, 'http_error', `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
}

function readResponse<T>(answer: Answer<T>, res: RawResponse, label: string): T {
  if (answer.statuses.includes(res.status)) return answer.read(res, label);
  if (res.status >= 200 && res.status < 300) {
    throw new ApiRequestError(res.status, 'bad_response', `${label}: expected HTTP ${answer.statuses.join(' or ')}, got ${res.status}`);
  }
  throw errorFromBody(res);
}

const jobPath = (id: string): string => `/api/jobs/${encodeURIComponent(id)}`;
const sharedPath = (capability: string): string => `/api/shared/${encodeURIComponent(capability)}`;

export interface ShareOptions extends CallOptions {
  /** How long the link works: 1 to 90 days; the coordinator's default (7) otherwise. */
  readonly expiresInDays?: number;
}

export class ApiClient {
  readonly baseUrl: string;
  private token: string | null;
  private readonly fetchImpl: typeof fetch;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.token = options.token ?? null;
    // Called unbound: browsers refuse a fetch whose `this` is not the window.
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** Sent with every request from now on; null sends none. */
  setToken(token: string | null): void {
    this.token = token;
  }

  /** Every job, newest first. */
  listJobs(options: CallOptions = {}): Promise<JobView[]> {
    return this.send(this.request('GET', '/api/jobs'), JOB_LIST, options);
  }

  getJob(id: string, options: CallOptions = {}): Promise<JobView> {
    return this.send(this.request('GET', jobPath(id)), JOB, options);
  }

  /** The chunk × rendition grid, with each task's attempts. */
  getTasks(id: string, options: CallOptions = {}): Promise<TaskView[]> {
    return this.send(this.request('GET', `${jobPath(id)}/tasks`), TASKS, options);
  }

  /** Has the coordinator download the source itself. */
  submitUrl(url: string, options: SubmitOptions = {}): Promise<CreatedJob> {
    const body: { url: string; renditions?: string; encoder?: JobEncoderSetting } = { url };
    if (options.renditions !== undefined && options.renditions.length > 0) body.renditions = options.renditions.join(',');
    if (options.encoder !== undefined) body.encoder = options.encoder;
    return this.send(this.request('POST', '/api/jobs', JSON.stringify(body)), CREATED, options);
  }

  /**
   * Uploads a source video: a File in the browser, `openAsBlob(path)` in Node
   * (read from disk as it is sent, never whole in memory).
   */
  submitFile(file: Blob, options: SubmitFileOptions = {}): Promise<CreatedJob> {
    return this.send(this.submitFileRequest(file, options), CREATED, options);
  }

  /** The request `submitFile` sends, for a caller that sends it itself. */
  submitFileRequest(file: Blob, options: Omit<SubmitFileOptions, 'signal'> = {}): ApiRequest {
    const form = new FormData();
    // Before the file, so the coordinator has it when the file's bytes start streaming in.
    if (options.renditions !== undefined && options.renditions.length > 0) form.append('renditions', options.renditions.join(','));
    if (options.encoder !== undefined) form.append('encoder', options.encoder);
    const filename = options.filename ?? ('name' in file && typeof file.name === 'string' && file.name ? file.name : 'upload');
    form.append('file', file, filename);
    return this.request('POST', '/api/jobs', form);
  }

  /** Reads the answer to `submitFileRequest` as `submitFile` would: the new job, or the ApiRequestError. */
  readSubmitResponse(res: RawResponse): CreatedJob {
    return readResponse(CREATED, res, 'POST /api/jobs');
  }

  /** Stops an unfinished job; 409 if it already ended. */
  cancelJob(id: string, options: CallOptions = {}): Promise<JobStateChange> {
    return this.send(this.request('POST', `${jobPath(id)}/cancel`), STATE_CHANGE, options);
  }

  /** Runs a failed or canceled job again; 409 otherwise. */
  retryJob(id: string, options: CallOptions = {}): Promise<JobStateChange> {
    return this.send(this.request('POST', `${jobPath(id)}/retry`), STATE_CHANGE, options);
  }

  /** Deletes an ended job and everything it made; 409 while it runs. */
  deleteJob(id: string, options: CallOptions = {}): Promise<void> {
    return this.send(this.request('DELETE', jobPath(id)), NO_CONTENT, options);
  }

  /** The volunteers' tabs, their current tasks, totals and throughput. */
  workers(options: CallOptions = {}): Promise<WorkersSnapshot> {
    return this.send(this.request('GET', '/api/workers'), WORKERS, options);
  }

  /** Whether this coordinator needs the operator token, and whether this client's credential (token or session cookie) is good. */
  session(options: CallOptions = {}): Promise<SessionStatus> {
    return this.send(this.request('GET', '/api/session'), SESSION, options);
  }

  /** Exchanges the operator token for a session cookie (browsers keep it; HttpOnly). 401 for a wrong token, 429 after too many. */
  login(token: string, options: CallOptions = {}): Promise<SessionStatus> {
    return this.send(this.request('POST', '/api/session', JSON.stringify({ token })), SESSION, options);
  }

  /** Ends the session the cookie stands for, on every coordinator, and clears the cookie. */
  logout(options: CallOptions = {}): Promise<void> {
    return this.send(this.request('DELETE', '/api/session'), NO_CONTENT, options);
  }

  /** A share link for one job: a capability URL that shows that job (its outputs and player) and nothing else. */
  shareJob(id: string, options: ShareOptions = {}): Promise<ShareLink> {
    const body = options.expiresInDays === undefined ? {} : { expiresInDays: options.expiresInDays };
    return this.send(this.request('POST', `${jobPath(id)}/share`, JSON.stringify(body)), SHARE, options);
  }

  /** The job a share link shows (no login needed: the capability is the credential). Any bad link is a 404. */
  sharedJob(capability: string, options: CallOptions = {}): Promise<SharedJob> {
    return this.send(this.request('GET', sharedPath(capability)), SHARED, options);
  }

  /** Whether the database and storage answer; a 503 is an answer here (`ok: false`), not an error. */
  health(options: CallOptions = {}): Promise<HealthReport> {
    return this.send(this.request('GET', '/healthz'), HEALTH, options);
  }

  /** The HLS master playlist of a done job, as its view's `hls.master` names it. */
  hlsMasterUrl(id: string): string {
    return this.hlsPlaylistUrl(id, 'master');
  }

  /** One HLS playlist of a done job: `master`, a rendition (`720p`) or `audio`. */
  hlsPlaylistUrl(id: string, playlist: string): string {
    return `${this.baseUrl}${jobPath(id)}/hls/${encodeURIComponent(playlist)}.m3u8`;
  }

  /**
   * The Server-Sent Events stream of these topics (and of one job's grid with
   * `jobId`). For EventSource, which cannot send an Authorization header.
   */
  eventsUrl(topics: readonly EventTopic[], jobId: string | null = null): string {
    const query = new URLSearchParams({ topics: topics.join(',') });
    if (jobId !== null) query.set('job', jobId);
    return `${this.baseUrl}/api/events?${query.toString()}`;
  }

  private request(method: ApiRequest['method'], path: string, body?: FormData | string): ApiRequest {
    const headers: Record<string, string> = { accept: 'application/json' };
    // The only string body is JSON (a submit by URL).
    if (typeof body === 'string') headers['content-type'] = 'application/json';
    if (method !== 'GET') headers[CSRF_HEADER] = '1';
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    return { method, url: `${this.baseUrl}${path}`, headers, ...(body === undefined ? {} : { body }) };
  }

  private async send<T>(request: ApiRequest, answer: Answer<T>, { signal }: CallOptions): Promise<T> {
    let response: Response;
    let text: string;
    try {
      response = await this.fetchImpl(request.url, {
        method: request.method,
        headers: request.headers,
        // The dashboard's session cookie goes with requests to its own origin, never elsewhere.
        credentials: 'same-origin',
        ...(request.body === undefined ? {} : { body: request.body }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (cause) {
      throw this.unreachable(cause, 0, signal);
    }
    try {
      text = await response.text();
    } catch (cause) {
      throw this.unreachable(cause, response.status, signal);
    }
    const label = `${request.method} ${request.url.slice(this.baseUrl.length)}`;
    return readResponse(answer, { status: response.status, statusText: response.statusText, text }, label);
  }

  /** What to throw when fetch or reading the body failed. An abort is the caller's own doing: its reason goes through untouched. */
  private unreachable(cause: unknown, status: number, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return signal.reason ?? cause;
    const where = this.baseUrl ? ` at ${this.baseUrl}` : '';
    return new ApiRequestError(status, 'network', `cannot reach the coordinator${where}`, { cause });
  }
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  return new ApiClient(options);
}
