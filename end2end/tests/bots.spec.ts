// Bots, as a team sees them: the operator makes one, a script posts with its token (the way the
// README's curl line does), and every open page shows the message under the bot's name with a
// `bot` badge, live and as the server renders it; a person's message has none, whatever name it
// gives. The page with a bot's message has no serious accessibility violation, light or dark.
import { type APIRequestContext, type Page } from "@playwright/test";
import { expect, log, openChat, postTo, seriousViolations, test, unique } from "./helpers";

const ADMIN_TOKEN = "e2e-operator-token-0123456789abcdef";

/** A new bot that may post to `rooms`: its token. */
async function makeBot(request: APIRequestContext, name: string, rooms: string[]) {
  const reply = await request.post("/ajax", {
    data: { type: "bot", data: { admin: ADMIN_TOKEN, name, rooms } },
  });
  expect(reply.status()).toBe(200);
  const bot = (await reply.json()).data;
  expect(bot.name).toBe(name);
  return bot.token as string;
}

const row = (page: Page, text: string) => log(page).locator("li", { hasText: text });

for (const colorScheme of ["light", "dark"] as const) {
  test(`a bot's message shows its name and a bot badge: ${colorScheme}`, async ({
    browser,
    request,
  }) => {
    const tag = unique("bots");
    const name = `Build ${tag.split(" ")[1]}`;
    const token = await makeBot(request, name, ["dev"]);
    const page = await (await browser.newContext({ colorScheme })).newPage();
    await openChat(page, "/r/dev");

    // A script posts plain text with the token, as a CI job would.
    const text = `${tag} pipeline passed`;
    const posted = await request.post("/bots/dev/messages", {
      headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
      data: `${text}\n`,
    });
    expect(posted.status()).toBe(201);
    // A person who calls themselves by the bot's name gets no badge.
    const impostor = `${tag} not really the bot`;
    await postTo(request, "dev", name, impostor);

    for (const shown of ["live", "rendered"]) {
      if (shown === "rendered") await page.reload();
      const message = row(page, text);
      await expect(message).toHaveCount(1);
      await expect(message.locator(".sender")).toHaveText(name);
      await expect(message.getByText("bot", { exact: true })).toBeVisible();
      await expect(message.locator(".text")).toHaveText(text);
      const person = row(page, impostor);
      await expect(person).toHaveCount(1);
      await expect(person.locator(".sender")).toHaveText(name);
      await expect(person.getByText("bot", { exact: true })).toBeHidden();
    }
    expect(await seriousViolations(page)).toEqual([]);
  });
}

test("a bot cannot post to a room it was not given, nor with a wrong token", async ({
  request,
}) => {
  const token = await makeBot(request, unique("Alerts"), ["ops"]);
  const post = (room: string, bearer: string) =>
    request.post(`/bots/${room}/messages`, {
      headers: { authorization: `Bearer ${bearer}`, "content-type": "text/plain" },
      data: "disk full",
    });
  const wrong = await post("ops", `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`);
  expect(wrong.status()).toBe(401);
  expect(wrong.headers()["www-authenticate"]).toBe("Bearer");
  expect((await post("dev", token)).status()).toBe(403);
  expect((await post("ops", token)).status()).toBe(201);
});
