import type { JobView } from '@tabgrid/shared';
import type { ErrorData, Level } from 'hls.js';
import { useEffect, useId, useRef, useState, type RefObject } from 'react';

interface LevelInfo {
  readonly index: number;
  readonly label: string;
  readonly width: number;
  readonly height: number;
  readonly bitrate: number;
}

type Engine = 'loading' | 'hls.js' | 'native' | 'unsupported';

const HLS_TYPE = 'application/vnd.apple.mpegurl';

function kbps(bits: number): string {
  return bits >= 1e6 ? `${(bits / 1e6).toFixed(1)} Mb/s` : `${Math.round(bits / 1e3)} kb/s`;
}

function toInfo(level: Level, index: number): LevelInfo {
  const label = level.name && !/^\d+$/.test(level.name) ? level.name : level.height ? `${level.height}p` : `Level ${index + 1}`;
  return { index, label, width: level.width, height: level.height, bitrate: level.averageBitrate || level.bitrate };
}

/**
 * The whole ladder as one adaptive stream: hls.js (fetched only when this
 * player is on screen, so the main bundle stays small), or the browser's own
 * HLS where there is no MediaSource (iOS Safari). Shows the level playing and
 * lets the person pin one.
 */
export function HlsPlayer({
  job,
  hls,
  poster,
  width,
  height,
  videoRef: video,
}: {
  job: JobView;
  hls: { master: string };
  poster: string | undefined;
  width: number;
  height: number;
  videoRef: RefObject<HTMLVideoElement | null>;
}) {
  const player = useRef<import('hls.js').default | null>(null);
  const [engine, setEngine] = useState<Engine>('loading');
  const [levels, setLevels] = useState<LevelInfo[]>([]);
  const [current, setCurrent] = useState<number>(-1);
  const [picked, setPicked] = useState<number>(-1);
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const pickerId = useId();
  const src = new URL(hls.master, location.origin).href;

  useEffect(() => {
    const el = video.current;
    if (el === null) return;
    let gone = false;
    const onResize = () => setSize(el.videoWidth > 0 ? { w: el.videoWidth, h: el.videoHeight } : null);
    el.addEventListener('resize', onResize);
    const native = el.canPlayType(HLS_TYPE) !== '';
    const hasMse = 'MediaSource' in window || 'ManagedMediaSource' in window;
    const playNatively = () => {
      setEngine('native');
      el.src = src;
    };
    if (native && !hasMse) {
      playNatively();
    } else {
      import('hls.js').then(
        ({ default: Hls }) => {
          if (gone) return;
          if (!Hls.isSupported()) {
            if (native) playNatively();
            else setEngine('unsupported');
            return;
          }
          // The manifest now (for the level list), the segments only once the person presses play.
          const h = new Hls({ autoStartLoad: false });
          player.current = h;
          // From wherever the person (or a thumbnail) has put the playhead meanwhile.
          el.addEventListener('play', () => h.startLoad(el.currentTime > 0 ? el.currentTime : -1), { once: true });
          let recovered = false;
          h.on(Hls.Events.MANIFEST_PARSED, (_e, data) => setLevels(data.levels.map(toInfo)));
          h.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => setCurrent(data.level));
          h.on(Hls.Events.ERROR, (_e, data: ErrorData) => {
            if (!data.fatal) return;
            if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
              recovered = true;
              h.recoverMediaError();
              return;
            }
            setError(`${data.type}: ${data.details}`);
            h.destroy();
            player.current = null;
          });
          h.loadSource(src);
          h.attachMedia(el);
          setEngine('hls.js');
        },
        (e: unknown) => {
          if (gone) return;
          if (native) playNatively();
          else setError(`the player could not be loaded (${e instanceof Error ? e.message : String(e)})`);
        },
      );
    }
    return () => {
      gone = true;
      el.removeEventListener('resize', onResize);
      player.current?.destroy();
      player.current = null;
      el.removeAttribute('src');
      el.load();
    };
  }, [src, video]);

  const pick = (index: number) => {
    setPicked(index);
    if (player.current) player.current.currentLevel = index;
  };

  const playing = levels[current];
  return (
    <figure className="hls-player" data-testid="hls-player" data-engine={engine}>
      {/* biome-ignore lint/a11y/useMediaCaption: transcoded outputs carry no caption track yet; there is nothing to point a <track> at */}
      <video
        ref={video}
        controls
        playsInline
        preload="metadata"
        poster={poster}
        width={width}
        height={height}
        style={{ aspectRatio: `${width} / ${height}` }}
        aria-label={`${job.name}, adaptive stream`}
        data-testid="hls-video"
      />
      <figcaption className="hls-bar">
        <span data-testid="hls-level">
          {engine === 'loading' ? (
            <span className="muted">Loading the player…</span>
          ) : engine === 'unsupported' ? (
            <span className="error">This browser cannot play HLS.</span>
          ) : playing !== undefined ? (
            <>
              Playing <strong>{playing.label}</strong> · {playing.width}×{playing.height} · {kbps(playing.bitrate)}
              {picked === -1 && <span className="muted"> (auto)</span>}
            </>
          ) : size !== null ? (
            <>
              Playing <strong>{size.h}p</strong> · {size.w}×{size.h}
              {engine === 'native' && <span className="muted"> (chosen by the browser)</span>}
            </>
          ) : (
            <span className="muted">Press play: the level shows here.</span>
          )}
        </span>
        {engine === 'hls.js' && levels.length > 0 && (
          <span className="level-pick">
            <label htmlFor={pickerId}>Level</label>
            <select id={pickerId} value={picked} onChange={(e) => pick(Number(e.target.value))} data-testid="hls-level-picker">
              <option value={-1}>Auto</option>
              {/* Highest first, as people read a ladder; hls.js keeps them lowest first. */}
              {[...levels].reverse().map((l) => (
                <option key={l.index} value={l.index}>
                  {l.label} · {kbps(l.bitrate)}
                </option>
              ))}
            </select>
          </span>
        )}
      </figcaption>
      {error !== null && (
        <p className="error" role="alert">
          The adaptive stream stopped: {error}
        </p>
      )}
    </figure>
  );
}
