export * from './protocol.js';
export * from './ladder.js';
export * from './api.js';
export * from './manifest.js';
export * from './events.js';
export * from './media-records.js';
export * from './x264-args.js';
export * from './backoff.js';
