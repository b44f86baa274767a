import type { ThumbnailsView } from '@tabgrid/shared';
import { formatDuration } from '../format';

/** Shown tile width in CSS px; the sprite's tiles are scaled to it. */
const TILE = 96;

/** The thumbnail sprite as a filmstrip: tile i at column i % columns, row ⌊i / columns⌋, second i × interval. */
export function Thumbnails({ thumbs, url, onPick }: { thumbs: ThumbnailsView; url: string; onPick?: (seconds: number) => void }) {
  const scale = TILE / thumbs.width;
  const h = Math.round(thumbs.height * scale);
  const tiles = Array.from({ length: thumbs.count }, (_, i) => i);
  return (
    <figure className="filmstrip" data-testid="thumbnails">
      {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable strip must be focusable so keyboard users can scroll it */}
      <ul className="filmstrip-tiles" tabIndex={0} aria-label={`Thumbnails, one every ${thumbs.interval} s`}>
        {tiles.map((i) => {
          const at = i * thumbs.interval;
          const style = {
            width: TILE,
            height: h,
            backgroundImage: `url("${url}")`,
            backgroundSize: `${thumbs.columns * TILE}px ${Math.round(thumbs.rows * thumbs.height * scale)}px`,
            backgroundPosition: `${-(i % thumbs.columns) * TILE}px ${-Math.floor(i / thumbs.columns) * h}px`,
          };
          return (
            <li key={i}>
              {onPick ? (
                <button
                  type="button"
                  className="tile"
                  style={style}
                  onClick={() => onPick(at)}
                  aria-label={`Play from ${formatDuration(at)}`}
                >
                  <span className="tile-time" aria-hidden="true">
                    {formatDuration(at)}
                  </span>
                </button>
              ) : (
                <span className="tile" role="img" style={style} aria-label={`Frame at ${formatDuration(at)}`}>
                  <span className="tile-time" aria-hidden="true">
                    {formatDuration(at)}
                  </span>
                </span>
              )}
            </li>
          );
        })}
      </ul>
      <figcaption className="hint">
        {thumbs.count} thumbnails, one every {thumbs.interval} s{onPick ? '; pick one to play the adaptive stream from there.' : '.'}
      </figcaption>
    </figure>
  );
}
