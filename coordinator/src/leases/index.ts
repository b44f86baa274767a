export { claimTasks } from './claim.js';
export { renewLease } from './heartbeat.js';
export { beginVerification, acceptSegment } from './complete.js';
export { failLease, type EndedLease } from './fail.js';
export { reapExpiredLeases, releaseLeases } from './reap.js';
export type { TaskRow, AttemptOutcome, LeasePolicy } from './types.js';
