// An accessibility scan of the chat page with axe-core, the engine behind most audit tools:
// light and dark, desktop and phone widths, with messages of others (code among them) and of
// one's own on it, a reaction and the reaction menu, a reply and the reply bar.
// Any serious or critical violation of WCAG 2.0/2.1 A and AA or 2.2 AA fails the test.
import { expect, heading, log, nameField, openChat, postMessage, postTo, roomLink, say, seriousViolations, test, unique } from "./helpers";

for (const colorScheme of ["light", "dark"] as const) {
  for (const width of [1280, 360]) {
    test(`no serious accessibility violations: ${colorScheme}, ${width} px`, async ({
      page,
      request,
    }) => {
      await page.emulateMedia({ colorScheme });
      await page.setViewportSize({ width, height: 800 });
      // With inline code and a code block too long for its bubble (it scrolls sideways).
      const code = "```\n" + "a long line of a log ".repeat(12) + "\n```";
      const other = unique("a message of another");
      await postMessage(request, "Someone else", `${other} with \`code\`:\n${code}`);
      await openChat(page);
      await nameField(page).fill("Axe");
      const mine = unique("a message of mine");
      await say(page, mine);
      await expect(log(page).locator("li.mine", { hasText: mine })).toHaveCount(1);
      // A reaction of one's own (pressed) on the other's message, and its menu open again.
      const theirs = log(page).locator("li:not(.mine)", { hasText: other });
      await theirs.getByRole("button", { name: "Add reaction" }).click();
      await theirs.getByRole("menuitem", { name: "🎉" }).click();
      await expect(theirs.getByRole("button", { name: "🎉 1: you" })).toHaveAttribute("aria-pressed", "true");
      // A reply of one's own that quotes it, and the reply bar open over the box.
      await theirs.getByRole("button", { name: "Reply" }).click();
      const answer = unique("an answer");
      await say(page, answer);
      await expect(log(page).locator("li.mine", { hasText: answer }).locator(".quote")).toContainText(other);
      await theirs.getByRole("button", { name: "Reply" }).click();
      await expect(page.getByRole("button", { name: "Cancel reply" })).toBeVisible();
      await theirs.getByRole("button", { name: "Add reaction" }).click();
      await expect(theirs.getByRole("menu", { name: "Add reaction" })).toBeVisible();

      expect(await seriousViolations(page)).toEqual([]);
    });
  }
}

// The parts rooms add: the navigation with unread counts (open behind its button on a phone),
// day headings, a "New messages" separator, grouped messages and a permalink's marked message.
for (const colorScheme of ["light", "dark"] as const) {
  test(`a room, its separator and a permalink have no serious violations: ${colorScheme}`, async ({
    page,
    request,
  }) => {
    await page.emulateMedia({ colorScheme });
    await page.setViewportSize({ width: 360, height: 800 });
    await openChat(page, "/r/dev");
    await page.getByRole("button", { name: "Rooms" }).click();
    await roomLink(page, "#general").click();
    await expect(heading(page)).toHaveText("#general");
    const ids = [];
    for (let n = 0; n < 3; n++) ids.push(await postTo(request, "dev", "Grouped", unique("unread")));
    await postTo(request, "ops", "Elsewhere", unique("unread"));
    await page.getByRole("button", { name: "Rooms" }).click();
    await expect(roomLink(page, "#dev 3 unread")).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
    await roomLink(page, "#dev 3 unread").click();
    await expect(page.getByRole("separator", { name: "New messages" })).toHaveCount(1);
    expect(await seriousViolations(page)).toEqual([]);
    await openChat(page, `/r/dev/${ids[1]}`);
    await expect(log(page).locator('li[aria-current="true"]')).toHaveCount(1);
    expect(await seriousViolations(page)).toEqual([]);
  });
}

// What identity and moderation add: fingerprints, Edit and Delete on one's own messages, the
// editor open, and the admin view with Delete and Ban author on every message.
for (const colorScheme of ["light", "dark"] as const) {
  test(`the editor and the admin view have no serious violations: ${colorScheme}`, async ({
    page,
    browser,
  }) => {
    await page.emulateMedia({ colorScheme });
    await page.setViewportSize({ width: 360, height: 800 });
    await openChat(page);
    await nameField(page).fill("Axe");
    const mine = unique("to be edited");
    await say(page, mine);
    const row = log(page).locator("li", { hasText: mine });
    await row.getByRole("button", { name: "Edit message" }).click();
    await expect(page.getByRole("textbox", { name: "Edit message" })).toBeFocused();
    expect(await seriousViolations(page)).toEqual([]);

    const admin = await (await browser.newContext({ colorScheme })).newPage();
    await admin.setViewportSize({ width: 1280, height: 800 });
    await openChat(admin, "/admin");
    await admin.getByLabel("Admin token").fill("e2e-operator-token-0123456789abcdef");
    await admin.getByRole("button", { name: "Sign in" }).click();
    await expect(log(admin).getByRole("button", { name: "Ban author" }).first()).toBeVisible();
    expect(await seriousViolations(admin)).toEqual([]);
  });
}

// What the outbox adds: the offline line, a waiting message and a refused one with its reason,
// Retry and Discard.
for (const colorScheme of ["light", "dark"] as const) {
  test(`the outbox's lines have no serious violations: ${colorScheme}`, async ({ page }) => {
    await page.emulateMedia({ colorScheme });
    await page.setViewportSize({ width: 360, height: 800 });
    await openChat(page);
    await nameField(page).fill("n".repeat(65));
    await say(page, unique("refused"));
    await expect(log(page).getByRole("button", { name: "Discard" })).toBeVisible();
    await nameField(page).fill("Axe");
    await page.context().setOffline(true);
    await say(page, unique("waiting"));
    await expect(log(page).getByText("Not sent yet")).toBeVisible();
    await expect(page.getByText("Offline — messages will be sent when you reconnect")).toBeVisible();
    expect(await seriousViolations(page)).toEqual([]);
    await page.context().setOffline(false);
    await log(page).getByRole("button", { name: "Discard" }).click();
  });
}
