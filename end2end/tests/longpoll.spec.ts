// Long polling: with it on (the server's default), a message reaches another page in well
// under a poll interval, also a hidden tab's. The server here polls only every 10 s, so that
// nothing but the long poll can explain a quick arrival. (With CHAT_LONG_POLL_MS=0 the page
// polls as before: the other specs run against such a server.)
import { expect, test } from "@playwright/test";
import { Server, log, openChat, setHidden, unique } from "./helpers";

const server = new Server(3221, undefined, {
  CHAT_POLL_INTERVAL_MS: "10000",
  CHAT_LONG_POLL_MS: "25000",
  CHAT_MESSAGE_RATE: "1000",
  CHAT_MESSAGE_BURST: "1000",
});

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

async function post(message: string) {
  const reply = await fetch(`${server.url}/ajax`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ type: "message", data: { sender: "Far", message } }),
  });
  expect(reply.status).toBe(200);
}

test("a message arrives in well under a poll interval", async ({ page }) => {
  await openChat(page, server.url);
  // The page's first long poll is out and held.
  await page.waitForTimeout(500);
  for (let n = 0; n < 3; n++) {
    const text = unique("instant");
    const posted = Date.now();
    await post(text);
    await expect(log(page).getByText(text)).toBeVisible({ timeout: 3000 });
    expect(Date.now() - posted).toBeLessThan(3000);
  }
});

test("a hidden tab keeps its long poll and counts news in its title", async ({ page }) => {
  await openChat(page, server.url);
  await setHidden(page, true);
  await page.waitForTimeout(500);
  const text = unique("while hidden");
  await post(text);
  await expect(log(page).getByText(text)).toBeAttached({ timeout: 3000 });
  await expect(page).toHaveTitle("(1) #general · Chat");
  await setHidden(page, false);
  await expect(page).toHaveTitle("#general · Chat");
});

test("a long poll that stalls is abandoned for a new one 10 s after its wait", async ({ page }) => {
  const { pauseClock } = await import("./helpers");
  await pauseClock(page);
  // The page's first sync gets no answer at all (a proxy that swallowed it); later ones pass.
  let syncs = 0;
  await page.route("**/ajax", async (route) => {
    const body = route.request().postDataJSON();
    if (body?.type !== "sync") return route.continue();
    syncs += 1;
    if (syncs === 1) return; // never answered
    return route.continue();
  });
  await openChat(page, server.url);
  await expect.poll(() => syncs).toBe(1);
  // Within its wait (25 s) and the 10 s of grace: left alone (the heartbeat here ticks every
  // 10 s, the server's poll interval).
  await page.clock.runFor(30_000);
  expect(syncs).toBe(1);
  // Past them: the next tick (at 40 s) sends a new one.
  await page.clock.runFor(12_000);
  await expect.poll(() => syncs).toBeGreaterThanOrEqual(2);
  const text = unique("after the stall");
  await post(text);
  await expect(log(page).getByText(text)).toBeVisible({ timeout: 5000 });
});
