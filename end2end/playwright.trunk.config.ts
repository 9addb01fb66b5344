// The core scenario against the client-only build: `trunk serve` (Trunk.toml) proxying /ajax
// to a real chat server on 127.0.0.1:3000, the backend Trunk.toml names.
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import base from "./playwright.config";

if (!process.env.CHAT_E2E_TRUNK_DIR) {
  process.env.CHAT_E2E_TRUNK_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "ajax-chat-trunk-"));
}
const trunkPort = 8091;

export default defineConfig({
  ...base,
  testMatch: "core.spec.ts",
  use: { ...base.use, baseURL: `http://127.0.0.1:${trunkPort}` },
  webServer: [
    {
      command: "target/release/ajax-chat",
      cwd: "..",
      url: "http://127.0.0.1:3000/healthz",
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
      env: {
        LEPTOS_SITE_ADDR: "127.0.0.1:3000",
        DATABASE_URL: `sqlite://${path.join(process.env.CHAT_E2E_TRUNK_DIR, "trunk.db")}`,
        RUST_LOG: "warn",
        CHAT_MESSAGE_RATE: "1000",
        CHAT_MESSAGE_BURST: "1000",
      },
    },
    {
      command: `trunk serve --port ${trunkPort} --no-autoreload`,
      cwd: "..",
      url: `http://127.0.0.1:${trunkPort}/`,
      reuseExistingServer: false,
      // The first serve compiles the client: minutes on a cold cache.
      timeout: 600_000,
      stdout: "ignore",
      stderr: "pipe",
    },
  ],
});
