import type { JobView } from '@tabgrid/shared';
import { useCallback, useRef } from 'react';
import { formatSource } from '../format';
import { stableUrl } from '../stableUrl';
import { HlsPlayer } from './HlsPlayer';
import { Thumbnails } from './Thumbnails';

/**
 * The adaptive stream, a player, size and download link per rendition of a
 * finished job, the thumbnails, and what the source was.
 */
export function Outputs({ job }: { job: JobView }) {
  const base = job.name.replace(/\.[^.]+$/, '') || job.id;
  const source = formatSource(job.source, true);
  const poster = job.poster ? stableUrl(`${job.id}/poster`, job.poster) : undefined;
  const thumbsUrl = job.thumbnails ? stableUrl(`${job.id}/thumbnails`, job.thumbnails.url) : null;
  const hlsVideo = useRef<HTMLVideoElement>(null);
  const top = job.outputs.reduce<JobView['outputs'][number] | undefined>(
    (a, o) => (a === undefined || o.height > a.height ? o : a),
    undefined,
  );
  const aspect = top ?? { width: job.source.width ?? 16, height: job.source.height ?? 9 };
  const seek = useCallback((seconds: number) => {
    const v = hlsVideo.current;
    if (v === null) return;
    v.currentTime = seconds;
    v.scrollIntoView({ block: 'nearest' });
    void v.play().catch(() => undefined);
  }, []);
  return (
    <>
      {source !== null && (
        <p className="muted">
          Source: {source}
          {job.source.hasAudio !== null && (job.source.hasAudio ? ' · with audio' : ' · no audio')}
        </p>
      )}
      {job.hls && (
        <>
          <h3 id="hls-heading">Adaptive (HLS)</h3>
          <HlsPlayer job={job} hls={job.hls} poster={poster} width={aspect.width} height={aspect.height} videoRef={hlsVideo} />
        </>
      )}
      {job.thumbnails && thumbsUrl !== null && job.thumbnails.count > 0 && (
        <>
          <h3>Thumbnails</h3>
          <Thumbnails thumbs={job.thumbnails} url={thumbsUrl} onPick={job.hls ? seek : undefined} />
        </>
      )}
      {job.hls && <h3>Renditions (MP4)</h3>}
      {job.outputs.length === 0 ? (
        <p className="muted">The job finished without outputs.</p>
      ) : (
        <ul className="outputs">
          {job.outputs.map((out) => {
            const url = stableUrl(`${job.id}/${out.rendition}`, out.url);
            return (
              <li key={out.rendition} data-testid="output" data-rendition={out.rendition}>
                <figure>
                  {/* biome-ignore lint/a11y/useMediaCaption: transcoded outputs carry no caption track yet; there is nothing to point a <track> at */}
                  <video
                    controls
                    playsInline
                    preload="metadata"
                    src={url}
                    poster={poster}
                    width={out.width}
                    height={out.height}
                    style={{ aspectRatio: `${out.width} / ${out.height}` }}
                    aria-label={`${job.name}, ${out.rendition}`}
                  />
                  <figcaption>
                    <span>
                      <strong>{out.rendition}</strong> · {out.width}×{out.height}
                    </span>
                    {/* `download` only names the file on the same origin; from S3 the browser may open it instead. */}
                    <a href={url} download={`${base}_${out.rendition}.mp4`}>
                      Download<span className="visually-hidden"> {out.rendition}</span>
                    </a>
                  </figcaption>
                </figure>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}
