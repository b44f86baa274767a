/** Presigned URLs are valid for six hours; renew them (from a newer snapshot) well before. */
const URL_KEEP_MS = 5 * 3600 * 1000;
const kept = new Map<string, { url: string; at: number }>();

/**
 * Presigned URLs differ in every snapshot, and a new src makes a <video>
 * reload and lose its place (and an <img> fetch again). Keep the first URL
 * seen under `key` until it gets old. Module-wide, so a list and a page
 * showing the same poster share it.
 */
export function stableUrl(key: string, url: string): string {
  const now = Date.now();
  const have = kept.get(key);
  if (have && now - have.at <= URL_KEEP_MS) return have.url;
  kept.set(key, { url, at: now });
  return url;
}
