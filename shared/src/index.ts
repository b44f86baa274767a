export * from './protocol.js';
export * from './ladder.js';
export * from './api.js';
export * from './manifest.js';
export * from './events.js';
export * from './api-client.js';
