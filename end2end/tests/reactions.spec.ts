// Reactions: from the keyboard alone, one page adds one with `Add reaction` and its menu, the
// other page sees it within a poll and adds its own by pressing the reaction's button, and
// taking one back shows everywhere. Each button says who reacted, the reader as "you".
import { type Page } from "@playwright/test";
import { expect, log, nameField, openChat, postMessage, say, test, unique } from "./helpers";

/** A page of its own browser (its own key), named `name`, that has said something. */
async function reader(browser: import("@playwright/test").Browser, name: string, tag: string) {
  const page = await (await browser.newContext()).newPage();
  await openChat(page);
  await nameField(page).fill(name);
  const hello = `${tag} hello from ${name}`;
  await say(page, hello);
  await expect(log(page).locator("li.mine", { hasText: hello })).toHaveCount(1);
  return page;
}

const row = (page: Page, text: string) => log(page).locator("li", { hasText: text });

test("react and un-react from two pages, keyboard only", async ({ browser, request }) => {
  const tag = unique("reactions");
  const ana = await reader(browser, "Ana", tag);
  // Ben has written nothing yet: his page learns who he is from his first reaction.
  const ben = await (await browser.newContext()).newPage();
  await openChat(ben);
  const text = `${tag} shall we ship?`;
  await postMessage(request, "Cleo", text);
  await expect(row(ana, text)).toHaveCount(1);
  await expect(row(ben, text)).toHaveCount(1);

  // Ana: Add reaction opens the menu with the focus on its first emoji; Escape closes it and
  // gives the focus back.
  const add = row(ana, text).getByRole("button", { name: "Add reaction" });
  await add.focus();
  await ana.keyboard.press("Enter");
  const menu = row(ana, text).getByRole("menu", { name: "Add reaction" });
  await expect(menu.getByRole("menuitem")).toHaveCount(8);
  await expect(menu.getByRole("menuitem", { name: "👍" })).toBeFocused();
  await ana.keyboard.press("Escape");
  await expect(menu).toHaveCount(0);
  await expect(add).toBeFocused();

  // The arrow keys move through it (and wrap); Enter reacts.
  await ana.keyboard.press("Enter");
  await expect(menu.getByRole("menuitem", { name: "👍" })).toBeFocused();
  await ana.keyboard.press("ArrowLeft");
  await expect(menu.getByRole("menuitem", { name: "👀" })).toBeFocused();
  await ana.keyboard.press("ArrowRight");
  await ana.keyboard.press("ArrowRight");
  await ana.keyboard.press("ArrowRight");
  await ana.keyboard.press("ArrowRight");
  await expect(menu.getByRole("menuitem", { name: "🎉" })).toBeFocused();
  await ana.keyboard.press("Enter");
  await expect(menu).toHaveCount(0);
  await expect(add).toBeFocused();
  const anas = row(ana, text).getByRole("button", { name: "🎉 1: you", exact: true });
  await expect(anas).toHaveAttribute("aria-pressed", "true");
  await expect(anas).toHaveText("🎉 1");

  // Ben sees it with the next poll, not pressed, named for Ana; he adds his by pressing it.
  const bens = row(ben, text).getByRole("button", { name: "🎉 1: Ana", exact: true });
  await expect(bens).toHaveAttribute("aria-pressed", "false");
  await bens.focus();
  await ben.keyboard.press("Space");
  const both = row(ben, text).getByRole("button", { name: "🎉 2: Ana and you", exact: true });
  await expect(both).toHaveAttribute("aria-pressed", "true");
  await expect(both).toBeFocused();
  // Ana's page knows Ben by his fingerprint only (he has no message there to name him).
  const his = row(ana, text).getByRole("button", { name: /^🎉 2: [a-z2-7]{8} and you$/ });
  await expect(his).toHaveText("🎉 2");

  // Ana takes hers back: gone from both pages; Ben's stays.
  await his.focus();
  await ana.keyboard.press("Enter");
  const onlyBen = row(ana, text).getByRole("button", { name: /^🎉 1: [a-z2-7]{8}$/ });
  await expect(onlyBen).toHaveAttribute("aria-pressed", "false");
  await expect(row(ben, text).getByRole("button", { name: "🎉 1: you", exact: true })).toHaveAttribute(
    "aria-pressed",
    "true",
  );

  // A reaction arriving while Ana's menu is open leaves it open, the focus where she put it.
  await add.focus();
  await ana.keyboard.press("Enter");
  await ana.keyboard.press("ArrowRight");
  await ana.keyboard.press("ArrowRight");
  await expect(menu.getByRole("menuitem", { name: "😂" })).toBeFocused();
  await row(ben, text).getByRole("button", { name: "🎉 1: you", exact: true }).click();
  await expect(row(ana, text).locator(".reaction")).toHaveCount(0);
  await expect(menu.getByRole("menuitem", { name: "😂" })).toBeFocused();
  await ana.keyboard.press("Escape");
  await expect(add).toBeFocused();

  // The server renders what the pages show (seen with JavaScript off, as nobody: not pressed).
  const plain = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  await plain.goto("/");
  await expect(row(plain, text).locator(".reaction")).toHaveCount(0);
  await row(ben, text).getByRole("button", { name: "Add reaction" }).click();
  await row(ben, text).getByRole("menuitem", { name: "👀" }).click();
  await expect(row(ben, text).getByRole("button", { name: "👀 1: you", exact: true })).toBeVisible();
  await plain.reload();
  await expect(row(plain, text).getByRole("button", { name: /^👀 1: [a-z2-7]{8}$/ })).toHaveAttribute(
    "aria-pressed",
    "false",
  );
});
