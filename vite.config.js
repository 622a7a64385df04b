// Builds frontend/main.js into aftersales/web/static/dist/ with a manifest that the
// {% vite_assets %} template tag reads. `base` must equal STATIC_URL + "dist/", or the URLs
// written into the CSS (fonts, images) and the manifest would point to the wrong place.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root,
  base: process.env.AFTERSALES_STATIC_URL
    ? `${process.env.AFTERSALES_STATIC_URL.replace(/\/$/, "")}/dist/`
    : "/static/dist/",
  publicDir: false,
  build: {
    outDir: "aftersales/web/static/dist",
    emptyOutDir: true,
    manifest: true,
    target: "es2020",
    sourcemap: false,
    rollupOptions: {
      input: { main: "frontend/main.js" },
    },
  },
});
