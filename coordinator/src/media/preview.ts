/**
 * A poster frame and a thumbnail strip, from the top merged rendition (it is
 * the job's best picture that is already decoded-clean and rotated for
 * display; the source may need rotation/pixel-aspect handling).
 *
 * The strip is one sprite JPEG, a grid of `columns` × `rows` tiles of
 * `width` × `height`, tile i showing time i × interval. Its grid is described
 * in JSON (the JobView's `thumbnails`) rather than a WebVTT track: a VTT file
 * would have to name the sprite by URL, and storage URLs are presigned and
 * expire.
 */
import type { ThumbnailGrid } from '@tabgrid/shared';
import { runTool, type MediaTools } from './tools.js';

const TILE_WIDTH = 160;
const MAX_TILES = 100;
const COLUMNS = 10;

export async function extractPoster(tools: MediaTools, input: string, duration: number, out: string): Promise<void> {
  // 10% in: past fades from black and title cards, still representative.
  const at = Math.max(0, duration * 0.1);
  await runTool(tools.ffmpeg, ['-v', 'error', '-nostdin', '-y', '-ss', at.toFixed(3), '-i', input, '-frames:v', '1', '-q:v', '3', out], {
    timeoutMs: 5 * 60_000,
  });
}

export function thumbnailGrid(duration: number, width: number, height: number): ThumbnailGrid {
  // One tile per second for short videos, at most MAX_TILES for long ones.
  const interval = Math.max(1, duration / MAX_TILES);
  const count = Math.max(1, Math.min(MAX_TILES, Math.floor(duration / interval)));
  const columns = Math.min(COLUMNS, count);
  const tileHeight = Math.max(2, Math.round((TILE_WIDTH * height) / width / 2) * 2);
  return { columns, rows: Math.ceil(count / columns), count, interval, width: TILE_WIDTH, height: tileHeight };
}

export async function extractThumbnailSprite(tools: MediaTools, input: string, grid: ThumbnailGrid, out: string): Promise<void> {
  const vf = `fps=1/${grid.interval.toFixed(6)}:round=down,scale=${grid.width}:${grid.height},tile=${grid.columns}x${grid.rows}`;
  await runTool(tools.ffmpeg, ['-v', 'error', '-nostdin', '-y', '-i', input, '-an', '-vf', vf, '-frames:v', '1', '-q:v', '5', out], {
    timeoutMs: 15 * 60_000,
  });
}
