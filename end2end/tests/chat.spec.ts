// The chat page in a real Chromium against a real server: polling, rendering text as text,
// surviving reloads, refusals, one sync at a time, back-off, visibility and scrolling. The
// two-user scenario is in core.spec.ts, which also runs against the client-only build.
// Tests about time (ticks, back-off) run the page on Playwright's clock, paused: time moves
// only when a test says so, so they are exact and take no waiting.
import { type APIRequestContext, type Page, type Request, type Route } from "@playwright/test";
import { alert, expect, storageDown, log, messageField, nameField, openChat, pauseClock, postMessage, say, sendButton, Server, setHidden, test, texts, unique } from "./helpers";

const isSync = (request: Request) =>
  request.url().endsWith("/ajax") && request.postDataJSON()?.type === "sync";

test("messages posted by another client arrive by polling, in order", async ({ page, request }) => {
  await postMessage(request, "api client", unique("already there"));
  const firstSync = page.waitForRequest(isSync);
  await openChat(page);
  // The page arrived with the newest messages; its first poll asks only for newer ones.
  const rendered = await log(page)
    .locator("li")
    .evaluateAll((items) => Math.max(...items.map((li) => Number(li.getAttribute("data-id")))));
  expect((await firstSync).postDataJSON().data.last_message).toBe(rendered);
  const tag = unique("polled");
  for (let n = 1; n <= 5; n++) {
    await postMessage(request, "api client", `${tag} #${n}`);
  }
  await expect(log(page).locator("li", { hasText: tag })).toHaveCount(5);
  const arrived = (await texts(page)).filter((t) => t.startsWith(tag));
  expect(arrived).toEqual([1, 2, 3, 4, 5].map((n) => `${tag} #${n}`));
});

test("HTML in a message is shown as text, also after a reload", async ({ page, request }) => {
  const dialogs: string[] = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  await openChat(page);
  const tag = unique("markup");
  const typed = `<img src=x onerror="window.__pwned=1"><b>${tag}</b><script>window.__pwned=2</script>`;
  const polled = `<svg onload="alert('polled')"></svg><i>${tag} polled</i>`;
  await nameField(page).fill("<em>Mallory</em>");
  await say(page, typed);
  await postMessage(request, "<u>api</u>", polled);

  const check = async () => {
    await expect(log(page).locator("li", { hasText: `${tag} polled` })).toHaveCount(1);
    const all = await texts(page);
    expect(all).toContain(typed);
    expect(all).toContain(polled);
    await expect(log(page).getByText("<em>Mallory</em>", { exact: true })).toBeVisible();
    await expect(log(page).getByText("<u>api</u>", { exact: true })).toBeVisible();
    await expect(log(page).locator("img, b, script, svg, i, em, u")).toHaveCount(0);
    expect(await page.evaluate(() => (window as any).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
  };
  await check();
  await page.reload();
  await expect(sendButton(page)).toBeEnabled();
  await check();
});

test("the name and the history survive a reload", async ({ page }) => {
  await openChat(page);
  const name = unique("Persistent Pat");
  const text = unique("remember me");
  await nameField(page).fill(name);
  await say(page, text);
  await expect(log(page).getByText(text)).toBeVisible();

  await page.reload();
  await expect(sendButton(page)).toBeEnabled();
  await expect(nameField(page)).toHaveValue(name);
  await expect(log(page).getByText(text)).toBeVisible();
  await expect(log(page).locator("li.mine", { hasText: text })).toHaveCount(1);
});

test("a refused send says why in its line and the alert; a failed one goes by itself", async ({
  page,
}) => {
  await openChat(page);
  await expect(alert(page)).toHaveText("");
  const pending = (text: string) =>
    log(page).locator("li.pending").filter({ hasText: text });

  // Refused by the rules the server applies too: a name over 64 characters.
  await nameField(page).fill("n".repeat(65));
  const kept = unique("not lost");
  await say(page, kept);
  await expect(alert(page)).toContainText("at most 64");
  await expect(pending(kept).locator(".state")).toHaveText("Not sent");
  await expect(pending(kept).locator(".refusal")).toContainText("at most 64");
  // The box is free for the next message; the refused one keeps its text in the log.
  await expect(messageField(page)).toHaveValue("");

  // The server cannot store it now (503): it waits and goes by itself once the server can.
  await nameField(page).fill("Rita");
  await page.route("**/ajax", (route) =>
    route.request().postDataJSON()?.type === "message" ? storageDown(route) : route.continue(),
  );
  await pending(kept).getByRole("button", { name: "Retry" }).click();
  await expect(pending(kept).locator(".state")).toHaveText("Not sent yet");
  await expect(alert(page)).toHaveText("");
  await page.unroute("**/ajax");
  await expect(pending(kept)).toHaveCount(0, { timeout: 15_000 });
  await expect(log(page).getByText(kept)).toHaveCount(1);
  await expect(log(page).locator("li", { hasText: kept }).locator(".sender")).toHaveText("Rita");

  // No answer at all: waiting, with the offline line, then sent by itself.
  const later = unique("later");
  await page.route("**/ajax", (route) =>
    route.request().postDataJSON()?.type === "message" ? route.abort() : route.continue(),
  );
  await say(page, later);
  await expect(pending(later).locator(".state")).toHaveText("Not sent yet");
  await expect(page.getByRole("status").filter({ hasText: "Offline" })).toBeVisible();
  await page.unroute("**/ajax");
  await expect(pending(later)).toHaveCount(0, { timeout: 15_000 });
  await expect(log(page).getByText(later)).toHaveCount(1);
  await expect(page.getByText("Offline")).toHaveCount(0);
  await expect(alert(page)).toHaveText("");
});

test("Retry by keyboard keeps the focus on Retry while the message goes again", async ({ page }) => {
  await openChat(page);
  // Refused by the server: a name over 64 characters.
  await nameField(page).fill("n".repeat(65));
  const text = unique("refused twice");
  await say(page, text);
  const line = log(page).locator("li.pending").filter({ hasText: text });
  await expect(line.locator(".state")).toHaveText("Not sent");
  const retry = line.getByRole("button", { name: "Retry" });
  await retry.focus();
  await retry.evaluate((button) => ((button as HTMLElement & { marked?: boolean }).marked = true));
  const resent = page.waitForResponse(
    (response) =>
      response.url().endsWith("/ajax") && response.request().postDataJSON()?.type === "message",
  );
  await page.keyboard.press("Enter");
  await resent;
  // Refused again (the name is still too long): the same button has the focus all along.
  await expect(line.locator(".refusal")).toContainText("at most 64");
  await expect(line.locator(".state")).toHaveText("Not sent");
  const kept = await page.evaluate(
    () => (document.activeElement as HTMLElement & { marked?: boolean }).marked === true,
  );
  expect(kept).toBe(true);
});

test("at most one sync is in flight when the server is slow", async ({ page }) => {
  await pauseClock(page);
  let inFlight = 0;
  let most = 0;
  let syncs = 0;
  const held: Route[] = [];
  await page.route("**/ajax", async (route) => {
    if (route.request().postDataJSON()?.type !== "sync") return route.continue();
    inFlight += 1;
    syncs += 1;
    most = Math.max(most, inFlight);
    held.push(route); // answered when the test says so: a server that takes its time
  });
  await openChat(page);
  await page.clock.runFor(1000);
  await expect.poll(() => syncs).toBe(1);
  // Eight more ticks while the reply is outstanding: each is skipped.
  await page.clock.runFor(8000);
  await page.waitForTimeout(200);
  expect(syncs).toBe(1);

  const route = held.shift()!;
  await route.fulfill({ response: await route.fetch() });
  inFlight -= 1;
  // The page takes the reply in real time; each poll moves its clock on by one tick, so the
  // next sync comes with the first tick after the reply is in.
  await expect
    .poll(async () => {
      await page.clock.runFor(1000);
      return syncs;
    })
    .toBe(2);
  expect(most).toBe(1);
  await page.unrouteAll({ behavior: "ignoreErrors" });
});

test("polling backs off while the server is down and recovers when it is back", async ({
  page,
  request,
}) => {
  const server = new Server(3211);
  await server.start();
  try {
    await pauseClock(page);
    // The page's time at each sync, to the second the test moves it by; every sync is seen,
    // from the page's first on (which may go out before or after Send is enabled).
    let now = 0;
    const sentAt = new Map<Request, number>();
    const failedAt: number[] = [];
    page.on("request", (req) => {
      if (isSync(req)) sentAt.set(req, now);
    });
    page.on("requestfinished", (req) => {
      sentAt.delete(req);
    });
    page.on("requestfailed", (req) => {
      const at = sentAt.get(req);
      if (at === undefined) return;
      failedAt.push(at);
      sentAt.delete(req);
    });
    await openChat(page, server.url);
    // One tick with the server up, then nothing in flight when it goes.
    now += 1000;
    await page.clock.runFor(1000);
    await expect.poll(() => sentAt.size).toBe(0);
    await expect(page.getByRole("status")).toHaveText("");

    await server.stop();
    // The next tick fails, then each retry after the one before, waiting twice as long each
    // time: the line says when the next try is, once the page has taken in the failure.
    const status = page.getByRole("status");
    let wait = 1000;
    for (const next of [1, 2, 4, 8, 16]) {
      now += wait;
      await page.clock.runFor(wait);
      await expect(status).toHaveText(`Reconnecting… next try in ${next} s`);
      wait = next * 1000;
    }
    // The first failure, then retries 1, 2, 4 and 8 s apart (steady polling: every second),
    // each failed at once rather than left hanging.
    const gaps = failedAt.slice(1).map((at, n) => at - failedAt[n]);
    expect(gaps).toEqual([1000, 2000, 4000, 8000]);
    expect(sentAt.size).toBe(0);
    await expect(sendButton(page)).toBeEnabled();

    await server.start();
    const text = unique("after the outage");
    await postMessage(request, "survivor", text, server.url);
    // The next retry is 16 s after the last: it succeeds, clears the notice, brings the text.
    await page.clock.runFor(wait);
    await expect(log(page).getByText(text)).toBeVisible();
    await expect(page.getByRole("status")).toHaveText("");
  } finally {
    await server.stop();
  }
});

test("polling pauses while the tab is hidden and syncs at once when it is shown", async ({
  page,
  request,
}) => {
  await pauseClock(page);
  await openChat(page);
  let syncs = 0;
  page.on("request", (req) => {
    if (isSync(req)) syncs += 1;
  });
  await setHidden(page, true);
  const text = unique("sent while hidden");
  await postMessage(request, "api client", text);
  await page.clock.runFor(5000);
  await page.waitForTimeout(200);
  expect(syncs).toBe(0);
  await expect(log(page).getByText(text)).toHaveCount(0);

  // The clock stands still: only the event itself can have synced.
  await setHidden(page, false);
  await expect(log(page).getByText(text)).toBeVisible();
  expect(syncs).toBe(1);
});

test("on a phone, new messages do not yank a reader who scrolled up", async ({
  page,
  request,
}) => {
  await page.setViewportSize({ width: 360, height: 640 });
  const tag = unique("scroll");
  for (let n = 0; n < 30; n++) {
    await postMessage(request, "filler", `${tag} line ${n}\nwith a second line`);
  }
  await openChat(page);
  const list = log(page);
  const fromBottom = () =>
    list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight);
  // The page fits the phone's width, and opens scrolled to the newest message.
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
  await expect.poll(fromBottom).toBeLessThan(30);

  // Up, but not so near the top that older messages load (other tests may have left some).
  await list.evaluate((el) => el.scrollTo(0, 300));
  await expect.poll(() => list.evaluate((el) => el.scrollTop)).toBe(300);
  await postMessage(request, "api client", `${tag} newest`);
  const jump = page.getByRole("button", { name: /New messages/ });
  await expect(jump).toBeVisible();
  expect(await list.evaluate((el) => el.scrollTop)).toBe(300);

  await jump.click();
  await expect.poll(fromBottom).toBeLessThan(30);
  await expect(jump).toHaveCount(0);

  // At the bottom, the list follows what arrives.
  await postMessage(request, "api client", `${tag} followed`);
  await expect(list.getByText(`${tag} followed`)).toBeInViewport();
});

test("a send whose reply was lost is retried without a duplicate", async ({ page }) => {
  await openChat(page);
  await nameField(page).fill("Retry Rae");
  const text = unique("sent twice, stored once");
  const nonces: string[] = [];
  await page.route("**/ajax", async (route) => {
    const body = route.request().postDataJSON();
    if (body?.type !== "message") return route.continue();
    nonces.push(body.data.nonce);
    if (nonces.length > 1) return route.continue();
    await route.fetch(); // the server stores the message…
    await route.abort(); // …but its reply never reaches the page
  });
  await say(page, text);
  await expect(messageField(page)).toHaveValue("");
  // The outbox sends it again by itself, with the same nonce.
  await expect(log(page).locator("li.pending")).toHaveCount(0, { timeout: 15_000 });
  await expect(alert(page)).toHaveText("");
  await expect(log(page).getByText(text, { exact: true })).toHaveCount(1);
  await page.waitForTimeout(2500); // a few more polls: still only one
  await expect(log(page).getByText(text, { exact: true })).toHaveCount(1);
  expect(nonces).toHaveLength(2);
  expect(nonces[0]).toMatch(/^[0-9a-f]{32}$/);
  expect(nonces[1]).toBe(nonces[0]);
  await page.unrouteAll({ behavior: "ignoreErrors" });
});

test("a send over the rate limit waits and goes by itself, in order", async ({ page }) => {
  const server = new Server(3212, undefined, { CHAT_MESSAGE_RATE: "0.2", CHAT_MESSAGE_BURST: "1" });
  await server.start();
  try {
    await openChat(page, server.url);
    await nameField(page).fill("Speedy");
    const first = unique("first");
    await say(page, first);
    await expect(messageField(page)).toHaveValue("");
    const second = unique("too soon");
    await say(page, second);
    // 429: not a refusal to show, a reason to wait (one message per 5 s here).
    const waiting = log(page).locator("li.pending").filter({ hasText: second });
    await expect(waiting.locator(".state")).toHaveText("Not sent yet");
    await expect(alert(page)).toHaveText("");
    await expect(log(page).getByText(first)).toBeVisible();
    await expect(waiting).toHaveCount(0, { timeout: 20_000 });
    expect(await texts(page)).toEqual([first, second]);
  } finally {
    await server.stop();
  }
});

test("a full reply of 1000 messages is followed at once by another sync", async ({
  page,
  request,
}) => {
  test.setTimeout(120_000);
  const server = new Server(3213, undefined, {
    CHAT_POLL_INTERVAL_MS: "5000",
    CHAT_MESSAGE_RATE: "0",
  });
  await server.start();
  try {
    await pageThroughAFullReply(page, request, server.url);
  } finally {
    await server.stop();
  }
});

async function pageThroughAFullReply(page: Page, request: APIRequestContext, url: string) {
  // The page's clock stands still, so no tick can sync: after the full reply only the
  // immediate follow-up can bring the rest.
  await pauseClock(page);
  await openChat(page, url);
  // Hidden, the page does not sync while 1200 messages arrive; shown again, it syncs at once
  // and must page through them: 1000, then straight away the rest.
  await setHidden(page, true);
  const tag = unique("bulk");
  for (let start = 0; start < 1200; start += 100) {
    await Promise.all(
      Array.from({ length: 100 }, (_, n) =>
        postMessage(request, "bulk", `${tag} ${start + n}`, url),
      ),
    );
  }
  const counts: number[] = [];
  page.on("response", async (response) => {
    if (!isSync(response.request())) return;
    counts.push((await response.json()).data.length);
  });
  await setHidden(page, false);
  await expect(log(page).locator("li", { hasText: tag })).toHaveCount(1200, { timeout: 20_000 });
  expect(counts.slice(0, 2)).toEqual([1000, 200]);
}
