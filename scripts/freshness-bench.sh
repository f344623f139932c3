#!/usr/bin/env bash
# Publish -> "latest" on another server, three servers on one PostgreSQL database and one S3
# bucket (moto), with the outbox wake-ups (PostgreSQL NOTIFY) and with the one-second poll
# alone, side by side (tests/it/multi_server.rs, freshness_notify_vs_poll).
# Needs PostgreSQL (RELREG_TEST_POSTGRES_URL, default below) and python3 with moto[server].
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export RELREG_TEST_POSTGRES_URL=${RELREG_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
python3 -c "import moto.server" 2>/dev/null || python3 -m pip install --quiet 'moto[server]'
cargo nextest run --profile full --run-ignored only \
  -E 'test(/freshness_notify_vs_poll/)' --no-capture 2>&1 | grep -E 'publish -> |PASS|FAIL'
