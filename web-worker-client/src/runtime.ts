/**
 * The worker runtime without a page: session, connection, task runner and
 * the Transcoder interface, none of which touches the DOM (the socket,
 * fetch, the transcoder, the identity and the platform are injected). The
 * contributor page runs it with the browser's WebSocket and ffmpeg.wasm; the
 * native worker (native-worker/) imports it from here with the `ws` package
 * and native ffmpeg. Nothing in this list may import the DOM or a browser
 * module: native-worker's tsconfig has no DOM library, so its type check
 * fails if one does.
 */
export { Connection, RECONNECT_BACKOFF, wsUrl } from './connection.js';
export type { ConnectionOptions, ConnectionState, LogFn, OutgoingMessage, SocketLike } from './connection.js';
export { memoryIdentity } from './identity.js';
export type { StoredIdentity, WorkerIdentity } from './identity.js';
export { Session } from './session.js';
export type { SessionDeps, SessionStatus } from './session.js';
export { TaskRunner } from './task-runner.js';
export type { RunnerDeps, RunnerStatus } from './task-runner.js';
export { TaskFailure } from './transfer.js';
export { LogTail, parseStreamFps } from './transcoder/ffmpeg-log.js';
export { checkRungs, isTranscodeError, TranscodeError } from './transcoder/types.js';
export type { TranscodeErrorCode, TranscodeOptions, TranscodeProgress, Transcoder } from './transcoder/types.js';
