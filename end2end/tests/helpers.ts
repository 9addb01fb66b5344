// Shared by the browser tests: `test` (each worker against its own server), the page's
// accessible controls, a client of the JSON API, and extra servers a test can stop and start.
import AxeBuilder from "@axe-core/playwright";
import { test as base, expect, type APIRequestContext, type Page, type Route } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export { expect };

/**
 * Playwright's `test`, with each worker against a chat server of its own
 * (playwright.config.ts starts one per worker and names them in CHAT_E2E_SERVERS): tests
 * running side by side never see each other's messages. A configuration that names no such
 * servers (playwright.trunk.config.ts) keeps its own `baseURL`.
 */
export const test = base.extend({
  baseURL: async ({ baseURL }, use, testInfo) => {
    const servers = process.env.CHAT_E2E_SERVERS?.split(",") ?? [];
    const own = servers.includes(baseURL ?? "") ? servers[testInfo.parallelIndex % servers.length] : baseURL;
    await use(own);
  },
});

export const nameField = (page: Page) => page.getByRole("textbox", { name: "Name", exact: true });
export const messageField = (page: Page) =>
  page.getByRole("textbox", { name: "Message", exact: true });
export const sendButton = (page: Page) => page.getByRole("button", { name: "Send", exact: true });
export const log = (page: Page) => page.getByRole("log");
export const alert = (page: Page) => page.getByRole("alert");
/** The room's name at the top of the conversation. */
export const heading = (page: Page) => page.getByRole("heading", { level: 1 });

/** Opens the chat and waits until it is hydrated (Send is enabled only then). */
export async function openChat(page: Page, url = "/") {
  await page.goto(url);
  await expect(sendButton(page)).toBeEnabled();
}

/**
 * Puts the page on Playwright's clock, paused: its timers fire only when the test moves time
 * on (`page.clock.runFor`). Call before the page loads.
 */
export async function pauseClock(page: Page) {
  const start = new Date("2026-06-01T12:00:00Z");
  await page.clock.install({ time: start });
  await page.clock.pauseAt(new Date(start.getTime() + 1000));
}

/** Types a message and sends it with Enter. */
export async function say(page: Page, text: string) {
  await messageField(page).fill(text);
  await messageField(page).press("Enter");
}

/** Makes the page believe its tab is hidden (or shown again), as a browser would tell it. */
export async function setHidden(page: Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", {
      configurable: true,
      get: () => (hidden ? "hidden" : "visible"),
    });
    // As browsers fire it: at the document, bubbling up to the window.
    document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
  }, hidden);
}

/** Answers a routed request as a server whose storage is down: 503 with its status envelope. */
export function storageDown(route: Route) {
  return route.fulfill({
    status: 503,
    contentType: "application/json",
    body: JSON.stringify({
      type: "status",
      data: { status: 1, message: "storage is unavailable, please try again later" },
    }),
  });
}

/** Posts a message through the JSON API, as another client would. */
export async function postMessage(
  request: APIRequestContext,
  sender: string,
  message: string,
  baseURL = "",
) {
  const reply = await request.post(`${baseURL}/ajax`, {
    data: { type: "message", data: { sender, message } },
  });
  expect(reply.status()).toBe(200);
  expect((await reply.json()).data.status).toBe(0);
}

/** The exact text of each message in the log, oldest first. */
export async function texts(page: Page): Promise<string[]> {
  return log(page)
    .locator("li .text")
    .evaluateAll((nodes) => nodes.map((node) => node.textContent ?? ""));
}

export const unique = (label: string) =>
  `${label} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** A chat server of the test's own, on `port`, over the database in `dir`. */
export class Server {
  private child?: ChildProcess;
  readonly dir: string;

  constructor(
    readonly port: number,
    dir?: string,
    readonly env: Record<string, string> = {},
  ) {
    this.dir = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "ajax-chat-e2e-own-"));
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    const root = path.resolve(__dirname, "..", "..");
    this.child = spawn(path.join(root, "target", "release", "ajax-chat"), [], {
      cwd: root,
      env: {
        ...process.env,
        LEPTOS_SITE_ADDR: `127.0.0.1:${this.port}`,
        DATABASE_URL: `sqlite://${path.join(this.dir, "chat.db")}`,
        RUST_LOG: "warn",
        // Polling as the seed's page unless a test asks for long polling.
        CHAT_LONG_POLL_MS: "0",
        ...this.env,
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const health = await fetch(`${this.url}/healthz`);
        if (health.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`server on ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** SIGTERM, and wait until the process has exited (graceful shutdown). */
  async stop() {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

/** Posts a message to `room` through the JSON API and returns its id. */
export async function postTo(
  request: APIRequestContext,
  room: string,
  sender: string,
  message: string,
): Promise<number> {
  const reply = await request.post("/ajax", {
    data: { type: "message", data: { sender, message, room } },
  });
  expect(reply.status()).toBe(200);
  const status = (await reply.json()).data;
  expect(status.status).toBe(0);
  // "message <id> stored"
  return Number(status.message.split(" ")[1]);
}

/** The link to `room` in the navigation, by its accessible name ("#dev", "#dev 3 unread"). */
export const roomLink = (page: Page, name: string) =>
  page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name, exact: true });

/**
 * The page's serious and critical accessibility violations by axe-core (WCAG 2.0/2.1 A and AA,
 * 2.2 AA), each as its rule and where: what the accessibility tests expect to be none.
 */
export async function seriousViolations(page: Page) {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"])
    .analyze();
  return results.violations
    .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
    .map((violation) => ({
      rule: violation.id,
      where: violation.nodes.map((node) => node.target.join(" ")),
    }));
}
