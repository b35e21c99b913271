#!/usr/bin/env bash
# Benchmark steward against supervisord and PM2; writes docs/benchmarks.md.
#
#   bench/run.sh [--quick] [--only steward,supervisord,pm2] [--skip-install] [--skip-build]
#                [--workloads crash,kill,notify,many,large,reload,logs,fanout,acl,endpoint]
#                [--out FILE]
#
# Installs what it needs under bench/.work (supervisor in a venv, pm2 in a local npm
# prefix, hyperfine and haproxy via apt when missing), compiles the probes, builds steward
# (cargo build --release -p steward), then runs bench/bench.py with a fresh scratch
# directory in /tmp. On exit, whatever way it ends, every process the run started is
# killed and the scratch directory removed (BENCH_KEEP=1 keeps it).
set -euo pipefail

# All in one function: bash parses it whole before running it, so editing this file
# while a run is going cannot change what that run does.
main() {

    HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    ROOT=$(dirname "$HERE")
    WORK=$HERE/.work
    CMDLINE="bench/run.sh${*:+ $*}"

    ONLY="" SKIP_INSTALL=0 SKIP_BUILD=0
    args=("$@")
    for ((i = 0; i < ${#args[@]}; i++)); do
        case "${args[$i]}" in
            --only) ONLY="${args[$((i + 1))]:-}" ;;
            --only=*) ONLY="${args[$i]#--only=}" ;;
            --skip-install) SKIP_INSTALL=1 ;;
            --skip-build) SKIP_BUILD=1 ;;
            -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        esac
    done
    ONLY=$(tr 'A-Z' 'a-z' <<<"$ONLY")
    want() { [[ -z "$ONLY" || ",$ONLY," == *",$1,"* ]]; }

    say() { printf '[run.sh] %s\n' "$*" >&2; }
    mkdir -p "$WORK/bin"

    # --- installs (idempotent) ---------------------------------------------------------------
    if [[ $SKIP_INSTALL == 0 ]]; then
        # A failed install is not fatal: bench.py reports that tool as not installed.
        if want supervisord && [[ ! -x $WORK/venv/bin/supervisord ]]; then
            say "installing supervisor into bench/.work/venv"
            { rm -rf "$WORK/venv" && python3 -m venv "$WORK/venv" \
                && "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check supervisor >&2; } \
                || { say "supervisor install failed; supervisord will be skipped"; rm -rf "$WORK/venv"; }
        fi
        if want pm2 && [[ ! -x $WORK/npm/node_modules/.bin/pm2 ]]; then
            say "installing pm2 into bench/.work/npm"
            { mkdir -p "$WORK/npm" && npm install --prefix "$WORK/npm" --no-audit --no-fund --loglevel=error pm2 >&2; } \
                || say "pm2 install failed; PM2 will be skipped"
        fi
        if ! command -v hyperfine >/dev/null 2>&1; then
            if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
                say "installing hyperfine (apt)"
                export DEBIAN_FRONTEND=noninteractive
                { apt-get install -y -q hyperfine || { apt-get update -q && apt-get install -y -q hyperfine; }; } >&2 \
                    || say "hyperfine not installable; status latency will be timed in Python"
            else
                say "no hyperfine; status latency will be timed in Python"
            fi
        fi
        # HAProxy: the reference proxy of the endpoint workload (Debian's package).
        if ! command -v haproxy >/dev/null 2>&1; then
            if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
                say "installing haproxy (apt)"
                export DEBIAN_FRONTEND=noninteractive
                { apt-get install -y -q haproxy || { apt-get update -q && apt-get install -y -q haproxy; }; } >&2 \
                    || say "haproxy not installable; the endpoint workload's HAProxy column will be skipped"
            else
                say "no haproxy; the endpoint workload's HAProxy column will be skipped"
            fi
        fi
    fi

    # --- probes -----------------------------------------------------------------------------
    build_c() { # name
        local src=$HERE/$1.c out=$WORK/bin/$1
        if [[ ! -x $out || $src -nt $out ]]; then
            say "compiling $1"
            gcc -O2 -static -pthread -Wall -o "$out" "$src" 2>/dev/null \
                || { say "static link failed; linking $1 dynamically"; gcc -O2 -pthread -Wall -o "$out" "$src"; }
        fi
    }
    build_c probe
    build_c spawnfloor
    build_c restartfloor
    build_c notifyfloor
    build_c reqrate
    build_c echoback
    build_c endpointload

    # --- steward ----------------------------------------------------------------------------
    if want steward && [[ $SKIP_BUILD == 0 ]]; then
        say "cargo build --release -p steward"
        (cd "$ROOT" && cargo build --release -p steward && cargo build --release -p steward-core --example acl_cost) >&2
    fi

    # --- limits: 10,000 services need file descriptors and processes --------------------------
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    ulimit -u unlimited 2>/dev/null || ulimit -u "$(ulimit -Hu)" 2>/dev/null || true

    # --- run ----------------------------------------------------------------------------------
    SCRATCH=$(mktemp -d /tmp/steward-bench.XXXXXX)
    cleanup() {
        local rc=$?
        trap - EXIT INT TERM HUP
        # bench.py cleans up after itself; this catches whatever a crash or a signal left.
        python3 "$HERE/bench.py" --reap --scratch "$SCRATCH" || rc=1
        if [[ ${BENCH_KEEP:-0} == 1 ]]; then
            say "scratch kept: $SCRATCH"
        else
            rm -rf "$SCRATCH"
        fi
        exit "$rc"
    }
    PY=""
    on_signal() { # rc
        # Let bench.py stop what it started (it reaps on SIGTERM), bounded; cleanup() follows.
        if [[ -n $PY ]] && kill -0 "$PY" 2>/dev/null; then
            kill -TERM "$PY" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$PY" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$PY" 2>/dev/null || true
        fi
        exit "$1"
    }
    trap cleanup EXIT
    trap 'on_signal 130' INT
    trap 'on_signal 143' TERM
    trap 'on_signal 129' HUP

    say "scratch: $SCRATCH"
    # In the background + wait, so a signal to this script is handled at once.
    BENCH_SCRATCH=$SCRATCH BENCH_COMMAND="$CMDLINE" CI="${CI:-true}" \
        python3 "$HERE/bench.py" --scratch "$SCRATCH" "$@" </dev/null &
    PY=$!
    wait "$PY"
}

main "$@"
exit
