// Rooms: unread counts and the title, the "New messages" separator, scroll-back that keeps the
// view in place, Back and Forward between rooms, permalinks, the transcript without JavaScript,
// and the room list on a phone. The server serves general, dev and ops (playwright.config.ts).
import { expect, heading, storageDown, log, nameField, openChat, postTo, roomLink, say, test, unique } from "./helpers";

test("two users in two rooms: unread counts, the title, and reading them", async ({ browser }) => {
  const ann = await browser.newPage();
  const bob = await browser.newPage();
  await openChat(ann, "/r/general");
  await openChat(bob, "/r/dev");
  // A first visit: nothing is unread, whatever the rooms hold.
  await expect(roomLink(ann, "#dev")).toBeVisible();
  await expect(ann).toHaveTitle("#general · Chat");

  await nameField(bob).fill("Bob");
  const first = unique("for the dev room");
  await say(bob, first);
  await say(bob, unique("and another"));
  await expect(roomLink(ann, "#dev 2 unread")).toBeVisible();
  await expect(ann).toHaveTitle("(2) #general · Chat");
  // Not in ann's room: her log shows none of it.
  await expect(log(ann).getByText(first)).toHaveCount(0);
  // Bob is in dev: his own room does not count as unread.
  await expect(roomLink(bob, "#dev")).toHaveAttribute("aria-current", "page");

  await roomLink(ann, "#dev 2 unread").click();
  await expect(ann).toHaveURL(/\/r\/dev$/);
  await expect(heading(ann)).toHaveText("#dev");
  await expect(log(ann).getByText(first)).toBeVisible();
  await expect(roomLink(ann, "#dev")).toHaveAttribute("aria-current", "page");
  await expect(ann).toHaveTitle("#dev · Chat");

  // Ann answers in dev; Bob, meanwhile in general, sees it counted.
  await roomLink(bob, "#general").click();
  await expect(heading(bob)).toHaveText("#general");
  await nameField(ann).fill("Ann");
  await say(ann, unique("an answer"));
  await expect(roomLink(bob, "#dev 1 unread")).toBeVisible();
  await expect(bob).toHaveTitle("(1) #general · Chat");
  await ann.close();
  await bob.close();
});

test("entering a room with unread messages shows the New messages separator", async ({
  page,
  request,
}) => {
  await openChat(page, "/r/ops");
  await roomLink(page, "#general").click();
  await expect(heading(page)).toHaveText("#general");
  const firstUnread = unique("first unread");
  await postTo(request, "ops", "Ops", firstUnread);
  await postTo(request, "ops", "Ops", unique("second unread"));
  await roomLink(page, "#ops 2 unread").click();
  const separator = page.getByRole("separator", { name: "New messages" });
  await expect(separator).toHaveCount(1);
  // It stands right before the first unread message, in the same list item.
  await expect(log(page).locator("li", { has: separator })).toContainText(firstUnread);

  // Counted on load too: the server counts what is newer than what this browser saw.
  await roomLink(page, "#general").click();
  await postTo(request, "ops", "Ops", unique("while away"));
  await page.goto("/r/general");
  await expect(roomLink(page, "#ops 1 unread")).toBeVisible();
  await expect(page).toHaveTitle("(1) #general · Chat");
  // And once read, a reload of the room has nothing new.
  await page.goto("/r/ops");
  await expect(log(page).getByText("while away")).toBeVisible();
  await page.reload();
  await expect(log(page).getByText("while away")).toBeVisible();
  await expect(page.getByRole("separator", { name: "New messages" })).toHaveCount(0);
});

test("older messages load above without moving what the reader looks at", async ({
  page,
  request,
}) => {
  const label = unique("scroll-back");
  for (let n = 0; n < 120; n++) await postTo(request, "ops", "Old", `${label} ${n}`);
  await openChat(page, "/r/ops");
  const messages = log(page);
  await expect(messages.getByText(`${label} 119`, { exact: true })).toBeVisible();
  await expect(messages.getByText(`${label} 69`, { exact: true })).toHaveCount(0);

  // The control loads the page before the oldest shown, above it (clicked where it is).
  const older = page.getByRole("link", { name: "Load older messages" });
  await expect(older).toHaveAttribute("href", /^\/r\/ops\?before=\d+$/);
  await older.evaluate((link: HTMLElement) => link.click());
  await expect(messages.getByText(`${label} 20`, { exact: true })).toHaveCount(1);
  await expect(messages.getByText(`${label} 119`, { exact: true })).toBeInViewport();

  // Scrolling to the top loads the next page by itself; the message that was at the top stays
  // where it was on the screen, and every line that was there is the same element as before
  // (none is made again: what a reader was doing in it, its focus, stays).
  const top = await page.evaluate((text) => {
    const log = document.querySelector('[role="log"]')!;
    const lines = [...log.querySelectorAll("li")];
    (window as unknown as { before: Element[] }).before = lines;
    log.scrollTo(0, 0);
    const anchor = [...log.querySelectorAll("li .text")].find((node) => node.textContent === text)!;
    return anchor.getBoundingClientRect().top;
  }, `${label} 20`);
  await expect(messages.getByText(`${label} 0`, { exact: true })).toHaveCount(1);
  const anchor = messages.getByText(`${label} 20`, { exact: true });
  await expect
    .poll(async () => Math.abs(((await anchor.boundingBox())?.y ?? 0) - top))
    .toBeLessThan(4);
  await expect(anchor).toBeInViewport();
  const kept = await page.evaluate(() =>
    (window as unknown as { before: Element[] }).before.every((line) => line.isConnected),
  );
  expect(kept).toBe(true);

  // Earlier tests may have posted to ops too: load until the beginning of the room.
  for (let i = 0; i < 10 && (await older.isVisible()); i++) {
    await messages.evaluate((node) => node.scrollTo(0, 0));
    await page.waitForTimeout(200);
  }
  await expect(page.getByText("Beginning of #ops")).toBeVisible();
  await expect(older).toBeHidden();
});

test("moving to a room while the server cannot answer keeps the page and loads it later", async ({
  page,
  request,
}) => {
  const inDev = unique("waiting in dev");
  await postTo(request, "dev", "Dev", inDev);
  await openChat(page, "/r/general");
  await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
  // The history of dev fails: first busy (503), then no network at all.
  let tries = 0;
  await page.route("**/ajax", (route) => {
    if (route.request().postDataJSON()?.type !== "history") return route.continue();
    tries += 1;
    return tries > 1 ? route.abort("internetdisconnected") : storageDown(route);
  });
  await roomLink(page, "#dev").click();
  await expect(heading(page)).toHaveText("#dev");
  await expect(page.getByRole("status").filter({ hasText: "Loading #dev…" })).toBeVisible();
  await expect.poll(() => tries).toBeGreaterThanOrEqual(2);
  // Back: the room loads by itself, in the same page.
  await page.unroute("**/ajax");
  await expect(log(page).getByText(inDev)).toBeVisible({ timeout: 15_000 });
  await expect(page.getByText("Loading #dev…")).toBeHidden();
  expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
});

test("Back and Forward move between rooms without reloading the page", async ({
  page,
  request,
}) => {
  const inDev = unique("a dev message");
  await postTo(request, "dev", "Dev", inDev);
  await openChat(page, "/");
  await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
  await roomLink(page, "#dev").click();
  await expect(page).toHaveURL(/\/r\/dev$/);
  await expect(log(page).getByText(inDev)).toBeVisible();
  await roomLink(page, "#ops").click();
  await expect(page).toHaveURL(/\/r\/ops$/);
  await expect(heading(page)).toHaveText("#ops");

  await page.goBack();
  await expect(page).toHaveURL(/\/r\/dev$/);
  await expect(heading(page)).toHaveText("#dev");
  await expect(log(page).getByText(inDev)).toBeVisible();
  await page.goBack();
  await expect(heading(page)).toHaveText("#general");
  await expect(log(page).getByText(inDev)).toHaveCount(0);
  await page.goForward();
  await expect(heading(page)).toHaveText("#dev");
  await expect(roomLink(page, "#dev")).toHaveAttribute("aria-current", "page");
  expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
});

test("a permalink shows its message among its neighbours, then the newest", async ({
  page,
  request,
}) => {
  const label = unique("permalink");
  const ids: number[] = [];
  for (let n = 0; n < 60; n++) ids.push(await postTo(request, "dev", "Linker", `${label} ${n}`));
  await openChat(page, `/r/dev/${ids[20]}`);
  const current = log(page).locator('li[aria-current="true"]');
  await expect(current).toHaveCount(1);
  await expect(current).toContainText(`${label} 20`);
  await expect(current).toBeInViewport();
  await expect(log(page).getByText(`${label} 45`, { exact: true })).toHaveCount(1);
  await expect(log(page).getByText(`${label} 46`, { exact: true })).toHaveCount(0);
  // Each time is the permalink of its message.
  await expect(current.getByRole("link")).toHaveAttribute("href", `/r/dev/${ids[20]}`);

  await page.getByRole("link", { name: "Jump to newest" }).click();
  await expect(page).toHaveURL(/\/r\/dev$/);
  await expect(log(page).getByText(`${label} 59`, { exact: true })).toBeVisible();
  await expect(log(page).locator('li[aria-current="true"]')).toHaveCount(0);
  await expect(page.getByRole("link", { name: "Jump to newest" })).toBeHidden();

  // A message of another room is not found there.
  const elsewhere = await postTo(request, "ops", "Linker", unique("in ops"));
  const missing = await page.goto(`/r/dev/${elsewhere}`);
  expect(missing?.status()).toBe(404);
  await expect(page.getByRole("link", { name: "Go to #general" })).toBeVisible();
});

test("without JavaScript a room reads as a transcript, page by page", async ({
  browser,
  request,
}) => {
  const label = unique("transcript");
  for (let n = 0; n < 70; n++) await postTo(request, "ops", "Scribe", `${label} ${n}`);
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/r/ops");
  await expect(page.getByText(`${label} 69`, { exact: true })).toBeVisible();
  // Nothing can be typed that would be lost: the composer waits for the page to run.
  await expect(page.getByRole("textbox", { name: "Message" })).toBeDisabled();
  await expect(page.getByRole("textbox", { name: "Name" })).toBeDisabled();
  await expect(page.getByText(`${label} 19`, { exact: true })).toHaveCount(0);
  await page.getByRole("link", { name: "Load older messages" }).click();
  await expect(page).toHaveURL(/\/r\/ops\?before=\d+$/);
  await expect(page.getByText(`${label} 19`, { exact: true })).toBeVisible();
  await expect(page.getByText(`${label} 20`, { exact: true })).toHaveCount(0);
  await page.getByRole("link", { name: "Newer messages" }).click();
  await expect(page).toHaveURL(/\/r\/ops\?after=\d+$/);
  await expect(page.getByText(`${label} 20`, { exact: true })).toBeVisible();
  await expect(page.getByText(`${label} 69`, { exact: true })).toBeVisible();
  // The room links work as plain links.
  await page.getByRole("link", { name: "#dev", exact: true }).click();
  await expect(page).toHaveURL(/\/r\/dev$/);
  await context.close();
});

test("on a phone the rooms fold behind a Rooms button", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await openChat(page, "/r/general");
  const toggle = page.getByRole("button", { name: "Rooms" });
  await expect(toggle).toBeVisible();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await expect(roomLink(page, "#ops")).toBeHidden();
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  await roomLink(page, "#ops").click();
  await expect(page).toHaveURL(/\/r\/ops$/);
  await expect(heading(page)).toHaveText("#ops");
  await expect(roomLink(page, "#ops")).toBeHidden();
  // Nothing wider than the screen.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
  expect(overflow).toBeLessThanOrEqual(360);
});
