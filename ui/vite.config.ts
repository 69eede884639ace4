import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build lands inside the Python package, so `naiad ui` and `naiad server` serve it with no Node.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../src/naiad/server/ui_dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
  },
  server: { proxy: { "/api": "http://127.0.0.1:4590" } },
});
