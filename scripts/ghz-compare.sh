#!/usr/bin/env bash
# Side by side, with one third-party gRPC load tool (ghz) against one
# orbit-server on the memory provider: grpc.health.v1 Check (the cheapest
# call the server answers: gRPC's ceiling on this machine), LocateOrPlace of
# new addressables, LocateOrPlace of one hot placed addressable, and
# LocateOrPlaceBatch of 100 placed references. Prints calls/s per case and
# each case's ratio to the health check of the same run.
#
#   scripts/ghz-compare.sh [scale, default 1]
#
# server-µs/call is the CPU time (user + system) the server process used
# during the case divided by its calls: what the server costs per call, apart
# from the load tool's share of the same cores. ghz-µs/call is the same for
# ghz itself. cpu-bound/s is the rate the machine's cores would allow if
# they did nothing but these two processes' work per call
# (cores × 10^6 / (server-µs + ghz-µs)): when calls/s is near it, the
# cores are full and the ratio to health measures the two processes
# together, the load tool's work included.
#
# Each case sends a fixed number of calls (health 160,000, place 80,000,
# locate 120,000, batch 8,000; times scale), about 8 s each on a 2-core
# machine: a fixed count, not ghz's -z, whose end cancels the calls in
# flight and counts them as errors.
#
# Needs ghz in PATH or in $GHZ (go install github.com/bojand/ghz/cmd/ghz@v0.93.0).
# Talks to 127.0.0.1 only; stops the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
ghz=${GHZ:-$(command -v ghz || true)}
if [ -z "$ghz" ] || [ ! -x "$ghz" ]; then
  echo "ghz-compare: ghz not found: set GHZ or put it in PATH (go install github.com/bojand/ghz/cmd/ghz@v0.93.0)" >&2
  exit 2
fi
command -v jq >/dev/null || { echo "ghz-compare: jq is required (apt-get install jq)" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/orbit-server" ./cmd/orbit-server
go build -o "$work/orbit-bench" ./cmd/orbit-bench
port=15071
printf '[providers.memory]\ntype = "Memory"\nmax_entries = 0\n' > "$work/orbit.toml"
"$work/orbit-server" serve --config "$work/orbit.toml" --port "$port" --admin-addr "" --log-level warn > "$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  "$ghz" --insecure --call grpc.health.v1.Health.Check -n 1 "127.0.0.1:$port" >/dev/null 2>&1 && break
  sleep 0.1
done
# Fake nodes hosting Greeter, kept alive for the whole comparison.
"$work/orbit-bench" --addr "127.0.0.1:$port" --mode hold --nodes 4 --duration 10m > "$work/hold.log" 2>&1 &
pids+=($!)
sleep 1
common=(--insecure -c 64 --connections 4 --format json)
count() { awk -v n="$1" -v s="$scale" 'BEGIN{printf "%d", n*s}'; }
proto=(--import-paths api/orbit/v1 --proto api/orbit/v1/orbit.proto)
ref='{"namespace":"default","type":"Greeter","key":{"string_key":"hot"}}'
refs=$(for i in $(seq 100); do printf '{"namespace":"default","type":"Greeter","key":{"string_key":"batch-%d"}},' "$i"; done)
refs="[${refs%,}]"
# Place the hot key and the batch once, so that the measured calls locate.
"$ghz" --insecure "${proto[@]}" --call orbit.v1.AddressableService.LocateOrPlace -n 1 -d "{\"reference\":$ref}" "127.0.0.1:$port" >/dev/null
"$ghz" --insecure "${proto[@]}" --call orbit.v1.AddressableService.LocateOrPlaceBatch -n 1 -d "{\"references\":$refs}" "127.0.0.1:$port" >/dev/null
server_ticks() { # CPU time (user + system, clock ticks) the server has used
  awk '{print $14 + $15}' "/proc/${pids[0]}/stat"
}
hz=$(getconf CLK_TCK)
run() { # name, ghz arguments...
  local name=$1; shift
  local before after
  before=$(server_ticks)
  local TIMEFORMAT='%U %S' # bash's time: ghz's own user and system CPU seconds
  { time "$ghz" "${common[@]}" "$@" "127.0.0.1:$port" > "$work/$name.json"; } 2> "$work/$name.time"
  after=$(server_ticks)
  local rps errs calls
  rps=$(jq '.rps' "$work/$name.json")
  calls=$(jq '.count' "$work/$name.json")
  errs=$(jq '[.statusCodeDistribution | to_entries[] | select(.key != "OK") | .value] | add // 0' "$work/$name.json")
  echo "$name $rps $errs $(awk -v t="$((after - before))" -v hz="$hz" -v n="$calls" 'BEGIN{printf "%.1f", t / hz * 1e6 / n}') $(awk -v n="$calls" '{printf "%.1f", ($1 + $2) * 1e6 / n}' "$work/$name.time")"
}
results=()
results+=("$(run health -n "$(count 160000)" --call grpc.health.v1.Health.Check)")
results+=("$(run place -n "$(count 80000)" "${proto[@]}" --call orbit.v1.AddressableService.LocateOrPlace \
  -d '{"reference":{"namespace":"default","type":"Greeter","key":{"string_key":"new-{{.RequestNumber}}-{{.WorkerID}}"}}}')")
results+=("$(run locate -n "$(count 120000)" "${proto[@]}" --call orbit.v1.AddressableService.LocateOrPlace -d "{\"reference\":$ref}")")
results+=("$(run batch100 -n "$(count 8000)" "${proto[@]}" --call orbit.v1.AddressableService.LocateOrPlaceBatch -d "{\"references\":$refs}")")
health=$(echo "${results[0]}" | awk '{print $2}')
cores=$(nproc)
printf '%-10s %12s %12s %10s %7s %15s %12s %14s\n' case calls/s refs/s vs-health errors server-µs/call ghz-µs/call cpu-bound/s
for r in "${results[@]}"; do
  set -- $r
  refs_s=$2
  [ "$1" = batch100 ] && refs_s=$(awk -v x="$2" 'BEGIN{print x*100}')
  printf '%-10s %12.0f %12.0f %10.2f %7s %15s %12s %14.0f\n' "$1" "$2" "$refs_s" "$(awk -v x="$2" -v h="$health" 'BEGIN{print x/h}')" "$3" "$4" "$5" \
    "$(awk -v c="$cores" -v s="$4" -v g="$5" 'BEGIN{print c * 1e6 / (s + g)}')"
done
if ! kill -0 "${pids[1]}" 2>/dev/null; then
  echo "ghz-compare: the fake nodes stopped early:" >&2; cat "$work/hold.log" >&2; exit 1
fi
