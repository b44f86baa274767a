import type { JobView } from '@tabgrid/shared';
import { useRef } from 'react';
import { formatSource } from '../format';

/** Presigned output URLs are valid for six hours; renew them (from a newer snapshot) well before. */
const URL_KEEP_MS = 5 * 3600 * 1000;

/**
 * Output URLs differ in every snapshot (each is freshly presigned), and a new
 * src makes <video> reload and lose its place. Keep the first URL per
 * rendition until it gets old.
 */
function useStableUrls(job: JobView): Map<string, string> {
  const kept = useRef(new Map<string, { url: string; at: number }>());
  const now = Date.now();
  for (const o of job.outputs) {
    const have = kept.current.get(o.rendition);
    if (!have || now - have.at > URL_KEEP_MS) kept.current.set(o.rendition, { url: o.url, at: now });
  }
  return new Map([...kept.current].map(([k, v]) => [k, v.url]));
}

/** A player, size and download link per rendition of a finished job, with what the source was. */
export function Outputs({ job }: { job: JobView }) {
  const urls = useStableUrls(job);
  const base = job.name.replace(/\.[^.]+$/, '') || job.id;
  const source = formatSource(job.source, true);
  return (
    <>
      {source !== null && (
        <p className="muted">
          Source: {source}
          {job.source.hasAudio !== null && (job.source.hasAudio ? ' · with audio' : ' · no audio')}
        </p>
      )}
      {job.outputs.length === 0 ? (
        <p className="muted">The job finished without outputs.</p>
      ) : (
        <ul className="outputs">
          {job.outputs.map((out) => {
            const url = urls.get(out.rendition) ?? out.url;
            return (
              <li key={out.rendition} data-testid="output" data-rendition={out.rendition}>
                <figure>
                  {/* A poster image is a later issue: it goes in `poster` here, and the box keeps its size meanwhile. */}
                  <video
                    controls
                    preload="metadata"
                    src={url}
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
