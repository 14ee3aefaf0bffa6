# Every target bootstraps .venv itself: on a fresh machine `make test` and `make conformance`
# need no other step. pyproject.toml is the single source of dependencies.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Pass extra arguments through, e.g. `make simulator ARGS='--defect nonce-not-echoed'`.
ARGS   ?=

.PHONY: all test conformance rp load simulator bench lint format report interop keycloak keycloak-dist profile-check clean

all: test

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,dev]'
	@touch $(STAMP)

# The Keycloak tests share one Keycloak on one worker (--dist loadgroup); without Java or the
# download they are skipped, saying why.
test: $(STAMP) keycloak-dist
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=30 $(ARGS)

conformance: $(STAMP)
	$(BIN)/psc-testkit conformance $(if $(TARGET),--target $(TARGET)) $(if $(DEFECT),--defect $(DEFECT)) $(if $(QUIRK),--quirk $(QUIRK)) $(ARGS)

# RP certification of a vendor's app: `make rp APP=apps/naive-sample.toml` (the default).
rp: $(STAMP)
	$(BIN)/psc-testkit rp --app $(or $(APP),apps/naive-sample.toml) $(ARGS)

load: $(STAMP)
	$(BIN)/psc-testkit load $(if $(TARGET),--target $(TARGET)) $(if $(WORKERS),--workers $(WORKERS)) $(ARGS)

# Is a profile ready? DNS, TCP, TLS, discovery, JWKS, driver, clients; no load, and no login
# unless LOGIN=1 (one real login of the first test user: a code, then tokens).
profile-check: $(STAMP)
	$(BIN)/psc-testkit profile check $(if $(LOGIN),--login) --target $(or $(TARGET),targets/simulator.toml)

# Uptime monitor: `make monitor TARGET=targets/psc-bas.toml` probes until Ctrl-C into
# reports/monitor/; `make monitor ARGS=report` judges the stored series.
.PHONY: monitor
monitor: $(STAMP)
	$(BIN)/psc-testkit monitor $(ARGS) $(if $(TARGET),--target $(TARGET))

simulator: $(STAMP)
	$(BIN)/psc-testkit simulator $(if $(TARGET),--target $(TARGET)) $(ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/simulator_capacity.py $(ARGS)
	$(BIN)/python benchmarks/conformance_time.py
	$(BIN)/python benchmarks/load_generator.py
	$(BIN)/python benchmarks/provider_capacity.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Allure command line comes from the npm registry, pinned in package-lock.json.
report: $(STAMP)
	@if command -v npm >/dev/null 2>&1; then \
	  test -x node_modules/.bin/allure || npm ci --no-audit --no-fund --silent; \
	else echo "make report: Node.js (npm) is not installed: writing summary.html only"; fi
	$(BIN)/psc-testkit report $(ARGS)

# The certified providers as PSC stand-ins, each held to interop/<provider>/expected-results.toml:
# panva's oidc-provider (npm, pinned in package-lock.json) and Keycloak (Maven Central, pinned).
# PROVIDER=oidc-provider or PROVIDER=keycloak runs one.
interop: $(STAMP) keycloak-dist
	@test -d node_modules/oidc-provider || npm ci --no-audit --no-fund --silent
	$(BIN)/psc-testkit interop --provider $(or $(PROVIDER),all) $(ARGS)

# Keycloak's server distribution (org.keycloak:keycloak-quarkus-dist, the version pinned in
# psc_testkit/interop/keycloak.py), downloaded with Maven once into .cache/keycloak and built;
# later calls reuse it. Needs Java 21+ (JAVA_HOME, or the newest JDK in /usr/lib/jvm). A failure
# is said in one line and does not stop `make test`: the Keycloak tests then skip with the reason.
keycloak-dist: $(STAMP)
	-@$(BIN)/python -m psc_testkit.interop.keycloak fetch

# Keycloak with the esante-wallet realm on 127.0.0.1 (HTTPS, local CA); prints its profile.
keycloak: $(STAMP) keycloak-dist
	$(BIN)/psc-testkit interop --provider keycloak --serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
	find reports -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
