/** What the page says about this tab's speed and donated time: pure, so it is tested without a browser. */
import type { TranscodeTiming } from './task-runner.js';

export interface Speed {
  /** Frames encoded per second of transcoding, over the recent tasks. */
  readonly fps: number;
  /** Seconds of video per second of transcoding; null when the chunks' frame rate is unknown. */
  readonly realtime: number | null;
}

export function speedOf(recent: readonly TranscodeTiming[]): Speed | null {
  const ms = recent.reduce((s, t) => s + t.encodeMs, 0);
  if (recent.length === 0 || ms <= 0) return null;
  const frames = recent.reduce((s, t) => s + t.frames, 0);
  const timed = recent.filter((t) => t.mediaSeconds !== undefined);
  const timedMs = timed.reduce((s, t) => s + t.encodeMs, 0);
  const media = timed.reduce((s, t) => s + (t.mediaSeconds ?? 0), 0);
  return { fps: (frames * 1000) / ms, realtime: timedMs > 0 ? (media * 1000) / timedMs : null };
}

/** Two lines for the page: frames per second, then the realtime factor. */
export function formatSpeed(s: Speed | null): { value: string; sub: string } {
  if (!s) return { value: '–', sub: 'measured after the first task' };
  const fps = `${s.fps >= 10 ? Math.round(s.fps) : s.fps.toFixed(1)} fps`;
  return { value: fps, sub: s.realtime === null ? '' : `${s.realtime.toFixed(s.realtime >= 10 ? 0 : 1)}× realtime` };
}

/** 0 s, 42 s, 3 min 05 s, 1 h 02 min. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${pad(Math.floor(s / 60) % 60)} min`;
}
