import { describe, expect, it } from 'vitest';
import { displaySize, parseRenditionList, planLadder, type SourceGeometry } from './ladder.js';

const landscape720: SourceGeometry = { width: 1280, height: 720, sarNum: 1, sarDen: 1, rotation: 0 };
const sizes = (g: SourceGeometry, names = parseRenditionList('720p,480p,360p')) =>
  planLadder(g, names).map((r) => `${r.name}:${r.width}x${r.height}`);

describe('planLadder', () => {
  it('keeps the display aspect ratio and rounds the long side to even', () => {
    expect(sizes(landscape720)).toEqual(['720p:1280x720', '480p:854x480', '360p:640x360']);
  });

  it('names the short side of the displayed picture: a portrait phone video stays portrait', () => {
    // Coded 1920x1080 with a 90° rotation: displayed 1080 wide, 1920 high.
    const phone: SourceGeometry = { width: 1920, height: 1080, sarNum: 1, sarDen: 1, rotation: 90 };
    expect(sizes(phone)).toEqual(['720p:720x1280', '480p:480x854', '360p:360x640']);
    expect(sizes({ ...phone, rotation: 270 })).toEqual(sizes(phone));
    expect(sizes({ ...phone, rotation: 180 })).toEqual(['720p:1280x720', '480p:854x480', '360p:640x360']);
    // A portrait source without rotation metadata is the same picture.
    expect(sizes({ width: 1080, height: 1920, sarNum: 1, sarDen: 1, rotation: 0 })).toEqual(sizes(phone));
  });

  it('applies non-square pixels before sizing', () => {
    // DVD PAL 16:9 anamorphic: 720x576 with SAR 64:45 displays as 1024x576.
    const dvd: SourceGeometry = { width: 720, height: 576, sarNum: 64, sarDen: 45, rotation: 0 };
    expect(displaySize(dvd)).toEqual({ width: 1024, height: 576 });
    expect(sizes(dvd)).toEqual(['480p:854x480', '360p:640x360']);
  });

  it('never upscales: rungs above the source are dropped', () => {
    expect(sizes({ width: 854, height: 480, sarNum: 1, sarDen: 1, rotation: 0 })).toEqual(['480p:854x480', '360p:640x360']);
  });

  it('keeps one rendition at the source size when every rung is taller', () => {
    expect(sizes({ width: 320, height: 241, sarNum: 1, sarDen: 1, rotation: 0 })).toEqual(['360p:318x240']);
    // Rounding never adds a pixel past the source either.
    expect(sizes({ width: 1281, height: 720, sarNum: 1, sarDen: 1, rotation: 0 })[0]).toBe('720p:1280x720');
  });

  it('gives even dimensions for odd sources', () => {
    for (const r of planLadder(
      { width: 1917, height: 1079, sarNum: 1, sarDen: 1, rotation: 0 },
      parseRenditionList('1080p,720p,480p,360p,240p'),
    )) {
      expect(r.width % 2).toBe(0);
      expect(r.height % 2).toBe(0);
      expect(r.bufsizeKbps).toBe(2 * r.maxrateKbps);
    }
  });
});

describe('parseRenditionList', () => {
  it('sorts tallest first and drops duplicates', () => {
    expect(parseRenditionList(' 360p,720p,360p ,480p')).toEqual(['720p', '480p', '360p']);
  });
  it('rejects unknown names and empty lists with a message naming the known ones', () => {
    expect(() => parseRenditionList('720p,999p')).toThrow(/unknown rendition\(s\) 999p; known: 2160p/);
    expect(() => parseRenditionList(' , ')).toThrow(/empty/);
  });
});
