#!/usr/bin/env bash
# `pnpm test`: lint, typecheck and every test. Everything is built first; then the
# reliability suites (the longest task, ~3.5 min of real peers) run beside all the rest
# from the start. Turbo has no task priorities: in one run it starts them last, after the
# packages' tests, and they alone then decide how long CI takes.
set -u
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 TURBO_NO_UPDATE_NOTIFIER=1
turbo run build --output-logs=errors-only || exit 1
# --only: nothing is rebuilt (or restored from the cache) under a running test
turbo run test --only --filter=@npp/reliability --output-logs=new-only &
reliability=$!
turbo run lint typecheck test --only --filter='!@npp/reliability' --concurrency=2 --output-logs=new-only
rest=$?
wait "$reliability"
suites=$?
if [ "$rest" -ne 0 ] || [ "$suites" -ne 0 ]; then
  echo "pnpm test: failed (packages, app, lint and typecheck: exit $rest; reliability suites: exit $suites)" >&2
  exit 1
fi
