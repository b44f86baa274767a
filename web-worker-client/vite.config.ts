import { defineConfig, type Plugin } from 'vite';

// The coordinator serves dist/ at /contribute/ and the WebSocket at /ws/v1 on
// the same origin. In development, Vite proxies to a coordinator on its
// default address so the page can use the same paths.
const coordinator = 'http://127.0.0.1:8000';

const CDN = /https:\/\/(?:unpkg\.com|cdn\.jsdelivr\.net)[^`'"]*/;

/**
 * @ffmpeg/ffmpeg's worker falls back to a CDN copy of the core when no
 * coreURL is given. We always pass one; this blanks the fallback so a
 * missing URL fails loudly instead of fetching code from a third party,
 * and fails the build if any CDN address survives into the output.
 */
function noCdn(): Plugin {
  return {
    name: 'tabgrid-no-cdn',
    transform(code, id) {
      if (!/@ffmpeg[\\/]ffmpeg[\\/]dist[\\/]esm[\\/]const\.js$/.test(id)) return null;
      if (!CDN.test(code)) this.error('@ffmpeg/ffmpeg const.js no longer holds the CDN address we blank; recheck it');
      return { code: code.replace(new RegExp(CDN.source, 'g'), ''), map: null };
    },
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        const text = file.type === 'chunk' ? file.code : typeof file.source === 'string' ? file.source : '';
        if (CDN.test(text)) this.error(`${file.fileName} contains a CDN address`);
      }
    },
  };
}

export default defineConfig({
  base: '/contribute/',
  plugins: [noCdn()],
  // Worker bundles get their own plugin list in a build.
  worker: { format: 'es', plugins: () => [noCdn()] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Never inline the ffmpeg files as data: URLs (core-mt's worker is small
    // enough to be): the core loads them by URL, from our origin.
    assetsInlineLimit: 0,
  },
  server: {
    proxy: { '/ws': { target: coordinator, ws: true } },
  },
});
