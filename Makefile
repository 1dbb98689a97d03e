# One-command entry points. Each target sets up .venv (pinned by requirements.lock) when needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
export RAY_USAGE_STATS_ENABLED := 0
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup browser node web web-test run test lint typecheck bench clean

setup: $(STAMP) web

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e . --config-settings editable_mode=compat
	touch $@

$(BENCH_STAMP): requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

# The web page test drives Debian's Chromium. Installed when missing and apt-get may run (root or password-less
# sudo); otherwise, or if the install fails, the test is skipped and says why.
browser:
	@command -v chromedriver >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "note: chromium-driver missing and apt-get needs root: the web page test will be skipped"; exit 0; fi; \
	command -v apt-get >/dev/null || { echo "note: no apt-get: the web page test will be skipped"; exit 0; }; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	  chromium chromium-driver >/dev/null || echo "note: installing chromium failed: the web page test will be skipped"

# The command center (web/, served at /ui): Node.js from Debian's packages when `node` is missing and apt-get may
# run, like Chromium above; npm installs exactly what web/package-lock.json records. Without Node.js 20+ the app is
# not built: /ui serves the plain page and the web app's browser test is skipped.
NODE_OK = command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'
WEB_STAMP := web/node_modules/.installed

node:
	@command -v node >/dev/null && exit 0; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "note: node missing and apt-get needs root: the command center will not be built"; exit 0; fi; \
	command -v apt-get >/dev/null || { echo "note: no apt-get: the command center will not be built"; exit 0; }; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
	  nodejs npm >/dev/null || echo "note: installing nodejs failed: the command center will not be built"

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web: node
	@$(NODE_OK) || { echo "note: Node.js 20+ is needed to build web/ (found: $$(node --version 2>/dev/null || echo none))"; exit 0; }; \
	$(MAKE) --no-print-directory $(WEB_STAMP) && cd web && npm run build

web-test: web
	@$(NODE_OK) || { echo "note: no Node.js 20+: the command center's tests are skipped"; exit 0; }; \
	cd web && npm test && npm run typecheck

run: $(STAMP)
	$(VENV)/bin/dto run

test: $(STAMP) browser web-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache web/node_modules web/dist
