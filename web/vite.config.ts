import { defineConfig } from "vitest/config";

// Served by the gateway at /ui (serve_apps/web.py); `npm run dev` proxies the API to a running `dto run`.
export default defineConfig({
  base: "/ui/",
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 600 },
  server: {
    proxy: Object.fromEntries(
      ["/v1", "/health"].map((path) => [path, process.env.DTO_GATEWAY ?? "http://127.0.0.1:8000"]),
    ),
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
