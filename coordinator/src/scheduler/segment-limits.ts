/**
 * What a tab's transfers may be: how long its presigned URLs live, and how
 * many bytes its segment upload may carry (maxSegmentBytes, defined in
 * shared/src/segment-bounds.ts because the native worker holds its ffmpeg to
 * the same bound: a loose VBV bound from the rung's maxrate and bufsize,
 * ~47 MB for a 4 s 720p chunk whose honest segments weigh ~1 MB).
 */
export { maxSegmentBytes } from '@tabgrid/shared';

/**
 * Presigned chunk GETs and segment PUTs live this long: past any honest
 * task (a 4 s 1080p chunk takes ~12 s in a wasm tab on this 2-core machine;
 * a slow phone ten times that), short enough that a leaked URL is soon
 * useless. A tab whose URL expired fails the attempt and the task is leased
 * again with fresh ones.
 */
export const TRANSFER_URL_SECONDS = 10 * 60;
