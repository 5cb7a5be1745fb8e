#!/usr/bin/env bash
# A pipeline job's cache check (docs/ci.md): run it once your service's replicas answer.
#
#   1. cache-bench contract  does the service keep the contract? (exit 1: it does not)
#   2. cache-bench run       load and probe it; the report opens with the budget's decision
#   3. cache-bench check     hold the run to the budget, and to BASELINE if given
#
# The job exits with check's code: 0 every threshold holds, 1 one breaks, 2 bad input.
# Keep "$RESULTS" as the job's artifact: the run folder (report.html, summary.json) and
# `latest`, the path of this job's run, which the next job can take as its BASELINE.
#
# Settings, from the environment:
#   TARGETS          the replicas' base URLs, comma-separated (required)
#   PROBE_IDS        FIRST-LAST: product ids outside 1..PRODUCTS that no load touches (required)
#   LABEL            the service's name in the report (default: service)
#   PRODUCTS, CATEGORIES   the catalogue the service was seeded with (default 1000, 10)
#   DURATION         seconds of load per repeat (default 60); REPEATS (default 1)
#   SCENARIO         the load's scenario (default read_mostly)
#   MAX_STALE_MS     99% of reads at most this stale (default 100)
#   MIN_HIT_RATIO, MAX_ORIGIN_RPS, MAX_STALE_RATIO, MAX_READ_P99_MS, MAX_HERD_P99
#                    further limits, each optional (docs/decisions.md)
#   BASELINE         a previous run folder to compare with (optional); TOLERANCE how much
#                    worse, as a fraction of its value, still holds without repeats (0.1)
#   RESULTS          where run folders go (default: bench-results)
#   CACHE_BENCH      the command (default: cache-bench)
set -euo pipefail

: "${TARGETS:?set TARGETS to the base URLs of the replicas, comma-separated}"
: "${PROBE_IDS:?set PROBE_IDS to FIRST-LAST, product ids that no load touches}"
bench=${CACHE_BENCH:-cache-bench}
results=${RESULTS:-bench-results}
catalogue=(--products "${PRODUCTS:-1000}" --categories "${CATEGORIES:-10}" --probe-ids "$PROBE_IDS")

budget=(--max-stale-ms "${MAX_STALE_MS:-100}")
for limit in MIN_HIT_RATIO MAX_ORIGIN_RPS MAX_STALE_RATIO MAX_READ_P99_MS MAX_HERD_P99; do
    value=${!limit:-}
    if [[ -n $value ]]; then
        flag=${limit,,}
        budget+=("--${flag//_/-}" "$value")
    fi
done

echo "== contract"
$bench contract --targets "$TARGETS" "${catalogue[@]}"

echo "== run"
# A folder of this job's own, so the one run folder in it is this job's run.
job="$results/job-$(date -u +%Y%m%dT%H%M%SZ)-$$"
mkdir -p "$job"
$bench run --runtime external --label "${LABEL:-service}" --targets "$TARGETS" \
    "${catalogue[@]}" --scenario "${SCENARIO:-read_mostly}" --duration "${DURATION:-60}" \
    --repeats "${REPEATS:-1}" "${budget[@]}" --results "$job"
run=$(find "$job" -mindepth 1 -maxdepth 1 -type d -print -quit)
echo "$run" > "$results/latest"
echo "report: $run/report.html"

echo "== check"
against=()
if [[ -n ${BASELINE:-} ]]; then
    against=(--baseline "$BASELINE" --tolerance "${TOLERANCE:-0.1}")
fi
exec $bench check "$run" "${budget[@]}" "${against[@]}"
