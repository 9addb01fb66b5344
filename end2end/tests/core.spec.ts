// The core scenario, shared by both builds: the hydrated page (playwright.config.ts) and the
// client-only build served by `trunk serve` (playwright.trunk.config.ts), so they cannot drift.
import { type Page } from "@playwright/test";
import { expect, log, messageField, nameField, openChat, say, sendButton, test, texts, unique } from "./helpers";

/** Counts the page's main-frame navigations: a chat that never reloads has exactly one. */
function countNavigations(page: Page) {
  const count = { value: 0 };
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) count.value += 1;
  });
  return count;
}

test("two users in separate browsers chat both ways without reloading", async ({ browser }) => {
  const annContext = await browser.newContext();
  const bobContext = await browser.newContext();
  const ann = await annContext.newPage();
  const bob = await bobContext.newPage();
  const annNavigations = countNavigations(ann);
  const bobNavigations = countNavigations(bob);
  // Nothing the page needs may be blocked by its Content-Security-Policy, nor throw.
  const problems: string[] = [];
  for (const page of [ann, bob]) {
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (/content security policy/i.test(message.text())) problems.push(message.text());
    });
  }
  await openChat(ann);
  await openChat(bob);
  // A value on the window survives only if the page is never reloaded.
  await ann.evaluate(() => ((window as any).__sameDocument = true));
  await bob.evaluate(() => ((window as any).__sameDocument = true));

  await nameField(ann).fill("Ann");
  await nameField(bob).fill("Bob");

  const hello = unique("hello Bob");
  await say(ann, hello);
  await expect(messageField(ann)).toHaveValue("");
  await expect(log(ann).getByText(hello)).toBeVisible();
  await expect(log(bob).getByText(hello)).toBeVisible();

  // Bob answers with two lines (Shift+Enter) and the Send button.
  const answer = unique("hi Ann");
  await messageField(bob).fill(answer);
  await messageField(bob).press("Shift+Enter");
  await messageField(bob).pressSequentially("second line");
  await expect(messageField(bob)).toHaveValue(`${answer}\nsecond line`);
  await sendButton(bob).click();
  await expect(messageField(bob)).toHaveValue("");
  await expect(log(ann).getByText(answer)).toBeVisible();
  expect(await texts(ann)).toContain(`${answer}\nsecond line`);

  // Each sees the same conversation in the same order; one's own messages look distinct.
  const annSees = (await texts(ann)).filter((t) => t === hello || t.startsWith(answer));
  const bobSees = (await texts(bob)).filter((t) => t === hello || t.startsWith(answer));
  expect(annSees).toEqual([hello, `${answer}\nsecond line`]);
  expect(bobSees).toEqual(annSees);
  await expect(log(ann).locator("li.mine", { hasText: hello })).toHaveCount(1);
  await expect(log(bob).locator("li.mine", { hasText: hello })).toHaveCount(0);
  await expect(log(bob).locator("li.mine", { hasText: answer })).toHaveCount(1);
  await expect(log(ann).locator("li", { hasText: hello }).locator("time")).toHaveText(/^\d\d:\d\d$/);

  expect(problems).toEqual([]);
  expect(annNavigations.value).toBe(1);
  expect(bobNavigations.value).toBe(1);
  expect(await ann.evaluate(() => (window as any).__sameDocument)).toBe(true);
  expect(await bob.evaluate(() => (window as any).__sameDocument)).toBe(true);
  await annContext.close();
  await bobContext.close();
});
