/** Formatting for people: durations, sizes, dates, and the words for each state. */
import type { JobState, SourceInfo, TaskState } from '@tabgrid/shared';

/** 75.4 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function formatDate(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateFormat.format(d);
}

/** "1920×1080 · 30 fps · 2:05", leaving out what the probe has not found yet; null when nothing is known. */
export function formatSource(source: SourceInfo, withFps = false): string | null {
  const parts: string[] = [];
  if (source.width !== null && source.height !== null) parts.push(`${source.width}×${source.height}`);
  if (withFps && source.fps !== null) parts.push(`${Math.round(source.fps * 100) / 100} fps`);
  if (source.duration !== null) parts.push(formatDuration(source.duration));
  return parts.length > 0 ? parts.join(' · ') : null;
}

export const JOB_STATE_LABEL: Record<JobState, string> = {
  queued: 'Queued',
  probing: 'Probing',
  splitting: 'Splitting',
  transcoding: 'Transcoding',
  merging: 'Merging',
  done: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
};

export const JOB_STATE_DESCRIPTION: Record<JobState, string> = {
  queued: 'Waiting for the coordinator to pick it up.',
  probing: 'Reading the source’s streams, size and duration.',
  splitting: 'Cutting the source into chunks at keyframes.',
  transcoding: 'Volunteers’ browser tabs are transcoding the chunks.',
  merging: 'Joining the transcoded chunks and the audio into the final files.',
  done: 'Finished. The renditions are ready below.',
  failed: 'The job stopped with an error.',
  canceled: 'The job was canceled.',
};

export const TASK_STATE_LABEL: Record<TaskState, string> = {
  queued: 'Waiting for a tab',
  leased: 'Transcoding in a tab',
  verifying: 'Verifying the result',
  done: 'Done',
  dead: 'Gave up after retries',
  canceled: 'Canceled',
};

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** "just now", "4 min ago", "yesterday"; `now` in ms on the same clock as `iso`. */
export function formatAgo(iso: string, now: number): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  const abs = Math.abs(seconds);
  if (Number.isNaN(seconds)) return iso;
  if (abs < 45) return 'just now';
  if (abs < 3600) return relative.format(Math.round(seconds / 60), 'minute');
  if (abs < 86_400) return relative.format(Math.round(seconds / 3600), 'hour');
  return relative.format(Math.round(seconds / 86_400), 'day');
}

/** 0.4 → "0.4", 12.345 → "12", for rates where two significant digits say enough. */
export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return '–';
  return value >= 10 ? String(Math.round(value)) : String(Math.round(value * 10) / 10);
}

/** "Chrome 140 · Linux" from a user agent string: enough to tell volunteers' tabs apart. */
export function formatBrowser(userAgent: string | undefined): string | null {
  if (!userAgent) return null;
  const browser =
    /(Edg|OPR|Firefox|SamsungBrowser)\/(\d+)/.exec(userAgent) ??
    /(HeadlessChrome|Chrome|CriOS)\/(\d+)/.exec(userAgent) ??
    /Version\/(\d+).*(Safari)/.exec(userAgent);
  const names: Record<string, string> = {
    Edg: 'Edge',
    OPR: 'Opera',
    CriOS: 'Chrome',
    HeadlessChrome: 'Headless Chrome',
    SamsungBrowser: 'Samsung Internet',
  };
  let name: string | null = null;
  if (browser) name = browser[2] === 'Safari' ? `Safari ${browser[1]}` : `${names[browser[1]!] ?? browser[1]} ${browser[2]}`;
  const os = /Android|iPhone|iPad|Windows|Mac OS X|CrOS|Linux/.exec(userAgent)?.[0];
  const osName = os === 'Mac OS X' ? 'macOS' : os === 'CrOS' ? 'ChromeOS' : os;
  return [name, osName].filter(Boolean).join(' · ') || null;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** "14:03:27": attempt timings are seconds apart, so the seconds matter. */
export function formatTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : timeFormat.format(d);
}
