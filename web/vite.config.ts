import { svelte } from "@sveltejs/vite-plugin-svelte";
import { svelteTesting } from "@testing-library/svelte/vite";
import { defineConfig } from "vitest/config";

// Built to web/dist, served by the gateway under /app/ (index.html for every /app/* path: the app routes
// on the client). `npm run dev` proxies the API to a gateway on :8000.
export default defineConfig({
  // svelteTesting: component tests mount the browser build of Svelte in jsdom and clean up after each
  plugins: [svelte(), svelteTesting()],
  base: "/app/",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
  server: {
    proxy: { "/api": "http://127.0.0.1:8000", "/s/": "http://127.0.0.1:8000" },
  },
  test: { environment: "jsdom", include: ["src/**/*.test.ts"] },
});
