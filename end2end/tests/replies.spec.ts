// Replies: `Reply` quotes a message above the box (Escape or `Cancel reply` takes it back), the
// answer shows the quote on every page within a poll, the quote follows an edit of what it
// quotes and its deletion, its link scrolls to the quoted message and marks it, and the outbox
// keeps it offline.
import { expect, log, messageField, nameField, openChat, test, unique } from "./helpers";

const KEY = "replies-spec-key-of-cleo-0123456789";

test("reply, follow the quote's edit, jump to it; offline the outbox keeps the reply", async ({
  page,
  browser,
  context,
  request,
}) => {
  const tag = unique("replies");
  const asked = `${tag} which port does staging use?`;
  const answer = await request.post("/ajax", {
    data: { type: "message", data: { sender: "Cleo", message: asked, key: KEY } },
  });
  const askedId: number = (await answer.json()).data.id;
  // Enough after it that it is far above the newest.
  for (let n = 0; n < 30; n++) {
    await request.post("/ajax", { data: { type: "message", data: { sender: "Dev", message: `${tag} filler ${n}` } } });
  }
  await openChat(page);
  await nameField(page).fill("Ana");
  const ben = await (await browser.newContext()).newPage();
  await openChat(ben);
  const question = log(page).locator(`li#m${askedId}`);

  // Reply, then Escape: nothing is answered.
  await question.getByRole("button", { name: "Reply" }).click();
  await expect(page.getByText(`Replying to Cleo`)).toBeVisible();
  await expect(messageField(page)).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(page.getByText(`Replying to Cleo`)).toHaveCount(0);
  // Reply, then `Cancel reply`: the same.
  await question.getByRole("button", { name: "Reply" }).click();
  await page.getByRole("button", { name: "Cancel reply" }).click();
  await expect(page.getByText(`Replying to Cleo`)).toHaveCount(0);

  // Reply, and send the answer: it quotes the question, here and on Ben's page.
  await question.getByRole("button", { name: "Reply" }).click();
  await expect(page.locator(".replying")).toContainText(asked);
  const said = `${tag} 8443, as in prod`;
  await messageField(page).fill(said);
  await messageField(page).press("Enter");
  await expect(page.getByText(`Replying to Cleo`)).toHaveCount(0);
  for (const reader of [page, ben]) {
    const quote = log(reader).locator("li", { hasText: said }).getByRole("link", { name: /^In reply to Cleo/ });
    await expect(quote).toContainText(asked);
    await expect(quote).toHaveAttribute("href", `/r/general/${askedId}`);
  }

  // Cleo edits the question: the quote shows the new text on both pages with the next poll.
  const edited = `${tag} which port does staging use now?`;
  await request.post("/ajax", { data: { type: "edit", data: { id: askedId, message: edited, key: KEY } } });
  for (const reader of [page, ben]) {
    await expect(log(reader).locator("li", { hasText: said }).locator(".quote")).toContainText(edited);
  }

  // The quote's link scrolls to the question and marks it, without leaving the page.
  await expect(question).not.toBeInViewport();
  await log(page).locator("li", { hasText: said }).locator(".quote").click();
  await expect(question).toBeInViewport();
  await expect(question).toHaveAttribute("aria-current", "true");
  await expect(question).toBeFocused();
  expect(new URL(page.url()).pathname).toBe("/");

  // Offline, a reply waits in the outbox with its quote, and goes out with it when back.
  await context.setOffline(true);
  await question.getByRole("button", { name: "Reply" }).click();
  const late = `${tag} (sent from the train)`;
  await messageField(page).fill(late);
  await messageField(page).press("Enter");
  const waiting = log(page).locator("li.pending", { hasText: late });
  await expect(waiting.locator(".quote")).toContainText(edited);
  await context.setOffline(false);
  const stored = log(ben).locator("li:not(.pending)", { hasText: late });
  await expect(stored.locator(".quote")).toContainText(edited);

  // Cleo deletes the question: within a poll, the replies say so, with no link left to follow.
  await request.post("/ajax", { data: { type: "delete", data: { id: askedId, key: KEY } } });
  for (const reader of [page, ben]) {
    const reply = log(reader).locator("li", { hasText: said });
    await expect(reply.locator(".quote")).toHaveText("Replying to a deleted message");
    await expect(reply.getByRole("link", { name: /^In reply to/ })).toHaveCount(0);
  }
});

test("a reply whose message was deleted before it was sent goes without its quote", async ({
  page,
  context,
  request,
}) => {
  const tag = unique("orphan");
  const asked = `${tag} is the build green?`;
  const posted = await request.post("/ajax", {
    data: { type: "message", data: { sender: "Cleo", message: asked, key: KEY } },
  });
  const askedId: number = (await posted.json()).data.id;
  await openChat(page);
  await nameField(page).fill("Ana");
  // Written offline: Cleo deletes her question before the answer goes out.
  await context.setOffline(true);
  await log(page).locator(`li#m${askedId}`).getByRole("button", { name: "Reply" }).click();
  const said = `${tag} yes, all of it`;
  await messageField(page).fill(said);
  await messageField(page).press("Enter");
  await request.post("/ajax", { data: { type: "delete", data: { id: askedId, key: KEY } } });
  await context.setOffline(false);
  const refused = log(page).locator("li.pending", { hasText: said });
  await expect(refused.locator(".refusal")).toContainText(`no such message: ${askedId}`);
  // Its text can still go, on its own.
  await refused.getByRole("button", { name: "Send without quote" }).click();
  const stored = log(page).locator("li:not(.pending)", { hasText: said });
  await expect(stored).toHaveCount(1);
  await expect(stored.locator(".quote")).toHaveCount(0);
  await expect(log(page).locator("li.pending", { hasText: said })).toHaveCount(0);
});
