import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// In development the dashboard runs on Vite's server and everything that is
// not the dashboard itself goes to a coordinator on its default address, so
// the app can use same-origin paths exactly as it does when the coordinator
// serves dist/.
const coordinator = 'http://127.0.0.1:8000';

export default defineConfig({
  base: '/',
  plugins: [react()],
  // hls.js (~580 kB, ~180 kB gzipped) is its own chunk, fetched only when a job's adaptive player is shown.
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 650 },
  server: {
    proxy: {
      '/api': coordinator,
      '/ws': { target: coordinator, ws: true },
      '/contribute': coordinator,
      '/storage': coordinator,
      '/healthz': coordinator,
    },
  },
});
