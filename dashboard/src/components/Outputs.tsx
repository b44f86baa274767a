import type { JobView } from '@tabgrid/shared';

/** A player and a download link per rendition of a finished job. */
export function Outputs({ job }: { job: JobView }) {
  if (job.outputs.length === 0) return <p className="muted">The job finished without outputs.</p>;
  const base = job.name.replace(/\.[^.]+$/, '') || job.id;
  return (
    <ul className="outputs">
      {job.outputs.map((out) => (
        <li key={out.rendition}>
          <figure>
            <video controls preload="metadata" src={out.url} width={out.width} height={out.height} aria-label={`${job.name}, ${out.rendition}`} />
            <figcaption>
              <span>
                {out.rendition} · {out.width}×{out.height}
              </span>{' '}
              {/* `download` only names the file on the same origin; from S3 the browser may open it instead. */}
              <a href={out.url} download={`${base}_${out.rendition}.mp4`}>
                Download {out.rendition}
              </a>
            </figcaption>
          </figure>
        </li>
      ))}
    </ul>
  );
}
