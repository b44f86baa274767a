/**
 * mp4SampleCount(bytes) → the number of samples in the first track of an
 * MP4 file (its `moov/trak/mdia/minf/stbl/stsz` sample_count), or null when
 * the file has no such box. Our segments hold one video track, one frame per
 * sample, so this is the segment's frame count, read from the container the
 * coordinator will count too, without a second decode. The tab uses it
 * where ffmpeg's progress log cannot tell (it reports only the first output
 * of a run).
 * Pure: walks the box tree, never reads past the buffer.
 */

const CONTAINERS = ['moov', 'trak', 'mdia', 'minf', 'stbl'] as const;

function boxType(view: DataView, at: number): string {
  return String.fromCharCode(view.getUint8(at), view.getUint8(at + 1), view.getUint8(at + 2), view.getUint8(at + 3));
}

/** The payload range [start, end) of the first `type` box in [from, to), or null. */
function findBox(view: DataView, from: number, to: number, type: string): [number, number] | null {
  let at = from;
  while (at + 8 <= to) {
    let size = view.getUint32(at);
    let header = 8;
    if (size === 1) {
      if (at + 16 > to) return null;
      const big = view.getBigUint64(at + 8);
      if (big > BigInt(to - at)) return null;
      size = Number(big);
      header = 16;
    } else if (size === 0) size = to - at; // to the end of the enclosing box
    if (size < header || at + size > to) return null;
    if (boxType(view, at + 4) === type) return [at + header, at + size];
    at += size;
  }
  return null;
}

export function mp4SampleCount(bytes: Uint8Array): number | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let range: [number, number] = [0, bytes.byteLength];
  for (const type of [...CONTAINERS, 'stsz']) {
    const found = findBox(view, range[0], range[1], type);
    if (!found) return null;
    range = found;
  }
  // stsz: version+flags (4), sample_size (4), sample_count (4).
  if (range[1] - range[0] < 12) return null;
  return view.getUint32(range[0] + 8);
}
