#!/usr/bin/env bash
# Aggregate generation throughput of `dsx serve` with 1, 4 and 16 concurrent clients.
# Usage: bench/serve_throughput.sh MODEL_DIR [THREADS] [MAX_TOKENS]
# MODEL_DIR needs tokenizer.json (for a `dsx synth` model, copy one in, e.g. DeepSeek-V3's from
# tests/data/tokenizer-deepseek-v3). Loopback only; the server is stopped at the end.
set -euo pipefail
model=$1
threads=${2:-2}
max_tokens=${3:-64}
dsx=${DSX:-./build/dsx}
port=$((20000 + RANDOM % 20000))
name=$(basename "$model")
$dsx serve -m "$model" --port "$port" --parallel 16 --ctx-size 512 -t "$threads" >/tmp/dsx-serve-bench.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
  sleep 0.1
done

request() {  # one completion with a distinct prompt; prints completion_tokens
  curl -sf "http://127.0.0.1:$port/v1/completions" -H 'Content-Type: application/json' \
    -d "{\"model\": \"$name\", \"prompt\": \"def function_$1(x):\", \"max_tokens\": $max_tokens, \"temperature\": 0}" |
    sed -n 's/.*"completion_tokens":\([0-9]*\).*/\1/p'
}

echo "clients  generated  seconds  aggregate tok/s"
for clients in 1 4 16; do
  start=$(date +%s.%N)
  total=0
  pids=()
  for i in $(seq 1 "$clients"); do
    request "$i" >"/tmp/dsx-serve-bench.$i" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  end=$(date +%s.%N)
  for i in $(seq 1 "$clients"); do total=$((total + $(cat "/tmp/dsx-serve-bench.$i"))); done
  awk -v c="$clients" -v t="$total" -v s="$start" -v e="$end" \
    'BEGIN { printf "%7d  %9d  %7.2f  %15.1f\n", c, t, e - s, t / (e - s) }'
done
