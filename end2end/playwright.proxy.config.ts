// The deployment the README describes, tested: the release chat server behind Caddy (Debian's,
// `tls internal`, HTTP/2 to the browser, end2end/proxy/Caddyfile), trusting X-Forwarded-For
// from it only. Chromium is told to accept Caddy's own certificate authority.
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import base from "./playwright.config";

if (!process.env.CHAT_E2E_PROXY_DIR) {
  process.env.CHAT_E2E_PROXY_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "ajax-chat-proxy-"));
}
const dir = process.env.CHAT_E2E_PROXY_DIR;

export default defineConfig({
  ...base,
  testDir: "./proxy",
  workers: 1,
  use: { ...base.use, baseURL: "https://localhost:3443", ignoreHTTPSErrors: true },
  webServer: [
    {
      command: "target/release/ajax-chat",
      cwd: "..",
      url: "http://127.0.0.1:3280/healthz",
      reuseExistingServer: false,
      timeout: 60_000,
      stdout: "ignore",
      stderr: "pipe",
      env: {
        LEPTOS_SITE_ADDR: "127.0.0.1:3280",
        DATABASE_URL: `sqlite://${path.join(dir, "proxy.db")}`,
        RUST_LOG: "warn",
        CHAT_TRUST_FORWARDED_FOR: "true",
        // The defaults (5 a second, a burst of 20): the test shows they hold per client.
      },
    },
    {
      command: "caddy run --config end2end/proxy/Caddyfile --adapter caddyfile",
      cwd: "..",
      url: "https://localhost:3443/healthz",
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
