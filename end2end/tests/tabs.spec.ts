// Many tabs of one browser: a browser opens at most six HTTP/1.1 connections to a host, and a
// long poll per tab used to take them all, so that with six tabs open a message waited for a
// poll to end (about 20 s) before it could even be sent. One tab now polls for all of them and
// passes on what it gets; each tab still counts its own unread, and a notification is shown
// once per browser. The server here long-polls and ticks only every 10 s, so nothing but a
// shared long poll can bring a message within the test's wait.
import { type Page } from "@playwright/test";
import { expect, log, messageField, nameField, openChat, roomLink, Server, setHidden, test, unique } from "./helpers";

const server = new Server(3231, undefined, {
  CHAT_POLL_INTERVAL_MS: "10000",
  CHAT_LONG_POLL_MS: "25000",
  CHAT_ROOMS: "dev",
  CHAT_MESSAGE_RATE: "1000",
  CHAT_MESSAGE_BURST: "1000",
});

test.beforeAll(async () => server.start());
test.afterAll(async () => server.stop());

/** Sends `text` from `page`, in the room it shows. */
async function send(page: Page, text: string) {
  await messageField(page).fill(text);
  await messageField(page).press("Enter");
}

test("ten tabs of one browser: a message sent from any arrives in all within one poll", async ({
  browser,
}) => {
  test.setTimeout(120_000);
  const context = await browser.newContext();
  const tabs: Page[] = [];
  for (let n = 0; n < 10; n++) {
    const page = await context.newPage();
    await openChat(page, `${server.url}/`);
    tabs.push(page);
  }
  await nameField(tabs[0]).fill("Tabby");
  // From the first tab, the last, and one in between: each arrives in every tab well within
  // the server's 10 s tick (a held poll per tab would block sending for ~20 s).
  for (const from of [0, 9, 4]) {
    const text = unique(`from tab ${from}`);
    await nameField(tabs[from]).fill("Tabby");
    await send(tabs[from], text);
    for (const page of tabs) {
      await expect(log(page).getByText(text, { exact: true })).toBeVisible({ timeout: 5_000 });
    }
    // Stored once, shown once in each.
    for (const page of tabs) {
      await expect(log(page).getByText(text, { exact: true })).toHaveCount(1);
    }
  }
  await context.close();
});

test("the tab that polls closes: another takes over, and unread is counted per tab", async ({
  browser,
}) => {
  const context = await browser.newContext();
  const [first, second, third] = [
    await context.newPage(),
    await context.newPage(),
    await context.newPage(),
  ];
  await openChat(first, `${server.url}/`);
  await openChat(second, `${server.url}/r/dev`);
  await openChat(third, `${server.url}/`);
  // The first tab opened leads; it closes.
  await first.close();

  const other = await (await browser.newContext()).newPage();
  await openChat(other, `${server.url}/r/dev`);
  await nameField(other).fill("Far");
  const text = unique("after the leader left");
  await send(other, text);
  // The tab showing dev shows it; the one showing general counts it.
  await expect(log(second).getByText(text)).toBeVisible({ timeout: 5_000 });
  await expect(roomLink(third, "#dev 1 unread")).toBeVisible({ timeout: 5_000 });
  await expect(roomLink(second, "#dev")).toBeVisible();
  await context.close();
  await other.context().close();
});

test("a tab the browser freezes hands the poll over, and catches up when it wakes", async ({
  browser,
}) => {
  const context = await browser.newContext();
  const [first, second] = [await context.newPage(), await context.newPage()];
  await openChat(first, `${server.url}/`);
  await openChat(second, `${server.url}/`);
  // The first tab leads; the browser freezes it (as it does with a tab long in the background).
  const lifecycle = await context.newCDPSession(first);
  await lifecycle.send("Page.setWebLifecycleState", { state: "frozen" });

  const other = await (await browser.newContext()).newPage();
  await openChat(other, `${server.url}/`);
  await nameField(other).fill("Far");
  const whileFrozen = unique("while the leader sleeps");
  await send(other, whileFrozen);
  await expect(log(second).getByText(whileFrozen)).toBeVisible({ timeout: 5_000 });

  // Awake again, it has what it missed.
  await lifecycle.send("Page.setWebLifecycleState", { state: "active" });
  await expect(log(first).getByText(whileFrozen)).toBeVisible({ timeout: 5_000 });
  const after = unique("after it woke");
  await send(other, after);
  for (const page of [first, second]) {
    await expect(log(page).getByText(after)).toBeVisible({ timeout: 5_000 });
  }
  await context.close();
  await other.context().close();
});

test("a notification is shown once per browser, and not for a room a tab shows", async ({
  browser,
}) => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    class Recorder {
      static permission = "granted";
      static requestPermission() {
        return Promise.resolve("granted");
      }
      constructor(title: string) {
        const shown = JSON.parse(localStorage.getItem("test.shown") ?? "[]");
        shown.push(title);
        localStorage.setItem("test.shown", JSON.stringify(shown));
      }
      close() {}
    }
    Object.assign(window, { Notification: Recorder });
    localStorage.setItem("chat.notify", "on");
    localStorage.setItem("chat.notify.rooms", "general:all,dev:all");
  });
  const tabs = [await context.newPage(), await context.newPage(), await context.newPage()];
  await openChat(tabs[0], `${server.url}/`);
  await openChat(tabs[1], `${server.url}/`);
  await openChat(tabs[2], `${server.url}/r/dev`);
  for (const page of tabs) await setHidden(page, true);
  // The dev tab is in view: dev's news needs no notification; general's does, once.
  await setHidden(tabs[2], false);

  const other = await (await browser.newContext()).newPage();
  await openChat(other, `${server.url}/`);
  await nameField(other).fill("Far");
  const forGeneral = unique("for general");
  await send(other, forGeneral);
  await other.goto(`${server.url}/r/dev`);
  await nameField(other).fill("Far");
  const forDev = unique("for dev");
  await send(other, forDev);
  // Every tab has taken in both (each counts its own unread), so every notification that
  // was to be shown has been: exactly one, for the room no tab shows.
  await expect(log(tabs[0]).getByText(forGeneral)).toBeAttached({ timeout: 5_000 });
  await expect(log(tabs[1]).getByText(forGeneral)).toBeAttached({ timeout: 5_000 });
  await expect(log(tabs[2]).getByText(forDev)).toBeVisible({ timeout: 5_000 });
  await expect(roomLink(tabs[0], "#dev 1 unread")).toBeVisible();
  await expect(roomLink(tabs[1], "#dev 1 unread")).toBeVisible();
  await expect(roomLink(tabs[2], "#general 1 unread")).toBeVisible();
  const shown = await tabs[0].evaluate(
    () => JSON.parse(localStorage.getItem("test.shown") ?? "[]") as string[],
  );
  expect(shown).toEqual(["#general · Far"]);
  await context.close();
  await other.context().close();
});
