# The two commands of the README: `make run` and `make test`.
# CARGO_TARGET_DIR may point outside the clone (CI does this); everything still works
# from an empty one.

CARGO ?= cargo
HEARTH_ARGS ?=

.PHONY: run test build lint fmt unit bench-smoke deps-check js-deps clean web web-deps web-unit web-e2e web-deps-check deb package-test api-fuzz

## Build (release) and run the hub with defaults: data and the SQLite database in
## ./data, MQTT on 127.0.0.1:1883, WebSocket on 127.0.0.1:8083/mqtt. Every MQTT client
## logs in with registry credentials; the first start prints the owner's password.
## The web app (web/dist) is built first: the release binary embeds it and serves it on
## the HTTP port (127.0.0.1:8080).
run: web
	$(CARGO) run --release -p hearth -- serve $(HEARTH_ARGS)

build: web
	$(CARGO) build --release -p hearth

## Every test: formatting, lints, unit and integration tests (real sockets, real clients),
## and the broker benchmark in miniature so that it cannot rot (no timing is asserted).
test: fmt lint web-unit unit web-e2e bench-smoke package-test api-fuzz

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Store tests run on SQLite, PostgreSQL and MariaDB: unless HEARTH_TEST_POSTGRES and
## HEARTH_TEST_MARIADB already name a server, a throw-away PostgreSQL cluster
## (scripts/test-postgres.sh) and MariaDB server (scripts/test-mariadb.sh) are started for
## the run and stopped afterwards, whether the tests pass or not.
unit: deps-check js-deps
	@set -u; state=$$(mktemp -u "$${TMPDIR:-/tmp}/hearth-pg-state.XXXXXX"); started=; \
	mstate=$$(mktemp -u "$${TMPDIR:-/tmp}/hearth-mariadb-state.XXXXXX"); mstarted=; \
	cleanup() { \
		if [ -n "$$started" ]; then HEARTH_TEST_POSTGRES= HEARTH_PG_STATE=$$state scripts/test-postgres.sh stop; fi; \
		if [ -n "$$mstarted" ]; then HEARTH_TEST_MARIADB= HEARTH_MARIADB_STATE=$$mstate scripts/test-mariadb.sh stop; fi; \
	}; \
	trap 'cleanup; exit 130' INT TERM; \
	if [ -z "$${HEARTH_TEST_POSTGRES:-}" ]; then \
		HEARTH_TEST_POSTGRES=$$(HEARTH_PG_STATE=$$state scripts/test-postgres.sh start) || { cleanup; exit 1; }; \
		started=1; \
		echo "PostgreSQL for the tests: $$HEARTH_TEST_POSTGRES"; \
	fi; \
	if [ -z "$${HEARTH_TEST_MARIADB:-}" ]; then \
		HEARTH_TEST_MARIADB=$$(HEARTH_MARIADB_STATE=$$mstate scripts/test-mariadb.sh start) || { cleanup; exit 1; }; \
		mstarted=1; \
		echo "MariaDB for the tests: $$HEARTH_TEST_MARIADB"; \
	fi; \
	export HEARTH_TEST_POSTGRES HEARTH_TEST_MARIADB; status=0; \
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast || status=$$?; \
	else \
		$(CARGO) test --workspace --no-fail-fast || status=$$?; \
	fi; \
	if [ $$status -eq 0 ]; then $(CARGO) test --workspace --doc || status=$$?; fi; \
	cleanup; \
	exit $$status

## mqtt.js for the WebSocket interop test, from the committed lockfile.
js-deps:
	npm ci --prefix crates/hearth-broker/tests/js --no-audit --no-fund --loglevel=error

## The integration tests drive the broker with third-party clients; missing ones are a
## failure, never a skip. `.ci/run` installs them on a clean machine.
deps-check:
	@command -v mosquitto_pub >/dev/null || { echo "missing mosquitto_pub: apt-get install mosquitto-clients (or run .ci/run)"; exit 1; }
	@command -v mosquitto_sub >/dev/null || { echo "missing mosquitto_sub: apt-get install mosquitto-clients"; exit 1; }
	@test -x /usr/sbin/mosquitto || { echo "missing /usr/sbin/mosquitto (the benchmark's reference): apt-get install mosquitto"; exit 1; }
	@command -v node >/dev/null || { echo "missing node (20 or newer)"; exit 1; }
	@command -v openssl >/dev/null || { echo "missing openssl: apt-get install openssl"; exit 1; }
	@python3 -c "import paho.mqtt" 2>/dev/null || { echo "missing paho-mqtt: python3 -m pip install 'paho-mqtt>=2,<3'"; exit 1; }

## Hearth against Mosquitto with tiny counts (needs /usr/sbin/mosquitto). The full
## comparison is bench/broker-vs-mosquitto.sh; see docs/performance.md.
bench-smoke:
	bench/smoke.sh

clean:
	$(CARGO) clean
	rm -rf web/dist web/node_modules

## The web app: dependencies from the committed lockfile (again only when it changed),
## then the type check and the production build into web/dist.
WEB_STAMP := web/node_modules/.hearth-installed
TARGET_DIR = $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)

$(WEB_STAMP): web/package.json web/package-lock.json
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	@touch $@

web-deps: $(WEB_STAMP)

web: web-deps
	npm --prefix web run build

## The web app's unit tests (Vitest: stores, components, the API paths it uses).
web-unit: web-deps
	npm --prefix web run test:unit

## End to end in Debian's headless Chromium (playwright-core, no browser download)
## against the real hub on port 0; writes docs/screenshots/*.png.
web-e2e: web web-deps-check
	$(CARGO) build -p hearth
	HEARTH_BIN=$(abspath $(TARGET_DIR))/debug/hearth npm --prefix web run test:e2e

web-deps-check:
	@command -v chromium >/dev/null || { echo "missing chromium: apt-get install chromium (or run .ci/run)"; exit 1; }

## The Debian package from the release binary (web app embedded) into
## $(TARGET_DIR)/debian; installing it and the arm64 build for a Raspberry Pi:
## docs/deploy.md.
deb: build
	packaging/deb/build-deb.sh $(TARGET_DIR)/release/hearth $(TARGET_DIR)/debian

## The packaging (packaging/tests/): the Debian package built, installed with dpkg -i
## (as root), run as its user with its config, removed and purged; the nginx example in
## front of a hub with a browser over WSS; the Grafana dashboard's metrics against a
## real /metrics; the container files. From the debug binary with the web app embedded
## (a release build would add ~10 minutes to CI), copied at once so that another build
## in the same target dir cannot swap it.
package-test: web js-deps deps-check
	$(CARGO) build -p hearth --features embed-web
	@set -e; bin=$$(mktemp "$${TMPDIR:-/tmp}/hearth-package-bin.XXXXXX"); \
	trap 'rm -f "$$bin"' EXIT; \
	install -m 0755 $(TARGET_DIR)/debug/hearth "$$bin"; \
	packaging/tests/package-test.sh "$$bin"; \
	packaging/tests/nginx-test.sh "$$bin"; \
	packaging/tests/grafana-test.sh "$$bin"; \
	packaging/tests/container-test.sh "$$bin"

## The HTTP API fuzzed with schemathesis against its own OpenAPI document, as an
## administrator (docs/api-fuzz.md): 10 examples per operation and a fixed seed here;
## `HEARTH_FUZZ_EXAMPLES=200 scripts/api-fuzz.sh` is the longer run. The debug binary is
## copied first so that another build in the same target dir cannot swap it.
api-fuzz:
	$(CARGO) build -p hearth
	@set -e; bin=$$(mktemp "$${TMPDIR:-/tmp}/hearth-fuzz-bin.XXXXXX"); \
	trap 'rm -f "$$bin"' EXIT; \
	install -m 0755 $(TARGET_DIR)/debug/hearth "$$bin"; \
	HEARTH_BIN="$$bin" scripts/api-fuzz.sh
