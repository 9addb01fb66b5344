// The deployment the README describes, tested: the release chat server behind Caddy (Debian's,
// `tls internal`, HTTP/2 to the browser, end2end/proxy/Caddyfile), trusting X-Forwarded-For
// from it only. The server runs as deploy/ajax-chat.service runs it: from a folder of its own
// (no Cargo.toml there), its site and hash.txt named by the unit's LEPTOS_* variables. The
// browser accepts Caddy's certificate without trusting its CA (`ignoreHTTPSErrors`).
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import base from "./playwright.config";

if (!process.env.CHAT_E2E_PROXY_DIR) {
  process.env.CHAT_E2E_PROXY_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "ajax-chat-proxy-"));
}
const dir = process.env.CHAT_E2E_PROXY_DIR;
const root = path.resolve(__dirname, "..");

export default defineConfig({
  ...base,
  testDir: "./proxy",
  workers: 1,
  use: { ...base.use, baseURL: "https://localhost:3443", ignoreHTTPSErrors: true },
  webServer: [
    {
      command: path.join(root, "target/release/ajax-chat"),
      cwd: dir,
      url: "http://127.0.0.1:3280/healthz",
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
      // deploy/ajax-chat.service's Environment= lines, but for paths and the port.
      env: {
        LEPTOS_SITE_ADDR: "127.0.0.1:3280",
        LEPTOS_SITE_ROOT: path.join(root, "target/site"),
        LEPTOS_OUTPUT_NAME: "ajax-chat",
        LEPTOS_HASH_FILES: "true",
        DATABASE_URL: `sqlite://${path.join(dir, "proxy.db")}`,
        CHAT_TRUST_FORWARDED_FOR: "true",
        CHAT_LOG_FORMAT: "json",
        RUST_LOG: "warn",
        // A burst of 20 posts per client and almost nothing after: proxy.spec.ts counts them.
        CHAT_MESSAGE_RATE: "0.01",
      },
    },
    {
      command: `caddy run --config ${path.join(root, "end2end/proxy/Caddyfile")} --adapter caddyfile`,
      cwd: root,
      url: "https://127.0.0.1:3443/healthz",
      ignoreHTTPSErrors: true,
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
      // Caddy's CA and certificates in the test's folder, not the user's.
      env: { XDG_DATA_HOME: path.join(dir, "data"), XDG_CONFIG_HOME: path.join(dir, "config") },
    },
  ],
});
