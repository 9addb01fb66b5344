// The service worker: the app opens without a network, showing the last room it rendered and
// the messages waiting in the outbox (which the page keeps in localStorage).
//
// The server fills in PRECACHE (the hashed WASM, JS and CSS of this build, the icons and the
// manifest) and VERSION (a hash of them) when it starts: a new build is a new worker, which
// caches its files under a new name and removes the old caches once it takes over. Under
// `cargo leptos watch` both stay empty and nothing but pages is cached, so a rebuilt bundle is
// never served stale.
//
// Pages: network first; each one rendered is kept as "the last room", served when the network
// is down. Files of PRECACHE: cache first (their names change with their content). Anything
// else, above all POST /ajax, is never touched.
const VERSION = "dev";
const PRECACHE = [];
const CACHE = `chat-${VERSION}`;
const LAST_PAGE = "/offline-last-page";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(PRECACHE);
      // A first page to show offline even before one is rendered through this worker.
      const page = await fetch("/");
      if (page.ok) await cache.put(LAST_PAGE, page);
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (PRECACHE.includes(url.pathname)) {
    event.respondWith(
      caches.match(request, { ignoreVary: true }).then((hit) => hit || fetch(request)),
    );
  }
});

async function page(event) {
  try {
    const response = await fetch(event.request);
    // The operator's page is no room to open offline.
    if (response.ok && new URL(event.request.url).pathname !== "/admin") {
      const copy = response.clone();
      event.waitUntil(caches.open(CACHE).then((cache) => cache.put(LAST_PAGE, copy)));
    }
    return response;
  } catch (offline) {
    const last = await caches.match(LAST_PAGE, { ignoreVary: true });
    if (last) return last;
    throw offline;
  }
}
