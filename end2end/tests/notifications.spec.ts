// Desktop notifications, with the browser's Notification replaced by a recorder (a headless
// browser shows none): the button and its permission, each room's choice, collapsing, never
// for one's own messages, a click opening the message, the favicon's dot, and a hidden tab that
// keeps polling while they are on (this server polls every second, no long polling).
import { type Page } from "@playwright/test";
import { expect, log, nameField, openChat, postMessage, say, setHidden, test, unique } from "./helpers";

type Shown = { title: string; body: string; tag: string };

async function recordNotifications(page: Page) {
  await page.context().addInitScript(() => {
    const shown: unknown[] = [];
    // The permission outlives a page, as the browser's does.
    class Recorder {
      static get permission() {
        return localStorage.getItem("test.permission") ?? "default";
      }
      static requestPermission() {
        localStorage.setItem("test.permission", "granted");
        return Promise.resolve("granted");
      }
      title: string;
      body?: string;
      tag?: string;
      onclick: (() => void) | null = null;
      constructor(title: string, options?: { body?: string; tag?: string }) {
        this.title = title;
        this.body = options?.body;
        this.tag = options?.tag;
        shown.push(this);
      }
      close() {}
    }
    Object.assign(window, { Notification: Recorder, __shown: shown });
  });
}

const shown = (page: Page) =>
  page.evaluate(() =>
    ((window as unknown as { __shown: Shown[] }).__shown ?? []).map(({ title, body, tag }) => ({
      title,
      body,
      tag,
    })),
  );

test("notifications: permission, per-room choice, collapsing, own messages, click, favicon", async ({
  page,
  request,
}) => {
  await recordNotifications(page);
  await openChat(page);
  await nameField(page).fill("Nia");
  // Her own first message teaches the page her fingerprint.
  await say(page, unique("hello from Nia"));
  await expect(page.locator(".identity summary")).toHaveText(/You: [a-z2-7]{8}/);
  const key = await page.evaluate(() => localStorage.getItem("chat.key"));

  const button = page.getByRole("button", { name: "Notifications" });
  await expect(button).toHaveAttribute("aria-pressed", "false");
  await button.click();
  await expect(button).toHaveAttribute("aria-pressed", "true");
  const choice = page.getByRole("combobox", { name: "Notify me of" });
  await expect(choice).toHaveValue("mentions");

  // Hidden: news still arrives (the page keeps polling), and mentions notify by default.
  await setHidden(page, true);
  const plain = unique("nothing for Nia");
  await postMessage(request, "Ola", plain);
  const mention = unique("@nia are you there?");
  await postMessage(request, "Ola", mention);
  await expect.poll(() => shown(page)).toEqual([
    { title: "#general · Ola", body: mention, tag: "general" },
  ]);
  await expect(page.locator("link[rel=icon]")).toHaveAttribute("href", "/favicon-unread.svg");

  // All: every message; close together, one notification per room says how many.
  await choice.selectOption("all");
  const long = `${unique("long")} ${"x".repeat(300)}`;
  await postMessage(request, "Ola", long);
  await expect.poll(async () => (await shown(page)).length).toBe(2);
  const collapsed = (await shown(page))[1];
  expect(collapsed.title).toBe("#general · 2 new messages");
  expect(collapsed.tag).toBe("general");
  expect(collapsed.body).toBe(long.slice(0, 200));

  // Never for one's own messages (by the key's fingerprint, from anywhere).
  const own = unique("from Nia's other tab");
  const reply = await request.post("/ajax", {
    data: { type: "message", data: { sender: "Nia", message: own, key } },
  });
  expect(reply.status()).toBe(200);
  await expect(log(page).locator("li", { hasText: own })).toHaveCount(1);
  // Off: none at all.
  await choice.selectOption("off");
  await postMessage(request, "Ola", unique("@nia silenced"));
  await page.waitForTimeout(1500);
  expect((await shown(page)).length).toBe(2);
  await choice.selectOption("mentions");

  // Seen again: the dot goes; a click on a notification opens its message.
  await setHidden(page, false);
  await expect(page.locator("link[rel=icon]")).toHaveAttribute("href", "/favicon.svg");
  await page.evaluate(() =>
    (window as unknown as { __shown: { onclick: () => void }[] }).__shown[0].onclick(),
  );
  await expect(page).toHaveURL(/\/r\/general\/\d+$/);
  await expect(page.locator("li[aria-current=true]")).toContainText(mention);

  // The choice and the switch are remembered by this browser.
  await expect(page.getByRole("button", { name: "Notifications" })).toHaveAttribute(
    "aria-pressed",
    "true",
  );
  await page.getByRole("button", { name: "Notifications" }).click();
  await expect(page.getByRole("button", { name: "Notifications" })).toHaveAttribute(
    "aria-pressed",
    "false",
  );
});
