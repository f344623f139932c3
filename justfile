# Tasks for relreg: `just --list`. Each recipe is what CI (.ci/run) runs for that step.
# `just` itself: `cargo install just`, or `pip install rust-just` (a prebuilt binary).

set shell := ["bash", "-euo", "pipefail", "-c"]

postgres_url := env_var_or_default("RELREG_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
buf := ".ci/tools/node_modules/.bin/buf"
relreg := "target/debug/relreg"

# Lists the recipes.
default:
    @just --list

# rustfmt, check only.
fmt-check:
    cargo fmt --check

# clippy with warnings as errors, and buf lint of the protobuf contract.
lint: _buf
    cargo clippy --all-targets -- -D warnings
    {{buf}} lint

# The tests that need only cargo (SQLite); PostgreSQL, browser and PyGithub tests count as skipped.
test *args:
    cargo nextest run {{args}}

# Every test, as CI runs them (PostgreSQL at RELREG_TEST_POSTGRES_URL, Chromium, PyGithub).
test-full *args:
    RELREG_TEST_POSTGRES_URL={{postgres_url}} cargo nextest run --profile full {{args}}

# Line coverage of the SQLite test run (cargo-llvm-cov; `cargo install cargo-llvm-cov`).
coverage *args:
    cargo llvm-cov nextest --lcov --output-path target/lcov.info {{args}}
    cargo llvm-cov report --summary-only

# Regenerates what is generated from proto/: web/'s TypeScript (buf generate) and openapi.json.
spec: _buf
    npm run generate --prefix web
    RELREG_UPDATE_OPENAPI=1 cargo nextest run -E 'test(committed_openapi_matches_the_descriptors)'

# Checks the contract: buf lint, and the committed openapi.json against the descriptors.
spec-check: _buf
    {{buf}} lint
    cargo nextest run -E 'test(/openapi/)'

# The whole lifecycle through the relreg CLI against a fresh server, then the runbook's commands.
smoke:
    cargo build --bin relreg
    RELREG_BIN={{relreg}} bash scripts/smoke-cli.sh
    RELREG_BIN={{relreg}} bash scripts/runbook-check.sh

# The runbook's commands (docs/runbook.md) against a fresh server; `just runbook postgres` on PostgreSQL.
runbook backend="sqlite":
    cargo build --bin relreg
    {{ if backend == "postgres" { "RELREG_RUNBOOK_POSTGRES_URL=" + postgres_url } else { "" } }} RELREG_BIN={{relreg}} bash scripts/runbook-check.sh

# Builds the runtime image around the host binary with podman, runs it, runs the CLI smoke flow on it.
image:
    cargo build --bin relreg
    RELREG_BIN={{relreg}} bash scripts/image-check.sh

# Lints, renders and validates the Helm chart's values matrix; checks deploy/compose.yaml.
chart:
    bash scripts/chart-check.sh

_buf:
    @[[ -x {{buf}} ]] || npm install --no-save --no-audit --no-fund --prefix .ci/tools @bufbuild/buf
