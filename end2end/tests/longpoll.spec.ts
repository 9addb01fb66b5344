// Long polling: with it on (the server's default), a message reaches another page at once,
// also a hidden tab's. The pages here run on Playwright's clock, paused: no timer of theirs
// fires unless a test moves time on, so nothing but the held poll can bring a message. (With
// CHAT_LONG_POLL_MS=0 the page polls as before: the other specs run against such a server.)
import { type Page, type Request } from "@playwright/test";
import { expect, log, openChat, pauseClock, Server, setHidden, test, unique } from "./helpers";

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

const isSync = (request: Request) =>
  request.url().endsWith("/ajax") && request.postDataJSON()?.type === "sync";

/** Opens the chat on a paused clock, once its first long poll is on its way. */
async function openHeld(page: Page) {
  await pauseClock(page);
  const polled = page.waitForRequest(isSync);
  await openChat(page, server.url);
  await polled;
}

test("a message arrives by the held poll, with no timer of the page's running", async ({
  page,
}) => {
  await openHeld(page);
  for (let n = 0; n < 3; n++) {
    const text = unique("instant");
    const next = page.waitForRequest(isSync);
    await post(text);
    await expect(log(page).getByText(text)).toBeVisible();
    // After news the page pauses half a second before its next poll (a busy room costs a
    // browser two polls a second at most): move its clock past that.
    await page.clock.runFor(500);
    await next;
  }
});

test("a hidden tab keeps its long poll and counts news in its title", async ({ page }) => {
  await openHeld(page);
  await setHidden(page, true);
  const text = unique("while hidden");
  await post(text);
  await expect(log(page).getByText(text)).toBeAttached();
  await expect(page).toHaveTitle("(1) #general · Chat");
  await setHidden(page, false);
  await expect(page).toHaveTitle("#general · Chat");
});

test("a long poll that stalls is abandoned for a new one 10 s after its wait", async ({ page }) => {
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
