// The outbox: what you send without a network waits in the browser, survives a reload, and
// goes by itself, once, when the network is back; what the server refuses says why and offers
// Retry and Discard. And the installable app: a valid manifest, an active service worker, and
// the last room shown again with the server stopped.
import { type APIRequestContext, type Page } from "@playwright/test";
import { alert, expect, log, messageField, nameField, openChat, say, Server, test, unique } from "./helpers";

const OFFLINE = "Offline — messages will be sent when you reconnect";

/** The log's line of a message, by its exact text. */
const line = (page: Page, text: string) =>
  log(page)
    .getByRole("listitem")
    .filter({ has: page.locator(".text").getByText(text, { exact: true }) });

/** How many stored messages have exactly `text`, as any client reads them. */
async function storedCount(request: APIRequestContext, text: string, baseURL = "") {
  const reply = await request.post(`${baseURL}/ajax`, {
    data: { type: "sync", data: { last_message: 0 } },
  });
  const messages: { message: string }[] = (await reply.json()).data;
  return messages.filter((message) => message.message === text).length;
}

test("a message sent offline waits, then reaches another page exactly once", async ({
  page,
  browser,
}) => {
  const other = await (await browser.newContext()).newPage();
  await openChat(other);
  await openChat(page);
  await nameField(page).fill("Tess on a train");
  const text = unique("written in a tunnel");

  await page.context().setOffline(true);
  await say(page, text);
  // The box is free at once; the message is in the log, waiting.
  await expect(messageField(page)).toHaveValue("");
  await expect(line(page, text)).toContainText("Not sent yet");
  await expect(page.getByRole("status").filter({ hasText: OFFLINE })).toBeVisible();
  // Sending while offline is allowed: a second one queues behind it, in order.
  const second = unique("and another");
  await say(page, second);
  await expect(line(page, second)).toContainText(/Sending…|Not sent yet/);
  await page.waitForTimeout(500);
  await expect(other.getByText(text)).toHaveCount(0);

  await page.context().setOffline(false);
  await expect(line(other, text)).toHaveCount(1);
  await expect(line(other, second)).toHaveCount(1);
  const order = await log(other).locator("li .text").allTextContents();
  expect(order.indexOf(text)).toBeLessThan(order.indexOf(second));
  // Here the synced copy replaced the pending line: once, without a mark.
  await expect(line(page, text)).toHaveCount(1);
  await expect(line(page, text)).not.toHaveClass(/pending/);
  await expect(line(page, second)).not.toHaveClass(/pending/);
  await expect(page.getByText(OFFLINE)).toHaveCount(0);
  expect(await storedCount(page.request, text)).toBe(1);
  await other.context().close();
});

test("a message pending across a reload is sent once, with its nonce", async ({ page }) => {
  await openChat(page);
  await nameField(page).fill("Rhea Reload");
  const text = unique("survives a reload");
  const nonces: string[] = [];
  // Every attempt to post fails on the network: the page has no way to send it.
  await page.route("**/ajax", (route) => {
    const body = route.request().postDataJSON();
    if (body?.type !== "message") return route.continue();
    nonces.push(body.data.nonce);
    return route.abort("internetdisconnected");
  });
  await say(page, text);
  await expect(line(page, text)).toContainText("Not sent yet");
  await expect(page.getByText(OFFLINE)).toBeVisible();

  await page.reload();
  await expect(line(page, text)).toContainText(/Sending…|Not sent yet/);
  expect(await storedCount(page.request, text)).toBe(0);

  // The network is back: it goes by itself (the next retry or successful sync), once.
  await page.unroute("**/ajax");
  await expect(line(page, text)).not.toHaveClass(/pending/, { timeout: 20_000 });
  await expect(line(page, text)).toHaveCount(1);
  expect(await storedCount(page.request, text)).toBe(1);
  expect(nonces.length).toBeGreaterThanOrEqual(2);
  expect(new Set(nonces).size).toBe(1);
  // Nothing of it is left to send after another reload.
  await page.reload();
  await expect(line(page, text)).toHaveCount(1);
  await expect(log(page).locator("li.pending")).toHaveCount(0);
});

test("a refused message says Not sent with the reason, Retry and Discard", async ({ page }) => {
  await openChat(page);
  await nameField(page).fill("Big Ben");
  // Over the server's 64 KiB body limit: 413, which retrying cannot fix.
  const huge = `${unique("too big")} ${"x".repeat(70_000)}`;
  await say(page, huge);
  const refused = log(page).locator("li.pending");
  await expect(refused).toHaveCount(1);
  await expect(refused.locator(".state")).toHaveText("Not sent");
  await expect(refused.locator(".refusal")).toContainText("too large");
  await expect(alert(page)).toContainText("too large");
  await expect(refused.getByRole("button", { name: "Retry" })).toBeVisible();
  await expect(page.getByText(OFFLINE)).toHaveCount(0);

  // Still refused after a reload, until discarded.
  await page.reload();
  await expect(log(page).locator("li.pending .state")).toHaveText("Not sent");
  await log(page).getByRole("button", { name: "Discard" }).click();
  await expect(log(page).locator("li.pending")).toHaveCount(0);
  await page.reload();
  await expect(messageField(page)).toBeEnabled();
  await expect(log(page).locator("li.pending")).toHaveCount(0);

  // A refusal the user can fix: Retry sends it again with the name typed now.
  await nameField(page).fill("n".repeat(65));
  const text = unique("named again");
  await say(page, text);
  await expect(line(page, text).locator(".refusal")).toContainText("at most 64");
  await nameField(page).fill("Nina");
  await line(page, text).getByRole("button", { name: "Retry" }).click();
  await expect(line(page, text)).not.toHaveClass(/pending/);
  await expect(line(page, text).locator(".sender")).toHaveText("Nina");
  await expect(alert(page)).toHaveText("");
});

test.describe("installable app", () => {
  test.use({ serviceWorkers: "allow" });

  test("the manifest is valid and the service worker is active", async ({ page, request }) => {
    await openChat(page);
    const href = await page.locator('link[rel="manifest"]').getAttribute("href");
    expect(href).toBe("/manifest.webmanifest");
    const reply = await request.get(href!);
    expect(reply.headers()["content-type"]).toBe("application/manifest+json");
    const manifest = await reply.json();
    expect(manifest).toMatchObject({
      name: "Chat",
      short_name: "Chat",
      start_url: "/",
      display: "standalone",
    });
    expect(manifest.theme_color).toMatch(/^#[0-9a-f]{6}$/);
    expect(manifest.background_color).toMatch(/^#[0-9a-f]{6}$/);
    // Dark mode's own colours (Chromium's `user_preferences`), as the page's theme-color metas.
    const dark = manifest.user_preferences.color_scheme_dark;
    expect(dark.theme_color).toMatch(/^#[0-9a-f]{6}$/);
    expect(dark.theme_color).not.toBe(manifest.theme_color);
    for (const size of [192, 512]) {
      const icon = manifest.icons.find((icon: { sizes: string }) => icon.sizes === `${size}x${size}`);
      expect(icon.type).toBe("image/png");
      const png = await (await request.get(icon.src)).body();
      // The PNG header's width and height.
      expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([size, size]);
    }
    // Light and dark theme colours for the browser's bar.
    await expect(page.locator('meta[name="theme-color"]')).toHaveCount(2);

    // `ready` resolves once a worker is the active one, which it is from the start of its
    // activation: wait for that to finish.
    await expect
      .poll(() =>
        page.evaluate(async () => {
          const registration = await navigator.serviceWorker.ready;
          return { scope: registration.scope, state: registration.active?.state };
        }),
      )
      .toEqual({ scope: `${new URL(page.url()).origin}/`, state: "activated" });
    const worker = await request.get("/sw.js");
    expect(worker.headers()["cache-control"]).toBe("no-cache");
    // This build's hashed bundle is what it keeps.
    const script = await page.locator('link[rel="modulepreload"]').first().getAttribute("href");
    expect(await worker.text()).toContain(`"${script}"`);
    const policy = (await request.get("/")).headers()["content-security-policy"];
    expect(policy).toContain("worker-src 'self'");
  });

  test("with the server stopped, a reload still shows the last messages and the outbox", async ({
    page,
  }) => {
    const server = new Server(3216);
    await server.start();
    try {
      await openChat(page, server.url);
      await nameField(page).fill("Olga Offline");
      const seen = unique("seen before the outage");
      await say(page, seen);
      await expect(line(page, seen)).not.toHaveClass(/pending/);
      // Once the worker controls the page, each page it renders is kept as the last one.
      await expect
        .poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null))
        .toBe(true);
      await page.reload();
      await expect(line(page, seen)).toHaveCount(1);

      await server.stop();
      const pending = unique("written while the server is down");
      await say(page, pending);
      await expect(line(page, pending)).toContainText("Not sent yet");
      await page.reload();
      // No browser error page: the last room, hydrated, with the outbox.
      await expect(line(page, seen)).toHaveCount(1);
      await expect(messageField(page)).toBeEnabled();
      await expect(line(page, pending)).toContainText(/Sending…|Not sent yet/);

      // The server is back: the waiting message goes, once.
      await server.start();
      await expect(line(page, pending)).not.toHaveClass(/pending/, { timeout: 20_000 });
      expect(await storedCount(page.request, pending, server.url)).toBe(1);
    } finally {
      await server.stop();
    }
  });
});
