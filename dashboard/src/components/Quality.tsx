import type { JobView, RenditionQuality } from '@tabgrid/shared';

const ssim = (v: number) => v.toFixed(4);
const psnr = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '∞');
/** +0.0012, −0.15, ±0.00: the sign of the rounded figure, so a tiny difference never reads −0.00. */
const signed = (v: number, digits: number) => {
  const r = Number(v.toFixed(digits));
  return `${r > 0 ? '+' : r < 0 ? '−' : '±'}${Math.abs(r).toFixed(digits)}`;
};

/** SSIM/PSNR of each rendition against its source frames, next to one native single-pass encode of the same. */
export function Quality({ job }: { job: JobView }) {
  const quality = job.quality;
  if (quality === undefined) return <p className="muted">This coordinator does not measure quality.</p>;
  if (quality === null)
    return (
      <p className="muted" data-testid="quality-pending" role="status">
        Measuring… the figures appear here in a few seconds.
      </p>
    );
  if (quality.length === 0) return <p className="muted">No rendition was measured.</p>;
  return (
    <>
      <p className="hint" id="quality-note">
        Against the source frames. Boundary = frames next to a chunk seam; reference = one native encode of the whole source with the same
        settings (Δ = this output minus the reference).
      </p>
      <table className="quality responsive" data-testid="quality-table" aria-describedby="quality-note">
        <thead>
          <tr>
            <th scope="col">Rendition</th>
            <th scope="col">SSIM</th>
            <th scope="col">PSNR (dB)</th>
            <th scope="col">Boundary SSIM</th>
            <th scope="col">Interior SSIM</th>
            <th scope="col">Reference SSIM (Δ)</th>
            <th scope="col">Reference PSNR (Δ)</th>
          </tr>
        </thead>
        <tbody>
          {quality.map((q) => (
            <Row key={q.rendition} q={q} />
          ))}
        </tbody>
      </table>
    </>
  );
}

function Row({ q }: { q: RenditionQuality }) {
  const ref = q.reference;
  return (
    <tr data-testid="quality-row" data-rendition={q.rendition}>
      <th scope="row" className="name">
        {q.rendition}
      </th>
      <td data-label="SSIM" className="count">
        {ssim(q.ssim)}
      </td>
      <td data-label="PSNR (dB)" className="count">
        {psnr(q.psnr)}
      </td>
      <td data-label="Boundary SSIM" className="count">
        {ssim(q.boundarySsim)}
      </td>
      <td data-label="Interior SSIM" className="count">
        {ssim(q.interiorSsim)}
      </td>
      <td data-label="Ref. SSIM (Δ)" className="count">
        {ref === null ? (
          <span className="muted">—</span>
        ) : (
          <>
            {ssim(ref.ssim)} <span className="delta">({signed(q.ssim - ref.ssim, 4)})</span>
          </>
        )}
      </td>
      <td data-label="Ref. PSNR (Δ)" className="count">
        {ref === null ? (
          <span className="muted">—</span>
        ) : (
          <>
            {psnr(ref.psnr)}{' '}
            <span className="delta">({Number.isFinite(q.psnr - ref.psnr) ? `${signed(q.psnr - ref.psnr, 2)} dB` : '—'})</span>
          </>
        )}
      </td>
    </tr>
  );
}
