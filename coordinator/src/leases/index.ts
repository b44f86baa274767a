export { claimOutlook, claimTasks, claimableExists } from './claim.js';
export { renewLease, renewLeases, resumeLease } from './heartbeat.js';
export { beginVerification, acceptSegment, undoVerification } from './complete.js';
export { failLease, type EndedLease } from './fail.js';
export { expireStalledChecks, holdVerification } from './check-hold.js';
export { requeueForReplica } from './replica.js';
export { reapExpiredLeases, releaseAllLeases, releaseLeases } from './reap.js';
export type { TaskRow, AttemptOutcome, LeasePolicy } from './types.js';
