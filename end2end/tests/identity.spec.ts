// Names that cannot be faked, edits, deletes and moderation, in real Chromium pages: each
// browser context is another browser (its own localStorage, so its own secret key).
import { type Browser, type Page } from "@playwright/test";
import { expect, log, nameField, openChat, say, test, texts, unique } from "./helpers";

const ADMIN_TOKEN = "e2e-operator-token-0123456789abcdef";

/** A page in a browser of its own, named `name`, with the chat open and hydrated. */
async function person(browser: Browser, name: string, url = "/"): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await openChat(page, url);
  await nameField(page).fill(name);
  return page;
}

const row = (page: Page, text: string) => log(page).locator("li", { hasText: text });
const button = (page: Page, text: string, name: string) =>
  row(page, text).getByRole("button", { name, exact: true });

/** Accepts the next confirmation dialog, and says what it asked. */
function acceptNextDialog(page: Page): Promise<string> {
  return new Promise((resolve) => {
    page.once("dialog", (dialog) => {
      resolve(dialog.message());
      void dialog.accept();
    });
  });
}

test("an author edits and deletes their message; another page sees it and cannot", async ({
  browser,
}) => {
  const ana = await person(browser, "Ana");
  const bob = await person(browser, "Bob");
  const text = unique("typo");
  await say(ana, text);
  await expect(row(bob, text)).toHaveCount(1);

  // Only the author's page offers to change it.
  await expect(button(ana, text, "Edit message")).toBeVisible();
  await expect(button(ana, text, "Delete message")).toBeVisible();
  await expect(button(bob, text, "Edit message")).toHaveCount(0);
  await expect(button(bob, text, "Delete message")).toHaveCount(0);

  // Escape cancels an edit, leaving the text as it was.
  await button(ana, text, "Edit message").click();
  const editor = ana.getByRole("textbox", { name: "Edit message" });
  await expect(editor).toBeFocused();
  await expect(editor).toHaveValue(text);
  await editor.fill("never saved");
  await editor.press("Escape");
  await expect(editor).toHaveCount(0);
  await expect(row(ana, text).locator(".text")).toHaveText(text);

  // Enter saves; both pages show the new text, marked as edited.
  const fixed = unique("fixed");
  await button(ana, text, "Edit message").click();
  await editor.fill(fixed);
  await editor.press("Enter");
  for (const page of [ana, bob]) {
    await expect(row(page, fixed).locator(".text")).toHaveText(fixed);
    await expect(row(page, fixed).locator(".edited")).toHaveText("(edited)");
    expect(await texts(page)).not.toContain(text);
  }
  // Save with the button works as well.
  const again = unique("again");
  await button(ana, fixed, "Edit message").click();
  await editor.fill(again);
  await ana.getByRole("button", { name: "Save", exact: true }).click();
  await expect(row(bob, again)).toHaveCount(1);

  // Delete asks first; then the message leaves every page, also after a reload.
  const asked = acceptNextDialog(ana);
  await button(ana, again, "Delete message").click();
  expect(await asked).toContain("Delete this message?");
  for (const page of [ana, bob]) {
    await expect(row(page, again)).toHaveCount(0);
  }
  await bob.reload();
  await expect(log(bob)).toBeVisible();
  expect(await texts(bob)).not.toContain(again);
});

test("two people with the same name show different fingerprints", async ({ browser }) => {
  const first = await person(browser, "Sam");
  const second = await person(browser, "Sam");
  const one = unique("from the first Sam");
  const two = unique("from the second Sam");
  await say(first, one);
  await say(second, two);
  await expect(row(first, two)).toHaveCount(1);
  const fingerprint = (text: string) => row(first, text).locator(".author").textContent();
  const [a, b] = [await fingerprint(one), await fingerprint(two)];
  expect(a).toMatch(/^[a-z2-7]{8}$/);
  expect(b).toMatch(/^[a-z2-7]{8}$/);
  expect(a).not.toEqual(b);
  // Each page knows its own by the fingerprint, not the name.
  await expect(row(first, one)).toHaveClass(/\bmine\b/);
  await expect(row(first, two)).not.toHaveClass(/\bmine\b/);
  await expect(first.locator(".identity summary")).toHaveText(`You: ${a}`);
});

/** The fingerprint a page shows as its own (`You: <fingerprint>`). */
async function ownPrint(page: Page): Promise<string> {
  await expect(page.locator(".identity summary")).toHaveText(/^You: [a-z2-7]{8}$/);
  return ((await page.locator(".identity summary").textContent()) ?? "").replace("You: ", "");
}

test("the identity moves to another browser with its link, after asking there", async ({
  browser,
}) => {
  const home = await person(browser, "Kim");
  await home.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  const text = unique("written at home");
  await say(home, text);
  await expect(button(home, text, "Edit message")).toBeVisible();
  const homePrint = await ownPrint(home);
  await home.locator(".identity summary").click();
  // A button that copies, not a link to follow: the key never enters this address bar.
  await expect(home.getByRole("link", { name: /another device/ })).toHaveCount(0);
  await home.getByRole("button", { name: "Copy link" }).click();
  await expect(home.getByText(/^Link copied/)).toBeVisible();
  const link = await home.evaluate(() => navigator.clipboard.readText());
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#key=[A-Za-z0-9_-]{32}$/);
  expect(home.url()).not.toContain("key=");

  // Another browser, which writes as someone already.
  const elsewhere = await person(browser, "Kim");
  await say(elsewhere, unique("elsewhere, before"));
  const elsewherePrint = await ownPrint(elsewhere);
  // Opened in a page already at `/`: only the fragment changes, and the page takes it in.
  await elsewhere.goto(link);
  await expect.poll(() => new URL(elsewhere.url()).hash).toBe("");
  const dialog = elsewhere.getByRole("dialog", { name: "Use another browser's key?" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: `Keep ${elsewherePrint}` })).toBeVisible();
  await dialog.getByRole("button", { name: `Switch to ${homePrint}` }).click();
  await expect(dialog).toHaveCount(0);
  await expect(elsewhere.locator(".identity summary")).toHaveText(`You: ${homePrint}`);
  await expect(button(elsewhere, text, "Edit message")).toBeVisible();
  const there = unique("written elsewhere");
  await say(elsewhere, there);
  await expect(row(home, there)).toHaveClass(/\bmine\b/);
});

test("a link cannot change who a browser is without asking", async ({ browser }) => {
  const victim = await person(browser, "Vic");
  const before = unique("before the link");
  await say(victim, before);
  const print = await ownPrint(victim);
  const key = await victim.evaluate(() => localStorage.getItem("chat.key"));
  // Someone else's key, with a fingerprint of their choosing beside it.
  const theirs = "Attacker-key-0123456789abcdefABCD";
  // A page load: the key leaves the address bar (and this history entry) before the page runs.
  await victim.goto(`/r/general#key=${theirs}&me=${print}`);
  expect(new URL(victim.url()).hash).toBe("");
  const dialog = victim.getByRole("dialog", { name: "Use another browser's key?" });
  await expect(dialog).toBeVisible();
  // The fingerprint shown is the server's for that key, not the link's `me`.
  const offer = dialog.getByRole("button", { name: /^Switch to / });
  await expect(offer).toHaveText(/^Switch to [a-z2-7]{8}$/);
  await expect(offer).not.toHaveText(`Switch to ${print}`);
  await dialog.getByRole("button", { name: `Keep ${print}` }).click();
  await expect(dialog).toHaveCount(0);
  expect(await victim.evaluate(() => localStorage.getItem("chat.key"))).toBe(key);
  await expect(button(victim, before, "Edit message")).toBeVisible();
  // Nothing of the link is left: not in the history, not asked again after a reload.
  await victim.goBack();
  await victim.goForward();
  expect(victim.url()).not.toContain("key=");
  await victim.reload();
  await expect(victim.locator(".identity summary")).toHaveText(`You: ${print}`);
  await expect(dialog).toHaveCount(0);
});

test("a key link to a page that does not exist leaves no key in the address bar", async ({
  browser,
}) => {
  const page = await (await browser.newContext()).newPage();
  const key = "Mistyped-link-key-0123456789abcdef";
  const reply = await page.goto(`/r/no-such-room#key=${key}`);
  expect(reply?.status()).toBe(404);
  expect(new URL(page.url()).hash).toBe("");
  // Kept for this tab only: the chat asks about it once it is open.
  await page.getByRole("link", { name: "Go to #general" }).click();
  await expect(page.getByRole("dialog", { name: "Use another browser's key?" })).toBeVisible();
  await page.getByRole("button", { name: /^Keep / }).click();
  expect(await page.evaluate(() => localStorage.getItem("chat.key"))).not.toBe(key);
  await page.context().close();
});

test("a browser that cannot make a secret key makes none, and says so", async ({ browser }) => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(Crypto.prototype, "getRandomValues", { value: undefined });
  });
  const page = await context.newPage();
  await openChat(page);
  await nameField(page).fill("Noah");
  await expect(page.locator(".identity summary")).toContainText("no key");
  const text = unique("without a key");
  await say(page, text);
  // Sent without a fingerprint (nobody can claim it later), and no key was made.
  await expect(row(page, text)).not.toHaveClass(/pending/);
  await expect(row(page, text).locator(".author")).toBeHidden();
  await expect(button(page, text, "Edit message")).toHaveCount(0);
  expect(await page.evaluate(() => localStorage.getItem("chat.key"))).toBeNull();
  await context.close();
});

test("the admin view deletes any message and bans an author with all their messages", async ({
  browser,
}) => {
  const spammer = await person(browser, "Spam");
  const bystander = await person(browser, "Ann");
  const spam = [unique("spam one"), unique("spam two")];
  for (const text of spam) await say(spammer, text);
  const ordinary = unique("ordinary");
  await say(bystander, ordinary);

  const admin = await (await browser.newContext()).newPage();
  await openChat(admin, "/admin");
  await expect(row(admin, ordinary)).toHaveCount(1);
  // Nothing to moderate before the token is given.
  await expect(button(admin, ordinary, "Delete message")).toHaveCount(0);
  await admin.getByLabel("Admin token").fill(ADMIN_TOKEN);
  await admin.getByRole("button", { name: "Sign in" }).click();
  await expect(admin.getByText("Signed in as admin")).toBeVisible();

  void acceptNextDialog(admin);
  await button(admin, ordinary, "Delete message").click();
  await expect(row(bystander, ordinary)).toHaveCount(0);

  const asked = acceptNextDialog(admin);
  await button(admin, spam[0], "Ban author").click();
  expect(await asked).toMatch(/^Ban [a-z2-7]{8} and delete all their messages\?$/);
  for (const text of spam) {
    await expect(row(bystander, text)).toHaveCount(0);
    await expect(row(admin, text)).toHaveCount(0);
  }
  // The banned browser is refused, and says so.
  await say(spammer, unique("more spam"));
  await expect(spammer.getByRole("alert")).toContainText("banned");

  // The token is this tab's only: another tab of the same browser is no admin.
  const other = await admin.context().newPage();
  await openChat(other, "/");
  await say(bystander, unique("later"));
  await expect(log(other).getByRole("button", { name: "Delete message" })).toHaveCount(0);
});
