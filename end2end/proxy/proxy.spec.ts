// Through Caddy, as deployed: pages load over HTTP/2 and HTTPS, several tabs of one browser
// send and receive (their long polls share one connection), each client has a rate budget of
// its own that no X-Forwarded-For it sends can dodge, and a sync held its longest is answered.
import * as https from "node:https";
import { expect, log, nameField, openChat, say, test, unique } from "../tests/helpers";

/** POSTs `body` to /ajax through Caddy from the loopback address `from`. */
function post(
  body: object,
  from: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; reply: { type: string; data: unknown } }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: "127.0.0.1",
        port: 3443,
        servername: "localhost",
        path: "/ajax",
        method: "POST",
        localAddress: from,
        rejectUnauthorized: false,
        headers: {
          host: "localhost:3443",
          "content-type": "application/json",
          "content-length": Buffer.byteLength(data),
          ...headers,
        },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, reply: JSON.parse(text) }));
      },
    );
    request.on("error", reject);
    request.end(data);
  });
}

const message = (text: string) => ({ type: "message", data: { sender: "Client", message: text } });

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

test("each client has its own rate budget, whatever X-Forwarded-For it sends", async () => {
  // 25 posts from one client, each claiming another address: the server counts them all as
  // that client's (the address Caddy saw), so its burst of 20 runs out.
  const statuses = [];
  for (let n = 0; n < 25; n++) {
    const { status } = await post(message(`forged ${n}`), "127.0.0.3", { "X-Forwarded-For": `203.0.113.${n}` });
    statuses.push(status);
  }
  expect(statuses.slice(0, 20)).toEqual(Array(20).fill(200));
  expect(statuses.slice(20)).toEqual(Array(5).fill(429));
  // Another client, through the same proxy, has a budget of its own: the server took its
  // address from Caddy's X-Forwarded-For, not from the connection (which is Caddy's).
  const other = await post(message("another client"), "127.0.0.2");
  expect(other.status).toBe(200);
});

test("a sync held as long as the protocol allows is answered through the proxy", async () => {
  const { status, reply } = await post({ type: "sync", data: { last_message: 1_000_000, wait_ms: 30_000 } }, "127.0.0.4");
  expect(status).toBe(200);
  expect(reply).toEqual({ type: "sync", data: [] });
});
