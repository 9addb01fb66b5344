# Sourced by the scripts: where installed tools live, and PATH so that cargo-leptos finds them.
export CHAT_TOOLS="${CHAT_TOOLS:-$HOME/.cache/ajax-chat-tools}"
export PATH="$HOME/.cargo/bin:$CHAT_TOOLS/node_modules/.bin:$PATH"
# Playwright must never download a browser: the tests use Debian's chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
