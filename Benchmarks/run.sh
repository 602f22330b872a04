#!/usr/bin/env bash
# SwiftRPC benchmarks: every figure next to its baseline, measured in this one run.
#
#   Benchmarks/run.sh [--quick] [--protocols]     (--protocols: the inline and protocol sections only)
#
# Needs: wrk, redis-server, redis-benchmark (apt-get install wrk redis-server), and for the
# Python peers a venv: python3 -m venv .venv-peers && .venv-peers/bin/pip install tornado rq==2.12.0 redis
# Everything listens on 127.0.0.1 only; every load is bounded in time and count.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PEERS="$ROOT/../shared/peers"
PY="$ROOT/.venv-peers/bin/python"
DURATION=10s; RUNS=3; DRAIN_JOBS=50000
STATIC_SCRATCH=${STATIC_SCRATCH:-$ROOT/.build-static}   # the deployed build's (first build: several minutes)
ONLY_PROTOCOLS=0
for argument in "$@"; do
    case "$argument" in
        --quick) DURATION=4s; RUNS=1; DRAIN_JOBS=20000 ;;
        --protocols) ONLY_PROTOCOLS=1 ;;
        *) echo "usage: $0 [--quick] [--protocols]" >&2; exit 64 ;;
    esac
done

TMP=$(mktemp -d /tmp/swiftrpc-bench.XXXXXX)
PIDS=()
cleanup() { for ((i=${#PIDS[@]}-1; i>=0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; sleep 0.2; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
start_redis() {  # start_redis PORT DIR
    mkdir -p "$2"; redis-server --port "$1" --bind 127.0.0.1 --dir "$2" --save '' --appendonly no --daemonize no --logfile "$2/redis.log" &
    PIDS+=($!); for _ in $(seq 1 50); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
}
median_rps() { awk -F'\t' '$2=="median"{print $3}'; }
# show: prints what a command printed and keeps it in $TMP/last (never reopens this script's stdout).
show() { "$@" > "$TMP/last" 2>&1; cat "$TMP/last"; }
ratio() { python3 -c "print(f'{float($1)/float($2):.2f}')"; }
# cpu_ticks PATTERN: user and system CPU time (clock ticks) of every process whose command line matches.
cpu_ticks() {
    local user=0 system=0 pid
    for pid in $(pgrep -f "$1"); do
        read -r u s < <(awk '{print $14, $15}' "/proc/$pid/stat" 2>/dev/null || echo 0 0)
        user=$((user + u)); system=$((system + s))
    done
    echo "$user $system"
}
# tcp_load NAME PATTERN PORT CONNECTIONS DEPTH: TCPLoad's median req/s of $RUNS runs into NAME, after one
# unmeasured run (a fresh Python server answers its first run markedly slower, so both servers get one);
# the server's CPU µs per request into NAME_CPU and, of that, its kernel time into NAME_SYS.
tcp_load() {
    "$BIN/TCPLoad" "$3" "$4" "$5" 2 > /dev/null
    local before after rates=() all=0 run
    read -r -a before < <(cpu_ticks "$2")
    for run in $(seq 1 "$RUNS"); do
        "$BIN/TCPLoad" "$3" "$4" "$5" "$TCPSECS" > "$TMP/last"
        rates+=("$(awk -F'\t' '{print $4}' "$TMP/last" | head -1)")
        all=$((all + $(grep -o 'all_answers=[0-9]*' "$TMP/last" | cut -d= -f2)))
    done
    read -r -a after < <(cpu_ticks "$2")
    local median cpu kernel tick_us
    median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    tick_us=$(python3 -c "print(1e6/$(getconf CLK_TCK)/max($all,1))")
    cpu=$(python3 -c "print(f'{(${after[0]}-${before[0]}+${after[1]}-${before[1]})*$tick_us:.1f}')")
    kernel=$(python3 -c "print(f'{(${after[1]}-${before[1]})*$tick_us:.1f}')")
    printf -v "$1" '%s' "$median"; printf -v "$1_CPU" '%s' "$cpu"; printf -v "$1_SYS" '%s' "$kernel"
    echo "TCPLoad $4 connections x $5 on $1: ${rates[*]} req/s, median $median; server CPU $cpu µs/request, $kernel of it kernel"
}

echo "== building (release)"
swift build -c release --product swift-rpc >/dev/null 2>&1 || swift build -c release --product swift-rpc
for p in swift-rpc-worker MinimalNIOServer RedisPipelineBench QueueBench JSONBench TCPLoad XMLBench RouterBench; do swift build -c release --product "$p" >/dev/null; done
BIN=$(swift build -c release --show-bin-path)

REDIS_PORT=$(free_port); start_redis "$REDIS_PORT" "$TMP/redis"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
RPC_PORT=$(free_port); MIN_PORT=$(free_port); TORNADO_PORT=$(free_port); TCP_PORT=$(free_port)
"$BIN/swift-rpc" serve --port "$RPC_PORT" --tcp-port "$TCP_PORT" --redis "$REDIS_URL" --log-level warning 2>"$TMP/serve.log" & PIDS+=($!)
"$BIN/MinimalNIOServer" "$MIN_PORT" "$REDIS_PORT" >/dev/null & PIDS+=($!)
wait_http "http://127.0.0.1:$RPC_PORT/healthz"; wait_http "http://127.0.0.1:$MIN_PORT/"
HAVE_PEERS=0
if [ -x "$PY" ]; then
    "$PY" "$PEERS/tornado_rpc.py" --port "$TORNADO_PORT" >/dev/null 2>&1 & PIDS+=($!)
    wait_http "http://127.0.0.1:$TORNADO_PORT/test" && HAVE_PEERS=1
else
    echo "(no .venv-peers: Python peers skipped)"
fi

WRK=(bash "$PEERS/wrk_bench.sh" -t 2 -c 64 -d "$DURATION" --runs "$RUNS" --warmup 2s)
echo; echo "== HTTP inline path: POST /test, wrk -t2 -c64 -d$DURATION, median of $RUNS"
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/test" --label swift-rpc; RPC=$(median_rps < "$TMP/last")
show "${WRK[@]}" --url "http://127.0.0.1:$MIN_PORT/test" --label minimal-nio; MIN=$(median_rps < "$TMP/last")
echo "swift-rpc / minimal NIO handler: $(ratio "$RPC" "$MIN")   (target >= 0.85)"
if [ $HAVE_PEERS = 1 ]; then
    show "${WRK[@]}" --url "http://127.0.0.1:$TORNADO_PORT/test" --label tornado-swift_rpc; TOR=$(median_rps < "$TMP/last")
    echo "swift-rpc / swift_rpc on Tornado 6: $(ratio "$RPC" "$TOR")   (target >= 10)"
fi

echo; echo "== The front's own cost per call, no sockets (Benchmarks/RouterBench; steadier than wrk on shared cores)"
"$BIN/RouterBench" 200000

echo; echo "== Protocols: add(1, 2) over each, wrk -t2 -c64 -d$DURATION (median of $RUNS) and TCPLoad (Swift, 64 connections)"
export WRK_BODY='{"args":[1,2]}'
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/add" --label http-native-add; NATIVE=$(median_rps < "$TMP/last")
export WRK_BODY='{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}'
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/jsonrpc" --label jsonrpc-single; JSONRPC=$(median_rps < "$TMP/last")
export WRK_BODY="[$(for i in $(seq 1 10); do printf '{"jsonrpc":"2.0","method":"add","params":[1,2],"id":%d}' "$i"; [ "$i" -lt 10 ] && printf ','; done)]"
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/jsonrpc" --label jsonrpc-batch-of-10; BATCH10=$(median_rps < "$TMP/last")
export WRK_BODY="<?xml version='1.0'?><methodCall><methodName>add</methodName><params><param><value><int>1</int></value></param><param><value><int>2</int></value></param></params></methodCall>" WRK_CTYPE=text/xml
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/RPC2" --label xmlrpc; XMLRPC=$(median_rps < "$TMP/last")
unset WRK_BODY WRK_CTYPE
TCPSECS=${DURATION%s}
tcp_load TCP64 "swift-rpc serve --port $RPC_PORT" "$TCP_PORT" 64 1
tcp_load TCPPIPE "swift-rpc serve --port $RPC_PORT" "$TCP_PORT" 64 16
SEED1_PORT=$(free_port); SEED2_PORT=$(free_port)
python3 "$PEERS/seed004_server.py" --port "$SEED1_PORT" 2>"$TMP/seed1.log" & PIDS+=($!)
python3 "$PEERS/seed004_server.py" --port "$SEED2_PORT" --processes 2 2>"$TMP/seed2.log" & PIDS+=($!)
sleep 1
tcp_load SEED1 "seed004_server.py --port $SEED1_PORT" "$SEED1_PORT" 64 1
tcp_load SEED2 "seed004_server.py --port $SEED2_PORT" "$SEED2_PORT" 64 1
tcp_load SEED2PIPE "seed004_server.py --port $SEED2_PORT" "$SEED2_PORT" 64 16
pkill -f "seed004_server.py --port $SEED1_PORT" 2>/dev/null || true; pkill -f "seed004_server.py --port $SEED2_PORT" 2>/dev/null || true
printf 'protocol\treq/s\tcalls/s\tratio to HTTP native\ttarget\n'
printf 'HTTP native POST /add\t%s\t%s\t1.00\t\n' "$NATIVE" "$NATIVE"
printf 'JSON-RPC single\t%s\t%s\t%s\t>= 0.9\n' "$JSONRPC" "$JSONRPC" "$(ratio "$JSONRPC" "$NATIVE")"
printf 'JSON-RPC batch of 10\t%s\t%s\t%s (calls)\t\n' "$BATCH10" "$(python3 -c "print(int(float($BATCH10)*10))")" "$(ratio "$(python3 -c "print(float($BATCH10)*10)")" "$NATIVE")"
printf 'XML-RPC /RPC2\t%s\t%s\t%s\t\n' "$XMLRPC" "$XMLRPC" "$(ratio "$XMLRPC" "$NATIVE")"
printf 'TCP, 64 connections\t%s\t%s\t%s\t>= 1\t(server CPU %s µs/request, %s of it kernel)\n' "$TCP64" "$TCP64" "$(ratio "$TCP64" "$NATIVE")" "$TCP64_CPU" "$TCP64_SYS"
printf 'TCP, 64 connections x 16 pipelined\t%s\t%s\t%s\t>= 2\t(server CPU %s µs/request, %s of it kernel)\n' "$TCPPIPE" "$TCPPIPE" "$(ratio "$TCPPIPE" "$NATIVE")" "$TCPPIPE_CPU" "$TCPPIPE_SYS"
printf 'seed 004 server, 1 process, 64 connections\t%s\t%s\t%s\t\t(server CPU %s µs/request, %s of it kernel)\n' "$SEED1" "$SEED1" "$(ratio "$SEED1" "$NATIVE")" "$SEED1_CPU" "$SEED1_SYS"
printf 'seed 004 server, 2 processes, 64 connections\t%s\t%s\t%s\t\t(server CPU %s µs/request, %s of it kernel)\n' "$SEED2" "$SEED2" "$(ratio "$SEED2" "$NATIVE")" "$SEED2_CPU" "$SEED2_SYS"
printf 'seed 004 server, 2 processes, 64 x 16 pipelined\t%s\t%s\t%s\t\t(server CPU %s µs/request, %s of it kernel)\n' "$SEED2PIPE" "$SEED2PIPE" "$(ratio "$SEED2PIPE" "$NATIVE")" "$SEED2PIPE_CPU" "$SEED2PIPE_SYS"
echo "TCP / seed 004 with 2 processes, same load: $(ratio "$TCP64" "$SEED2") (64 connections), $(ratio "$TCPPIPE" "$SEED2PIPE") (pipelined)   (target >= 3)"
echo "server CPU per request, seed 004 (2 processes) / swift-rpc TCP: $(ratio "$SEED2_CPU" "$TCP64_CPU") (64 connections), $(ratio "$SEED2PIPE_CPU" "$TCPPIPE_CPU") (pipelined)"
echo; echo "== XML-RPC parser: SwiftRPC's own vs FoundationXML's XMLParser (Benchmarks/XMLBench)"
"$BIN/XMLBench" 20000
[ $ONLY_PROTOCOLS = 1 ] && exit 0

echo; echo "== JSON: one wide object (80,000 keys, ~1.3 MB) vs an array of the same values"
"$BIN/JSONBench" 80000

echo; echo "== Redis client: LPUSH through RedisClient vs redis-benchmark (median of $RUNS each)"
for run in $(seq 1 "$RUNS"); do "$BIN/RedisPipelineBench" "$REDIS_URL" 200000; done | tee "$TMP/client.tsv"
# client_rate PATTERN: the median over the runs of the mode whose name matches.
client_rate() { awk -F'\t' -v p="$1" 'index($2, p) == 1 {print $3}' "$TMP/client.tsv" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
bash "$PEERS/redis_baseline.sh" --port "$REDIS_PORT" --tests lpush --runs "$RUNS" -c 1 -n 50000 | tee "$TMP/rb1.tsv"
bash "$PEERS/redis_baseline.sh" --port "$REDIS_PORT" --tests lpush --runs "$RUNS" -c 50 -n 200000 | tee "$TMP/rb50.tsv"
RB1=$(awk -F'\t' '$1=="lpush" && $2==1{print $NF}' "$TMP/rb1.tsv"); RB16=$(awk -F'\t' '$1=="lpush" && $2==16{print $NF}' "$TMP/rb1.tsv")
RB50=$(awk -F'\t' '$1=="lpush" && $2==1{print $NF}' "$TMP/rb50.tsv")
UNPIPE=$(client_rate "unpipelined"); LOOP1=$(client_rate "event-loop API, unpipelined")
BATCH=$(client_rate "explicit batches"); LOOP16=$(client_rate "event-loop API, explicit batches")
PIPE=$(client_rate "pipelined by concurrency (64")
echo "one caller's round trip / redis-benchmark -P 1 -c 1's: async $(ratio "$RB1" "$UNPIPE")x, event-loop API $(ratio "$RB1" "$LOOP1")x   (target <= 2)"
echo "explicit batches of 16 / redis-benchmark -P 16 -c 1: async $(ratio "$BATCH" "$RB16"), event-loop API $(ratio "$LOOP16" "$RB16")   (target >= 0.5)"
echo "64 callers on one connection / redis-benchmark -P 1 -c 50: $(ratio "$PIPE" "$RB50")"
redis-cli -p "$REDIS_PORT" flushall >/dev/null

echo; echo "== Enqueue over HTTP: POST /test_mq vs inline POST /add (wrk -c64, no worker running)"
export WRK_BODY='{"args":[1,2]}'
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/test_mq" --label enqueue-test_mq; ENQ=$(median_rps < "$TMP/last")
show "${WRK[@]}" --url "http://127.0.0.1:$RPC_PORT/add" --label inline-add; ADD=$(median_rps < "$TMP/last")
echo "enqueue / inline add: $(ratio "$ENQ" "$ADD")   (target >= 0.7)"
# The same ratio for the least any server does: MinimalNIOServer answering a constant, storing
# each request with an LPUSH of its own, and storing a tick's requests with one shared LPUSH.
show "${WRK[@]}" --url "http://127.0.0.1:$MIN_PORT/test" --label minimal-constant; MINC=$(median_rps < "$TMP/last")
show "${WRK[@]}" --url "http://127.0.0.1:$MIN_PORT/lpush" --label minimal-lpush-per-request; MINL=$(median_rps < "$TMP/last")
show "${WRK[@]}" --url "http://127.0.0.1:$MIN_PORT/lpush-tick" --label minimal-lpush-per-tick; MINT=$(median_rps < "$TMP/last")
echo "minimal NIO, an LPUSH per request / its constant answer: $(ratio "$MINL" "$MINC"); an LPUSH per event-loop tick: $(ratio "$MINT" "$MINC")"
# cpu_per_request LABEL URL FRONT-PATTERN: one more 5 s wrk run; CPU µs per request of the server and of Redis.
cpu_per_request() {
    local front redis requests
    read -r -a front < <(cpu_ticks "$3"); read -r -a redis < <(cpu_ticks "redis-server 127.0.0.1:$REDIS_PORT")
    requests=$(wrk -t2 -c64 -d5s -s "$PEERS/post.lua" "$2" | awk '/requests in/{print $1}')
    read -r -a front_after < <(cpu_ticks "$3"); read -r -a redis_after < <(cpu_ticks "redis-server 127.0.0.1:$REDIS_PORT")
    python3 -c "t=1e6/$(getconf CLK_TCK)/$requests; print(f'$1: server {($((front_after[0] + front_after[1] - front[0] - front[1])))*t:.1f} µs CPU per request ({($((front_after[1] - front[1])))*t:.1f} kernel), Redis {($((redis_after[0] + redis_after[1] - redis[0] - redis[1])))*t:.1f} µs')"
}
cpu_per_request "swift-rpc enqueue POST /test_mq" "http://127.0.0.1:$RPC_PORT/test_mq" "swift-rpc serve --port $RPC_PORT"
cpu_per_request "swift-rpc inline POST /add" "http://127.0.0.1:$RPC_PORT/add" "swift-rpc serve --port $RPC_PORT"
cpu_per_request "minimal NIO, LPUSH per request" "http://127.0.0.1:$MIN_PORT/lpush" "MinimalNIOServer $MIN_PORT"
cpu_per_request "minimal NIO, constant" "http://127.0.0.1:$MIN_PORT/test" "MinimalNIOServer $MIN_PORT"
unset WRK_BODY
redis-cli -p "$REDIS_PORT" flushall >/dev/null

# drain WORKERS [WORKER-ARGS...]: jobs/s of WORKERS workers emptying $DRAIN_JOBS queued test_mq
# jobs, median of $RUNS; checks that every job finished.
drain() {
    local workers=$1 rates=() run start end finished pids ticks_before ticks_after busy=0 total=0; shift
    for run in $(seq 1 "$RUNS"); do
        redis-cli -p "$REDIS_PORT" flushall >/dev/null
        "$BIN/QueueBench" fill "$REDIS_URL" "$DRAIN_JOBS" >/dev/null
        read -r -a ticks_before < <(machine_ticks)
        start=$(date +%s.%N); pids=()
        for _ in $(seq 1 "$workers"); do "$BIN/swift-rpc-worker" --redis "$REDIS_URL" --concurrency 64 --burst "$@" 2>>"$TMP/drain.log" & pids+=($!); done
        wait "${pids[@]}"
        end=$(date +%s.%N)
        read -r -a ticks_after < <(machine_ticks)
        busy=$((busy + ticks_after[0] - ticks_before[0])); total=$((total + ticks_after[1] - ticks_before[1]))
        finished=$(redis-cli -p "$REDIS_PORT" eval "local n=0 for _,k in ipairs(redis.call('keys','swiftrpc:job:*')) do if redis.call('hget',k,'status')=='finished' then n=n+1 end end return n" 0)
        [ "$finished" = "$DRAIN_JOBS" ] || { echo "drain: only $finished of $DRAIN_JOBS jobs finished" >&2; exit 1; }
        rates+=("$(python3 -c "print(int($DRAIN_JOBS/($end-$start)))")")
    done
    DRAINED=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
    DRAIN_BUSY=$(python3 -c "print(f'{$busy/$total:.2f}')")
    echo "$workers worker(s) $*: ${rates[*]} jobs/s, median $DRAINED; the machine's $(nproc) cores were $(python3 -c "print(round($DRAIN_BUSY*100))")% busy while workers ran"
}
# machine_ticks: busy and total CPU ticks of the whole machine, all cores (/proc/stat).
machine_ticks() { awk '/^cpu /{idle=$5+$6; total=0; for(i=2;i<=NF;i++) total+=$i; print total-idle, total}' /proc/stat; }
echo; echo "== Drain: $DRAIN_JOBS queued test_mq jobs, swift-rpc-worker --concurrency 64 --burst, median of $RUNS"
drain 1 --log-level warning; DRAIN=$DRAINED; BUSY1=$DRAIN_BUSY
drain 2 --log-level warning; DRAIN2=$DRAINED
: > "$TMP/drain.log"; drain 1; DRAIN_INFO=$DRAINED
echo "one worker / redis-benchmark LPUSH -P 1 -c 50: $(ratio "$DRAIN" "$RB50")   (target >= 0.3)"
echo "two workers / one: $(ratio "$DRAIN2" "$DRAIN")   (target >= 1.6; with one worker the machine was already $(python3 -c "print(round($BUSY1*100))")% busy, so two can add at most $(python3 -c "print(f'{1/$BUSY1:.2f}')")x)"
echo "one worker at the default log level (info, $(( $(wc -l < "$TMP/drain.log") / RUNS )) lines per drain) / at warning: $(ratio "$DRAIN_INFO" "$DRAIN")"
redis-cli -p "$REDIS_PORT" flushall >/dev/null
if [ $HAVE_PEERS = 1 ]; then
    RQ_PORT=$(free_port); start_redis "$RQ_PORT" "$TMP/rq-redis"
    (cd "$TMP" && show "$PY" "$PEERS/rq_bench.py" --url "redis://127.0.0.1:$RQ_PORT/0" --worker-logfile "$TMP/rq.log" drain --worker simple --n 3000 --runs 1 --worker-log quiet)
    RQ=$(grep -oE '= [0-9,]+ jobs/s' "$TMP/last" | head -1 | tr -d ',= a-z/')
    [ -n "$RQ" ] && echo "drain swift-rpc / RQ SimpleWorker (3000 jobs): $(ratio "$DRAIN" "$RQ")   (target >= 50)"
fi

echo; echo "== Latency: 1000 sequential POST /test_mq?wait=5, one idle worker, median of $RUNS"
"$BIN/swift-rpc-worker" --redis "$REDIS_URL" --concurrency 8 --log-level warning & PIDS+=($!)
sleep 1
for run in $(seq 1 "$RUNS"); do "$BIN/QueueBench" latency "$RPC_PORT" 1000; done | tee "$TMP/latency.tsv"
P50=$(grep -o 'p50_ms=[0-9.]*' "$TMP/latency.tsv" | cut -d= -f2 | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
echo "?wait enqueue -> result p50: $P50 ms   (target <= 0.6)"

echo; echo "== Front memory, as deployed (scripts/build-release, scratch $STATIC_SCRATCH)"
"$ROOT/scripts/build-release" --scratch-path "$STATIC_SCRATCH" "$TMP/deployed" >/dev/null 2>&1
MEM_PORT=$(free_port)
SWIFTRPC_MAX_CONNECTIONS=20000 "$TMP/deployed/swift-rpc" serve \
    --port "$MEM_PORT" --redis "$REDIS_URL" --log-level warning 2>"$TMP/mem.log" & MEM_PID=$!; PIDS+=($MEM_PID)
wait_http "http://127.0.0.1:$MEM_PORT/healthz"; sleep 1
read -r HELD IDLE_KB HOLDING_KB < <(python3 "$ROOT/Benchmarks/hold_connections.py" "$MEM_PORT" "$MEM_PID" 10000)
echo "front RSS idle: $((IDLE_KB / 1024)) MiB ($IDLE_KB kB)   (target <= 30 MB)"
echo "front RSS holding $HELD idle keep-alive connections: $((HOLDING_KB / 1024)) MiB ($(( (HOLDING_KB - IDLE_KB) * 1024 / HELD )) B per connection)   (target <= 150 MB)"

echo; echo "== Allocations per HTTP request, whole front (Benchmarks/malloc_count.c preloaded: malloc and realloc calls of every thread)"
cc -shared -fPIC -O2 -o "$TMP/malloc_count.so" "$ROOT/Benchmarks/malloc_count.c" -ldl
# mallocs_per_request PATH: (mallocs of a front that answered wrk for 3 s - of one that answered one call) / requests.
mallocs_per_request() {
    local load port pid requests=0 counts=()
    for load in none wrk; do
        port=$(free_port)
        # Database 1: the ?wait section's worker (still running) takes jobs from database 0.
        LD_PRELOAD="$TMP/malloc_count.so" "$BIN/swift-rpc" serve --port "$port" --redis "${REDIS_URL%/0}/1" --log-level warning 2>"$TMP/mallocs.log" & pid=$!
        wait_http "http://127.0.0.1:$port/healthz"
        curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"args":[1,2]}' "http://127.0.0.1:$port/$1"
        [ $load = wrk ] && requests=$(WRK_BODY='{"args":[1,2]}' wrk -t1 -c8 -d3s -s "$PEERS/post.lua" "http://127.0.0.1:$port/$1" | awk '/requests in/{print $1}')
        kill "$pid"; wait "$pid" 2>/dev/null || true
        counts+=("$(grep -o 'mallocs=[0-9]*' "$TMP/mallocs.log" | cut -d= -f2)")
    done
    python3 -c "print(f'{($((counts[1] - counts[0])))/$requests:.1f}')"
}
echo "inline POST /add: $(mallocs_per_request add) mallocs per request"
echo "enqueue POST /test_mq: $(mallocs_per_request test_mq) mallocs per request"
