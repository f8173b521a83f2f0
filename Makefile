# The two commands of the README: `make run` and `make test`.
# CARGO_TARGET_DIR may point outside the clone (CI does this); everything still works
# from an empty one.

CARGO ?= cargo
HEARTH_ARGS ?=

.PHONY: run test build lint fmt unit deps-check clean

## Build (release) and run the hub with defaults: data in ./data, MQTT on
## 127.0.0.1:1883, WebSocket on 127.0.0.1:8083/mqtt. Anonymous MQTT is allowed until
## the registry lands, and only on loopback.
run:
	$(CARGO) run --release -p hearth -- serve --allow-anonymous $(HEARTH_ARGS)

build:
	$(CARGO) build --release -p hearth

## Every test: formatting, lints, unit and integration tests (real sockets, real clients).
test: fmt lint unit

fmt:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit: deps-check
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	$(CARGO) test --workspace --doc

## The integration tests drive the broker with third-party clients; missing ones are a
## failure, never a skip. `.ci/run` installs them on a clean machine.
deps-check:
	@command -v mosquitto_pub >/dev/null || { echo "missing mosquitto_pub: apt-get install mosquitto-clients (or run .ci/run)"; exit 1; }
	@command -v mosquitto_sub >/dev/null || { echo "missing mosquitto_sub: apt-get install mosquitto-clients"; exit 1; }
	@python3 -c "import paho.mqtt" 2>/dev/null || { echo "missing paho-mqtt: python3 -m pip install 'paho-mqtt>=2,<3'"; exit 1; }

clean:
	$(CARGO) clean
