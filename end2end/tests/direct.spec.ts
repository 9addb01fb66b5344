// Direct messages: a sender's name opens their card, whose `Message <name>` opens a
// conversation only its two people can read. The other sees it arrive (listed under `Direct
// messages`, unread, in the title); a third page never sees it, not even at its address.
// Keyboard only; axe finds nothing serious.
import { type Page } from "@playwright/test";
import {
  expect,
  heading,
  log,
  messageField,
  nameField,
  openChat,
  pauseClock,
  roomLink,
  say,
  seriousViolations,
  Server,
  test,
  unique,
} from "./helpers";

const directMessages = (page: Page) => page.getByRole("list", { name: "Direct messages" });

/** Errors the page's code threw (a panic of the WASM is one): what every test expects none of. */
const thrown = new Map<Page, Error[]>();

async function person(
  browser: import("@playwright/test").Browser,
  name: string,
  url = "/",
  held = false,
) {
  const page = await (await browser.newContext()).newPage();
  const errors: Error[] = [];
  page.on("pageerror", (error) => errors.push(error));
  thrown.set(page, errors);
  if (held) await pauseClock(page);
  await openChat(page, url);
  await nameField(page).fill(name);
  return page;
}

test("two people start a conversation from a name card, and a third never sees it", async ({
  browser,
}) => {
  const ana = await person(browser, "Ana");
  const ben = await person(browser, "Ben");
  const eve = await person(browser, "Eve");
  await expect(directMessages(ana).getByRole("link")).toHaveCount(0);

  // Ana says something in #general: her name there opens her card.
  const hello = unique("hello from Ana");
  await say(ana, hello);
  const row = log(ben).locator("li", { hasText: hello });
  await expect(row.locator(".author")).toHaveText(/^[a-z2-7]{8}$/);
  const anaPrint = (await row.locator(".author").textContent())!;
  const name = row.getByRole("button", { name: "Ana", exact: true });
  await name.focus();
  await ben.keyboard.press("Enter");
  await expect(name).toHaveAttribute("aria-expanded", "true");
  const card = ben.getByRole("group", { name: "Ana" });
  await expect(card).toContainText(anaPrint);
  const write = card.getByRole("button", { name: "Message Ana" });
  await expect(write).toBeFocused();
  // Escape closes it, the focus back on the name; Enter opens it again.
  await ben.keyboard.press("Escape");
  await expect(card).toHaveCount(0);
  await expect(name).toBeFocused();
  await ben.keyboard.press("Enter");
  await expect(write).toBeFocused();
  expect(await seriousViolations(ben)).toEqual([]);
  await ben.keyboard.press("Enter");

  // Ben is in the conversation, the box has the focus.
  await expect(ben).toHaveURL(/\/r\/dm-[a-z2-7]{8}-[a-z2-7]{8}$/);
  await expect(heading(ben)).toHaveText(`Ana · ${anaPrint}`);
  await expect(ben.getByText("Only the two of you can read this conversation.")).toBeVisible();
  await expect(messageField(ben)).toBeFocused();
  const secret = unique("the plan, between us");
  await ben.keyboard.type(secret);
  await ben.keyboard.press("Enter");
  const sent = log(ben).locator("li:not(.pending)", { hasText: secret });
  await expect(sent).toHaveCount(1);
  await expect(sent.locator(".author")).toHaveText(/^[a-z2-7]{8}$/);
  const conversation = new URL(ben.url()).pathname;
  const benPrint = (await sent.locator(".author").textContent())!;
  await expect(directMessages(ben).getByRole("link", { name: `Ana · ${anaPrint}` })).toHaveAttribute(
    "aria-current",
    "page",
  );
  expect(await seriousViolations(ben)).toEqual([]);

  // Ana, in #general, sees it arrive: listed by Ben's name, unread as a mention, in the title.
  const entry = directMessages(ana).getByRole("link", {
    name: `Ben · ${benPrint} 1 unread, 1 mention`,
    exact: true,
  });
  await expect(entry).toBeVisible();
  await expect(ana).toHaveTitle("(1) #general · Chat");
  await entry.focus();
  await ana.keyboard.press("Enter");
  await expect(ana).toHaveURL(conversation);
  await expect(heading(ana)).toHaveText(`Ben · ${benPrint}`);
  await expect(log(ana).locator("li", { hasText: secret })).toHaveCount(1);
  await expect(ana).toHaveTitle(`Ben · ${benPrint} · Chat`);
  const answer = unique("agreed");
  await say(ana, answer);
  await expect(log(ben).locator("li", { hasText: answer })).toHaveCount(1);

  // A reload of the conversation loads it with the key (the server's page has no message).
  await ana.reload();
  await expect(log(ana).locator("li", { hasText: answer })).toHaveCount(1);
  await expect(directMessages(ana).getByRole("link", { name: `Ben · ${benPrint}`, exact: true })).toBeVisible();

  // Eve saw none of it: not in #general, not listed, not found, not at its address.
  await say(eve, unique("still here"));
  await expect(directMessages(eve).getByRole("link")).toHaveCount(0);
  await expect(log(eve)).not.toContainText(secret);
  // (The search of Ben and Ana finds it; Eve's does not.)
  const search = eve.getByRole("searchbox", { name: "Search messages" });
  await search.fill(secret.split(" ").pop()!);
  await search.press("Enter");
  await expect(eve.getByText("No messages found")).toBeVisible();
  const found = ben.getByRole("searchbox", { name: "Search messages" });
  await found.fill(secret.split(" ").pop()!);
  await found.press("Enter");
  await expect(ben.getByRole("list", { name: "Search results" })).toContainText(secret);
  await eve.goto(conversation);
  await expect(eve.getByText("Only its two people can read this conversation.")).toBeVisible();
  await expect(eve.locator(".loading")).toBeHidden();
  await expect(log(eve).locator("li")).toHaveCount(0);
  expect(await eve.content()).not.toContain(secret);
  for (const page of [ana, ben, eve]) expect(thrown.get(page)).toEqual([]);
});

test("another tab of the browser follows the conversation its key started", async ({ browser }) => {
  const ana = await person(browser, "Ana");
  const hello = unique("hi from Ana");
  await say(ana, hello);
  // Ben's browser, without a key yet: two tabs, one of which polls for both.
  const context = await browser.newContext();
  const [first, second] = [await context.newPage(), await context.newPage()];
  const errors: Error[] = [];
  for (const page of [first, second]) {
    page.on("pageerror", (error) => errors.push(error));
    await openChat(page);
  }
  await nameField(second).fill("Ben");
  await log(second).locator("li", { hasText: hello }).getByRole("button", { name: "Ana", exact: true }).click();
  await second.getByRole("button", { name: "Message Ana" }).click();
  const asked = unique("ben asks");
  await say(second, asked);
  // The first tab learnt the key's fingerprint from the second: the conversation is listed.
  const entry = directMessages(first).getByRole("link", { name: /^Ana · [a-z2-7]{8}/ });
  await expect(entry).toBeVisible();
  const fromAna = directMessages(ana).getByRole("link", { name: /^Ben · [a-z2-7]{8} 1 unread/ });
  await fromAna.click();
  await say(ana, unique("ana answers"));
  // Ben's own message counts as unread in the tab that did not show it, but mentions nobody.
  await expect(entry).toHaveAccessibleName(/^Ana · [a-z2-7]{8} 2 unread, 1 mention$/);
  await expect(log(second).locator("li", { hasText: "ana answers" })).toHaveCount(1);
  expect(errors).toEqual([]);
});

// With long polling (the server's default) and the pages' clocks paused, nothing but the held
// poll brings a message: a browser that had no key until it opened the conversation gets the
// answer at once, also after a message elsewhere moved its poll on.
test.describe("with long polling", () => {
  const server = new Server(3241, undefined, {
    CHAT_POLL_INTERVAL_MS: "10000",
    CHAT_LONG_POLL_MS: "25000",
    CHAT_MESSAGE_RATE: "1000",
    CHAT_MESSAGE_BURST: "1000",
  });
  test.beforeAll(async () => server.start());
  test.afterAll(async () => server.stop());

  test("a first conversation reaches both by the held poll", async ({ browser }) => {
    const ana = await person(browser, "Ana", server.url, true);
    const ben = await person(browser, "Ben", server.url, true);
    // After news a page waits half a second before its next poll: their clocks move past it.
    const settle = async () => {
      for (const page of [ana, ben]) await page.clock.runFor(600);
    };
    const hello = unique("anyone around?");
    await say(ana, hello);
    const row = log(ben).locator("li", { hasText: hello });
    await expect(row).toHaveCount(1);
    await settle();
    await row.getByRole("button", { name: "Ana", exact: true }).click();
    await ben.getByRole("button", { name: "Message Ana" }).click();
    await expect(ben).toHaveURL(/\/r\/dm-/);
    const asked = unique("ben asks");
    await say(ben, asked);
    await expect(log(ben).locator("li:not(.pending)", { hasText: asked })).toHaveCount(1);

    const entry = directMessages(ana).getByRole("link", { name: /^Ben · [a-z2-7]{8} 1 unread, 1 mention$/ });
    await expect(entry).toBeVisible();
    await settle();
    await entry.click();
    await expect(log(ana).locator("li", { hasText: asked })).toHaveCount(1);
    // A message elsewhere first: Ben's poll moves past it, and still brings the answer.
    const reply = await fetch(`${server.url}/ajax`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "message", data: { sender: "Far", message: unique("meanwhile") } }),
    });
    expect(reply.status).toBe(200);
    // Ben's poll brought it: #general counts it.
    await expect(roomLink(ben, "#general 1 unread")).toBeVisible();
    await settle();
    const answer = unique("ana answers");
    await say(ana, answer);
    await expect(log(ben).locator("li", { hasText: answer })).toHaveCount(1);
    await expect(log(ben).locator("li", { hasText: asked })).toHaveCount(1);
    for (const page of [ana, ben]) expect(thrown.get(page)).toEqual([]);
  });
});
