/**
 * Shapes the coordinator's media steps produce and the database stores on a
 * job (as JSON): defined here, below both, so the schema does not depend on
 * the media code and the media code does not depend on the schema.
 */

/** A thumbnail sprite's layout: `columns` × `rows` tiles of `width` × `height`, tile i (row-major) at time i × `interval` s. */
export interface ThumbnailGrid {
  columns: number;
  rows: number;
  count: number;
  /** Seconds between tiles; tile i shows time i × interval. */
  interval: number;
  width: number;
  height: number;
}

/** SSIM/PSNR of a merged rendition against the frames it was made from, overall and split at chunk boundaries. */
export interface QualitySummary {
  ssim: number;
  psnr: number;
  boundarySsim: number;
  interiorSsim: number;
  boundaryPsnr: number;
  interiorPsnr: number;
  frames: number;
}
