// Browser tests of the chat page: Debian's Chromium (never a downloaded browser) against the
// release server that `cargo leptos build --release --split` produced, on fresh databases. Two
// workers, each with a chat server of its own (see `test` in tests/helpers.ts): the tests of one
// run one at a time, so each sees only its own traffic.
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// Workers re-read this file: create the database folder once and hand it down by environment.
if (!process.env.CHAT_E2E_DIR) {
  process.env.CHAT_E2E_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "ajax-chat-e2e-"));
}
const WORKERS = 2;
const ports = Array.from({ length: WORKERS }, (_, n) => 3210 + 10 * n);
// Read by the workers' `baseURL` (tests/helpers.ts).
process.env.CHAT_E2E_SERVERS = ports.map((port) => `http://127.0.0.1:${port}`).join(",");

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  // One server per worker, one conversation each: a worker runs its tests one at a time.
  workers: WORKERS,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${ports[0]}`,
    trace: "retain-on-failure",
    // The service worker would stand between a test's routes and the page; the tests of the
    // installable app (offline.spec.ts) allow it.
    serviceWorkers: "block",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: ports.map((port) => ({
    command: "target/release/ajax-chat",
    cwd: "..",
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore" as const,
    stderr: "pipe" as const,
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      DATABASE_URL: `sqlite://${path.join(process.env.CHAT_E2E_DIR!, `e2e-${port}.db`)}`,
      RUST_LOG: "warn",
      // general, and two more rooms for the tests of rooms (end2end/tests/rooms.spec.ts).
      CHAT_ROOMS: "dev,ops",
      // Polling every second, as the seed's page: the tests of ticks, back-off and hidden tabs
      // drive it with Playwright's clock. Long polling has its own servers (longpoll.spec.ts).
      CHAT_LONG_POLL_MS: "0",
      // The tests post quickly from one address; rate limits have their own test.
      CHAT_MESSAGE_RATE: "1000",
      CHAT_MESSAGE_BURST: "1000",
      // Likewise uploads (files.spec.ts); their rate has its own protocol test.
      CHAT_UPLOAD_RATE: "0",
      // The operator's token, for the admin view's test (identity.spec.ts).
      CHAT_ADMIN_TOKEN: "e2e-operator-token-0123456789abcdef",
    },
  })),
});
