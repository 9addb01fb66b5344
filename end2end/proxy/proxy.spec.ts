// Through Caddy, as deployed: pages load over HTTP/2 and HTTPS, several tabs of one browser
// send and receive (their long polls share one connection), and the server rate-limits by the
// address Caddy saw, whatever X-Forwarded-For a client sends.
import { expect, log, nameField, openChat, say, test, unique } from "../tests/helpers";

test("several tabs chat through the proxy over HTTP/2", async ({ context }) => {
  const tabs = [];
  for (const name of ["Ana", "Bo", "Cy"]) {
    const page = await context.newPage();
    await openChat(page);
    await nameField(page).fill(name);
    tabs.push(page);
  }
  const protocol = await tabs[0].evaluate(
    () => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).nextHopProtocol,
  );
  expect(protocol).toBe("h2");
  expect(tabs[0].url()).toMatch(/^https:\/\/localhost:3443\//);
  const said = [];
  for (const page of tabs) {
    const text = unique("through the proxy");
    await say(page, text);
    said.push(text);
  }
  for (const page of tabs) {
    for (const text of said) {
      await expect(log(page).getByText(text)).toHaveCount(1);
    }
  }
});

test("a client cannot dodge its rate limit with X-Forwarded-For", async ({ request }) => {
  // 30 posts, each claiming another address: behind Caddy they are all this one client's, so
  // the burst of 20 runs out.
  const statuses = [];
  for (let n = 0; n < 30; n++) {
    const reply = await request.post("/ajax", {
      headers: { "X-Forwarded-For": `203.0.113.${n}` },
      data: { type: "message", data: { sender: "Forger", message: `forged ${n}` } },
    });
    statuses.push(reply.status());
  }
  expect(statuses).toContain(429);
  expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(22);
});
