#!/usr/bin/env python3
"""Benchmark driver: steward vs supervisord vs PM2 on the same workloads, same run.

Normally started by bench/run.sh, which installs the peers, builds the probes and
steward, creates the scratch directory and cleans up after us. Standard library only.

    bench.py --scratch DIR [--quick] [--only steward,supervisord,pm2]
             [--workloads crash,kill,notify,many,large,reload,logs,fanout,acl,endpoint]
             [--out FILE]
    bench.py --reap --scratch DIR      # kill everything a run in DIR left behind

Every process we start (daemons, probes, PM2's God daemon) either runs an executable
copied into the scratch directory or inherits BENCH_SCRATCH=<scratch dir> in its
environment; reap() finds them by that and SIGKILLs them.
"""

import argparse
import datetime
import hashlib
import http.client
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORK = os.path.join(HERE, ".work")
TOOLS = ["steward", "supervisord", "pm2"]
# The workloads, in the order a run does them (--workloads selects some).
WORKLOADS = ["crash", "kill", "notify", "many", "large", "reload", "logs", "fanout", "acl", "endpoint"]
CLK_TCK = os.sysconf("SC_CLK_TCK")

T_START = time.monotonic()


def log(msg):
    print(f"[bench {time.monotonic() - T_START:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------
# Parameters


class Params:
    def __init__(self, quick):
        self.quick = quick
        self.crash_target = 50 if quick else 200  # restarts wanted
        self.crash_limit_s = 15 if quick else 60  # per tool
        self.kill_n = 10 if quick else 50
        self.kill_wait_s = 10  # per kill, for the successor's start line
        self.kill_limit_s = 30 if quick else 120  # whole SIGKILL workload, per tool
        self.services = 100 if quick else 1000
        self.large = 500 if quick else 10000
        self.start_limit_s = 60 if quick else 180  # N services all started
        self.large_limit_peer_s = 60 if quick else 180  # peers at the large tier
        self.large_limit_steward_s = 60 if quick else 180
        self.idle_s = 10 if quick else 30
        self.status_runs = 10 if quick else 20
        self.status_runs_large = 5
        # Notify handling cost: instances of `probe watchdog`, each pinging every period.
        self.notify_instances = 100
        self.notify_period_ms = 10
        self.notify_watchdog = "100ms"  # 10x the ping period
        self.notify_window_s = 5 if quick else 20
        self.notify_ready_limit_s = 60
        self.settle_s = 2.0
        self.floor_reps = 3
        # Reload: N services, one changed per repetition.
        self.reload_services = 100 if quick else 1000
        self.reload_reps = 3 if quick else 20
        self.reload_wait_s = 15  # per repetition, for the changed service to run again
        self.reload_limit_s = 60 if quick else 180  # all repetitions, per tool and mode
        self.reload_poll_s = 0.005  # status API polled this often
        self.reload_pause_s = 0.3  # after a repetition, before the pid check and the next
        # Logs: one service writing stdout as fast as it is read, captured to files.
        self.logs_s = 2 if quick else 10  # how long the probe writes
        self.logs_drain_limit_s = 120  # after the writer stopped, for the files to catch up
        self.logs_start_limit_s = 30
        # Event fan-out: SSE subscribers on GET /v1/events during a crash loop.
        self.fanout_subscribers = 100
        self.fanout_s = 3 if quick else 10
        self.fanout_drain_s = 60  # for every subscriber to reach the last event
        # ACL cost: status requests/s without an ACL and with a 20-entry one, alternated.
        self.acl_services = 10
        self.acl_entries = 20
        self.acl_s = 2 if quick else 5  # per measurement
        self.acl_rounds = 2 if quick else 5  # each round measures both, in turn
        # Endpoints: direct vs HAProxy vs steward's proxy, over TCP and Unix sockets.
        self.endpoint_instances = 3
        self.endpoint_port = 17000  # steward's TCP listen; HAProxy's is +1
        self.endpoint_backend_port = 17101  # the instances' own TCP ports: +0, +1, +2
        self.endpoint_concurrency = 8
        self.endpoint_s = 1 if quick else 3  # per connections/requests measurement
        self.endpoint_bulk = (256 << 20) if quick else (1 << 30)
        self.endpoint_reps = 1 if quick else 3  # each measures every setup, order alternated
        self.endpoint_ready_s = 20  # for instances and proxies to answer
        self.endpoint_limit_s = 240 if quick else 900  # all measurements together


# ----------------------------------------------------------------------------------------
# Small helpers


def pct(xs, p):
    """Percentile with linear interpolation between closest ranks (p in 0..100)."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * p / 100.0
    f = math.floor(k)
    c = min(f + 1, len(s) - 1)
    return s[f] + (s[c] - s[f]) * (k - f)


def run(argv, timeout, env=None, cwd=None, check=False):
    """Run to completion with a bound; output captured (never a TTY, stdin /dev/null)."""
    p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env, cwd=cwd, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {p.returncode}: {p.stderr.strip()[-500:]}")
    return p


def tail(path, n=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 4000))
            return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            st = f.read()
        return st[st.rindex(")") + 2] != "Z"
    except (OSError, ValueError):
        return False


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def proc_status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        pass
    return out


def rss_kib(pid):
    st = proc_status(pid)

    def kb(key):
        v = st.get(key)
        return int(v.split()[0]) if v else None

    return {"rss_kib": kb("VmRSS"), "hwm_kib": kb("VmHWM"), "threads": int(st.get("Threads", "0") or 0)}


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    rest = st[st.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # utime + stime, in clock ticks


def cpu_ns_schedstat(pid):
    """Sum of on-CPU ns over the process's current threads (/proc/PID/task/*/schedstat)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return None
    return total


def wait_until(pred, limit_s, interval=0.005):
    deadline = time.monotonic() + limit_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


class LogReader:
    """Incrementally parses a probe log: lines "start|exit <ns> <pid>"."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.rest = b""
        self.starts = []  # (ns, pid)
        self.exits = []
        self.events = []  # (ns, kind, pid) in file order

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return self
        if not data:
            return self
        self.pos += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()
        for ln in lines:
            parts = ln.split()
            if len(parts) != 3:
                continue
            kind, ns, pid = parts[0], int(parts[1]), int(parts[2])
            if kind == b"start":
                self.starts.append((ns, pid))
                self.events.append((ns, "start", pid))
            elif kind == b"exit":
                self.exits.append((ns, pid))
                self.events.append((ns, "exit", pid))
        return self


# ----------------------------------------------------------------------------------------
# Finding and killing what we started


def our_pids(scratch, exclude=()):
    """Pids whose executable lives in the scratch dir or whose environment carries our
    BENCH_SCRATCH token. Returns (daemons, probes)."""
    token = f"BENCH_SCRATCH={scratch}".encode()
    prefix = scratch.rstrip("/") + "/"
    daemons, probes = [], []
    me = os.getpid()
    skip = set(exclude) | {me}
    # Our ancestors carry the token too when bench.py started them; never kill those.
    p = me
    for _ in range(64):
        st = proc_status(p)
        pp = int(st.get("PPid", "0") or 0)
        if pp <= 1:
            break
        skip.add(pp)
        p = pp
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in skip:
            continue
        exe = exe_of(pid)
        if exe and exe.startswith(prefix):
            probes.append(pid)
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if token in env.split(b"\0"):
            daemons.append(pid)
    return daemons, probes


def probe_pids(probe_path):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and exe_of(int(name)) == probe_path:
            out.append(int(name))
    return out


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def reap(scratch, quiet=False):
    """Stop every PM2 daemon homed in scratch, then SIGKILL whatever else is ours.
    Returns the number of processes that had to be killed."""
    pm2 = os.path.join(WORK, "npm", "node_modules", ".bin", "pm2")
    if os.path.isdir(scratch):
        for d in sorted(os.listdir(scratch)):
            home = os.path.join(scratch, d)
            pidf = os.path.join(home, "pm2.pid")
            if d.startswith("pm2-") and os.path.exists(pidf) and os.path.exists(pm2):
                try:
                    god = int(open(pidf).read().strip() or 0)
                except (OSError, ValueError):
                    god = 0
                if god and pid_alive(god):
                    env = dict(os.environ, PM2_HOME=home)
                    env.pop("BENCH_SCRATCH", None)
                    try:
                        run([pm2, "kill"], timeout=60, env=env)
                    except subprocess.TimeoutExpired:
                        pass
    killed = 0
    for _ in range(50):
        daemons, probes = our_pids(scratch)
        if not daemons and not probes:
            break
        killed += len(daemons) + len(probes)
        if not quiet:
            log(f"reap: SIGKILL {len(daemons)} daemon(s)/helper(s), {len(probes)} probe(s)")
        kill_pids(daemons)  # daemons first so nothing respawns the probes
        kill_pids(probes)
        time.sleep(0.2)
    return killed


# ----------------------------------------------------------------------------------------
# The supervisors under test


class Supervisor:
    """One daemon instance running a given set of services."""

    name = "?"

    def __init__(self, ctx, tag, services):
        self.ctx = ctx
        self.dir = os.path.join(ctx.scratch, f"{self.name}-{tag}")
        os.makedirs(self.dir, exist_ok=True)
        self.services = services  # list of (name, argv)
        self.proc = None
        self.launch_ns = None

    # Subclasses: write_config(), launch(), daemon_pid(), status_argv(), status_env(),
    # count_running(), stop().

    def env(self):
        return dict(self.ctx.base_env)

    def daemon_pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        pid = self.daemon_pid()
        return bool(pid) and pid_alive(pid)

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: "
                               f"{tail(self.outfile)}")

    def status_env(self):
        return self.env()

    def _popen(self, argv):
        self.outfile = os.path.join(self.dir, "daemon.out")
        out = open(self.outfile, "ab")
        self.launch_ns = time.time_ns()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                     env=self.env(), cwd=self.dir, start_new_session=True)
        out.close()
        self.ctx.popens.append(self.proc)

    def _stop_by_signal(self, limit_s):
        """SIGTERM the foreground daemon and wait for it (and its probes) to be gone."""
        if self.proc is None:
            return None
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=limit_s)
            except subprocess.TimeoutExpired:
                log(f"{self.name}: did not exit within {limit_s}s of SIGTERM; SIGKILL")
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return time.monotonic() - t0


class Steward(Supervisor):
    name = "steward"

    def __init__(self, ctx, tag, services, restart="always", instances=1, extra=(),
                 conf_dir=None, supervisor_extra=()):
        super().__init__(ctx, tag, services)
        self.restart = restart
        self.instances = instances
        self.extra = list(extra)  # more `key = value` lines for every service
        self.supervisor_extra = list(supervisor_extra)  # more lines for [supervisor]
        self.control_extra = []  # more lines for [control]
        self.env_of = {}  # service name -> {VAR: value}, for `env = {...}`
        self.tables_of = {}  # service name -> lines of its sub-tables ([service.NAME.endpoint])
        self.backoff = 'backoff = { max = "0s" }'  # None: steward's default backoff
        # conf_dir: a directory of its own for the config file (steward watches the file's
        # directory, which must not be where its own output goes).
        cdir = os.path.join(self.dir, conf_dir) if conf_dir else self.dir
        os.makedirs(cdir, exist_ok=True)
        self.conf = os.path.join(cdir, "steward.toml")
        self.sock = os.path.join(self.dir, "steward.sock")

    def config_text(self):
        q = json.dumps  # TOML basic strings are JSON-compatible for our ASCII paths
        lines = ["[supervisor]", f"state_dir = {q(os.path.join(self.dir, 'state'))}"]
        lines += self.supervisor_extra + ["", "[control]", f"socket = {q(self.sock)}"]
        lines += self.control_extra + [""]
        for name, argv in self.services:
            lines += [f"[service.{name}]",
                      "command = [" + ", ".join(q(a) for a in argv) + "]",
                      f"instances = {self.instances}",
                      f"restart = {q(self.restart)}"] + ([self.backoff] if self.backoff else []) + \
                     ['stop_timeout = "5s"'] + self.extra
            env = self.env_of.get(name)
            if env:
                lines.append("env = { " + ", ".join(f"{k} = {q(v)}" for k, v in env.items()) + " }")
            lines.append("")
            if name in self.tables_of:
                lines += self.tables_of[name] + [""]
        return "\n".join(lines)

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())

    def launch(self):
        self._popen([self.ctx.steward_bin, "up", "-c", self.conf])

    def status_argv(self):
        return [self.ctx.steward_bin, "status", "--json", "--socket", self.sock]

    def count_running(self):
        p = run(self.status_argv(), timeout=60, env=self.env())
        if p.returncode != 0:
            return None
        doc = json.loads(p.stdout)
        return sum(1 for s in doc for i in s.get("instances", []) if i.get("state") == "running")

    def stop(self):
        return self._stop_by_signal(60 + len(self.services) / 100)


class Supervisord(Supervisor):
    name = "supervisord"

    def __init__(self, ctx, tag, services):
        super().__init__(ctx, tag, services)
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.sock = os.path.join(self.dir, "supervisor.sock")
        self.bin = os.path.join(WORK, "venv", "bin")
        self.env_of = {}  # program name -> {VAR: value}, for `environment=`
        self.capture = {}  # program name -> stdout log file (rotation off); else NONE

    def config_text(self):
        n = len(self.services)
        hard = ctx_nofile_hard()
        minfds = min(hard, max(1024, 3 * n + 200))
        out = [
            "[unix_http_server]", f"file={self.sock}", "",
            "[supervisord]", "nodaemon=true", f"logfile={os.path.join(self.dir, 'supervisord.log')}",
            f"pidfile={os.path.join(self.dir, 'supervisord.pid')}",
            f"childlogdir={self.dir}", "loglevel=warn", f"minfds={minfds}",
            f"minprocs={max(200, n + 200)}", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            "[supervisorctl]", f"serverurl=unix://{self.sock}", "",
        ]
        for name, argv in self.services:
            out += [f"[program:{name}]", "command=" + " ".join(shlex.quote(a) for a in argv),
                    "autostart=true", "autorestart=true", "startsecs=0", "startretries=1000000",
                    "stopwaitsecs=5"]
            if name in self.capture:
                out += [f"stdout_logfile={self.capture[name]}", "stdout_logfile_maxbytes=0",
                        "stdout_logfile_backups=0", "stderr_logfile=NONE"]
            else:
                out += ["stdout_logfile=NONE", "stderr_logfile=NONE"]
            env = self.env_of.get(name)
            if env:
                out.append("environment=" + ",".join(f'{k}="{v}"' for k, v in env.items()))
            out.append("")
        return "\n".join(out)

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(self.config_text())

    def launch(self):
        self._popen([os.path.join(self.bin, "supervisord"), "-n", "-c", self.conf])

    def status_argv(self):
        return [os.path.join(self.bin, "supervisorctl"), "-c", self.conf, "status"]

    def count_running(self):
        p = run(self.status_argv(), timeout=120, env=self.env())
        if "RUNNING" not in p.stdout and p.returncode not in (0, 3):
            return None
        return sum(1 for ln in p.stdout.splitlines() if " RUNNING " in ln)

    def stop(self):
        return self._stop_by_signal(60 + len(self.services) / 20)


class PM2(Supervisor):
    name = "pm2"

    def __init__(self, ctx, tag, services):
        super().__init__(ctx, tag, services)
        self.home = os.path.join(ctx.scratch, f"pm2-{tag}")
        os.makedirs(self.home, exist_ok=True)
        self.eco = os.path.join(self.dir, "ecosystem.json")
        self.bin = os.path.join(WORK, "npm", "node_modules", ".bin", "pm2")
        self.cli = None
        self.capture = {}  # app name -> out_file; else /dev/null

    def env(self):
        return dict(self.ctx.base_env, PM2_HOME=self.home)

    def write_config(self):
        apps = []
        for name, argv in self.services:
            apps.append({
                "name": name, "script": argv[0], "args": argv[1:], "interpreter": "none",
                "exec_mode": "fork", "instances": 1, "autorestart": True, "restart_delay": 0,
                "min_uptime": 0, "max_restarts": 1000000, "kill_timeout": 5000,
                "out_file": self.capture.get(name, "/dev/null"), "error_file": "/dev/null",
                "merge_logs": True,
                "vizion": False, "pmx": False, "automation": False, "watch": False,
                "autostart": True, "cwd": self.dir,
            })
        with open(self.eco, "w") as f:
            json.dump({"apps": apps}, f)

    def launch(self):
        self.outfile = os.path.join(self.dir, "cli.out")
        out = open(self.outfile, "ab")
        self.launch_ns = time.time_ns()
        # `pm2 start` spawns the God daemon (detached, output to PM2_HOME) and returns.
        self.cli = subprocess.Popen([self.bin, "start", self.eco], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=out, env=self.env(), cwd=self.dir,
                                    start_new_session=True)
        out.close()
        self.ctx.popens.append(self.cli)

    def check_alive(self):
        if self.cli is not None and self.cli.poll() not in (None, 0):
            raise RuntimeError(f"pm2 start exited with {self.cli.returncode}: {tail(self.outfile)}")

    def wait_cli(self, limit_s):
        if self.cli is None:
            return
        try:
            self.cli.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            log("pm2: `pm2 start` still running; killing the CLI")
            self.cli.kill()
            self.cli.wait(timeout=10)

    def daemon_pid(self):
        try:
            with open(os.path.join(self.home, "pm2.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def status_argv(self):
        return [self.bin, "jlist"]

    def count_running(self):
        p = run(self.status_argv(), timeout=120, env=self.env())
        if p.returncode != 0:
            return None
        text = p.stdout
        start = text.find("[")
        doc = json.loads(text[start:]) if start >= 0 else []
        return sum(1 for a in doc if a.get("pm2_env", {}).get("status") == "online")

    def stop(self):
        god = self.daemon_pid()
        if self.cli is not None and self.cli.poll() is None:
            self.wait_cli(30)
        t0 = time.monotonic()
        try:
            run([self.bin, "kill"], timeout=120 + len(self.services) / 20, env=self.env())
        except subprocess.TimeoutExpired:
            log("pm2: `pm2 kill` timed out")
        took = time.monotonic() - t0
        if god and not wait_until(lambda: not pid_alive(god), 10, 0.05):
            kill_pids([god])
            return None
        return took


class RestartFloor(Supervisor):
    """bench/restartfloor.c: fork+exec, sigwaitinfo(SIGCHLD), repeat. One service only."""

    name = "floor"

    def write_config(self):
        assert len(self.services) == 1

    def launch(self):
        self._popen([self.ctx.restartfloor] + self.services[0][1])

    def stop(self):
        return self._stop_by_signal(10)


def ctx_nofile_hard():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


SUPERVISORS = {"steward": Steward, "supervisord": Supervisord, "pm2": PM2, "floor": RestartFloor}


# ----------------------------------------------------------------------------------------
# Context


class Ctx:
    def __init__(self, args):
        self.args = args
        self.scratch = os.path.abspath(args.scratch)
        self.params = Params(args.quick)
        self.popens = []
        self.base_env = dict(os.environ, BENCH_SCRATCH=self.scratch, NO_COLOR="1",
                             CI=os.environ.get("CI", "true"))
        self.steward_bin = os.environ.get("STEWARD_BIN") or os.path.join(ROOT, "target", "release", "steward")
        # Per-run copies, so a process's /proc/PID/exe tells us it is ours.
        bindir = os.path.join(self.scratch, "bin")
        os.makedirs(bindir, exist_ok=True)
        self.probe = os.path.join(bindir, "probe")
        self.spawnfloor = os.path.join(bindir, "spawnfloor")
        self.restartfloor = os.path.join(bindir, "restartfloor")
        self.notifyfloor = os.path.join(bindir, "notifyfloor")
        self.reqrate = os.path.join(bindir, "reqrate")
        self.echoback = os.path.join(bindir, "echoback")
        self.endpointload = os.path.join(bindir, "endpointload")
        for name in ("probe", "spawnfloor", "restartfloor", "notifyfloor", "reqrate", "echoback", "endpointload"):
            shutil.copy2(os.path.join(WORK, "bin", name), os.path.join(bindir, name))
        self.steward_cgroups = None  # what `steward up` said about cgroups, first run
        self.logs = os.path.join(self.scratch, "logs")
        os.makedirs(self.logs, exist_ok=True)

    def fresh_log(self, tag):
        path = os.path.join(self.logs, f"{tag}.log")
        if os.path.exists(path):
            os.unlink(path)
        return path

    def ensure_no_probes(self, where):
        """After a daemon stopped: every probe must be gone. Returns leftovers (killed)."""
        left = wait_until(lambda: not probe_pids(self.probe), 5, 0.05)
        if left:
            return 0
        pids = probe_pids(self.probe)
        log(f"{where}: {len(pids)} probe(s) survived the supervisor's stop; SIGKILL")
        kill_pids(pids)
        wait_until(lambda: not probe_pids(self.probe), 10, 0.05)
        return len(pids)


def tool_available(ctx, tool):
    if tool == "steward":
        if not os.access(ctx.steward_bin, os.X_OK):
            return f"binary not built ({os.path.relpath(ctx.steward_bin, ROOT)} missing)"
    elif tool == "supervisord":
        if not os.access(os.path.join(WORK, "venv", "bin", "supervisord"), os.X_OK):
            return "supervisord not installed (bench/.work/venv)"
    elif tool == "pm2":
        if not os.access(os.path.join(WORK, "npm", "node_modules", ".bin", "pm2"), os.X_OK):
            return "pm2 not installed (bench/.work/npm)"
    return None


def make(ctx, tool, tag, services, **kw):
    sup = SUPERVISORS[tool](ctx, tag, services, **kw)
    sup.write_config()
    return sup


def steward_cgroup_mode(outfile):
    """steward's start-up line about cgroups (it makes one per instance where it may)."""
    try:
        with open(outfile, errors="replace") as f:
            for line in f:
                for key in ("each instance runs in its own cgroup under", "no cgroups ("):
                    if key in line:
                        return line[line.index(key):].strip()
    except OSError:
        pass
    return None


def finish(ctx, sup, res):
    """Stop a supervisor, record how long that took and whether probes survived."""
    try:
        took = sup.stop()
    except Exception as e:  # noqa: BLE001 - keep going; reap() will clean up
        log(f"{sup.name}: stop failed: {e}")
        took = None
    res["stop_s"] = took
    res["probes_left_after_stop"] = ctx.ensure_no_probes(sup.name)
    if sup.name == "steward" and ctx.steward_cgroups is None:
        ctx.steward_cgroups = steward_cgroup_mode(sup.outfile)
    left_daemons, _ = our_pids(ctx.scratch)
    # Anything else still ours (a daemon that ignored stop) is killed here.
    if left_daemons:
        log(f"{sup.name}: {len(left_daemons)} helper process(es) left; SIGKILL")
        kill_pids(left_daemons)


# ----------------------------------------------------------------------------------------
# Workloads


def w_crash(ctx, tool):
    p = ctx.params
    logf = ctx.fresh_log(f"crash-{tool}")
    sup = make(ctx, tool, "crash", [("probe", [ctx.probe, "crash", logf])])
    res = {}
    try:
        sup.launch()
        r = LogReader(logf)
        deadline = time.monotonic() + p.crash_limit_s
        while time.monotonic() < deadline:
            r.poll()
            if len(r.exits) >= p.crash_target + 1 and len(r.starts) >= p.crash_target + 1:
                break
            sup.check_alive()
            time.sleep(0.05)
        elapsed = p.crash_limit_s - max(0.0, deadline - time.monotonic())
    finally:
        finish(ctx, sup, res)
    r.poll()
    ev = sorted(r.events)
    gaps = []
    for a, b in zip(ev, ev[1:]):
        if a[1] == "exit" and b[1] == "start" and a[2] != b[2]:
            gaps.append(b[0] - a[0])
    gaps = gaps[: p.crash_target]
    res.update({"count": len(gaps), "wall_s": round(elapsed, 2),
                "limited": len(gaps) < p.crash_target,
                "p50_ns": pct(gaps, 50), "p95_ns": pct(gaps, 95),
                "min_ns": min(gaps) if gaps else None, "max_ns": max(gaps) if gaps else None})
    return res


def w_kill(ctx, tool):
    p = ctx.params
    logf = ctx.fresh_log(f"kill-{tool}")
    sup = make(ctx, tool, "kill", [("probe", [ctx.probe, "run", logf])])
    res = {}
    gaps, misses = [], 0
    try:
        sup.launch()
        r = LogReader(logf)
        if not wait_until(lambda: r.poll().starts, 30):
            sup.check_alive()
            raise RuntimeError("probe never started")
        if tool == "pm2":
            sup.wait_cli(60)
        time.sleep(0.5)
        deadline = time.monotonic() + p.kill_limit_s
        for _ in range(p.kill_n):
            if time.monotonic() > deadline:
                break
            _, pid = r.starts[-1]
            if exe_of(pid) != ctx.probe:
                raise RuntimeError(f"pid {pid} from the log is not our probe")
            seen = len(r.starts)
            t = time.time_ns()
            os.kill(pid, signal.SIGKILL)
            got = wait_until(lambda: len(r.poll().starts) > seen, p.kill_wait_s, 0.002)
            if not got:
                misses += 1
                sup.check_alive()
                log(f"{tool}: no successor within {p.kill_wait_s}s of SIGKILL")
                break
            gaps.append(r.starts[seen][0] - t)
            time.sleep(0.05)
    finally:
        finish(ctx, sup, res)
    res.update({"count": len(gaps), "misses": misses, "p50_ns": pct(gaps, 50),
                "p95_ns": pct(gaps, 95), "max_ns": max(gaps) if gaps else None})
    return res


def status_latency(ctx, sup, runs, extra=()):
    argv = sup.status_argv() + list(extra)
    env = sup.status_env()
    # One untimed call: it must work, and it warms caches.
    first = run(argv, timeout=120, env=env)
    out = {"runs": runs, "first_rc": first.returncode, "output_bytes": len(first.stdout)}
    if first.returncode != 0 and sup.name != "supervisord":  # supervisorctl exits 3 if any is not RUNNING
        raise RuntimeError(f"`{' '.join(argv[:2])}` exited {first.returncode}: {first.stderr.strip()[-200:]}")
    hf = shutil.which("hyperfine")
    if hf:
        js = os.path.join(sup.dir, "hyperfine.json")
        cmd = " ".join(shlex.quote(a) for a in argv)
        p = run([hf, "-N", "--runs", str(runs), "--warmup", "2", "--ignore-failure",
                 "--style", "none", "--export-json", js, cmd], timeout=60 + runs * 30, env=env)
        if p.returncode == 0:
            with open(js) as f:
                times = json.load(f)["results"][0]["times"]
            out.update(method="hyperfine", times_s=times)
        else:
            log(f"hyperfine failed ({p.stderr.strip()[-200:]}); timing in Python")
            hf = None
    if not hf:
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env=env, timeout=120)
            times.append(time.perf_counter() - t0)
        out.update(method="python subprocess loop", times_s=times)
    out["p50_s"] = pct(out["times_s"], 50)
    out["p95_s"] = pct(out["times_s"], 95)
    return out


def w_many(ctx, tool, n, limit_s, full=True):
    """n services in mode run: time to all started, then RSS, idle CPU, status latency."""
    p = ctx.params
    tag = f"run{n}"
    logf = ctx.fresh_log(f"{tag}-{tool}")
    width = len(str(n - 1))
    services = [(f"s{i:0{width}d}", [ctx.probe, "run", logf]) for i in range(n)]
    sup = make(ctx, tool, tag, services)
    res = {"n": n}
    try:
        sup.launch()
        launch_ns = sup.launch_ns
        r = LogReader(logf)
        deadline = time.monotonic() + limit_s
        done_ns = None
        while time.monotonic() < deadline:
            if len(r.poll().starts) >= n:
                done_ns = time.time_ns()
                break
            sup.check_alive()
            time.sleep(0.005)
        res["started"] = len(r.starts)
        if done_ns is None:
            res["timeout_s"] = limit_s
            raise TimeoutError(f"only {len(r.starts)} of {n} started within {limit_s}s")
        last = max(ns for ns, _ in r.starts)
        res["all_running_s"] = (last - launch_ns) / 1e9
        res["first_start_s"] = (min(ns for ns, _ in r.starts) - launch_ns) / 1e9
        res["detected_s"] = (done_ns - launch_ns) / 1e9
        if tool == "pm2":
            sup.wait_cli(limit_s)
        time.sleep(p.settle_s)
        pid = sup.daemon_pid()
        if not pid or not pid_alive(pid):
            raise RuntimeError(f"{tool} daemon pid not found")
        res["daemon_pid"] = pid
        res["daemon_cmd"] = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]
        res["fds"] = fd_count(pid)
        res["startup_cpu_s"] = cpu_ticks(pid) / CLK_TCK
        res["mem_settled"] = rss_kib(pid)
        try:
            res["running_per_status"] = sup.count_running()
        except Exception as e:  # noqa: BLE001
            res["running_per_status_error"] = str(e)[:300]
        if full:
            time.sleep(1.0)
            t0, c0, s0 = time.monotonic(), cpu_ticks(pid), cpu_ns_schedstat(pid)
            time.sleep(p.idle_s)
            t1, c1, s1 = time.monotonic(), cpu_ticks(pid), cpu_ns_schedstat(pid)
            wall = t1 - t0
            res["idle"] = {"wall_s": wall, "ticks": c1 - c0,
                           "cpu_pct": (c1 - c0) / CLK_TCK / wall * 100,
                           "sched_pct": ((s1 - s0) / 1e9 / wall * 100) if s0 is not None and s1 is not None else None}
            r.poll()
            res["restarts_during_idle"] = len(r.starts) - res["started"]
        res["mem"] = rss_kib(pid)
        try:
            res["status"] = status_latency(ctx, sup, p.status_runs if full else p.status_runs_large)
            if tool == "steward":
                # What scripts that poll call: no resource usage, so no /proc reads.
                res["status_no_usage"] = status_latency(ctx, sup, p.status_runs if full else p.status_runs_large,
                                                        ["--no-usage"])
        except Exception as e:  # noqa: BLE001 - keep the other numbers of this workload
            log(f"{tool}: status latency failed: {e}")
            res["status"] = {"error": str(e)[:300]}
        res["mem_after_status"] = rss_kib(pid)
    finally:
        finish(ctx, sup, res)
    return res


def steward_status(sup):
    p = run(sup.status_argv(), timeout=60, env=sup.env())
    if p.returncode != 0:
        raise RuntimeError(f"steward status exited {p.returncode}: {p.stderr.strip()[-200:]}")
    return [i for s in json.loads(p.stdout) for i in s.get("instances", [])]


def notify_floor(ctx, check):
    """bench/notifyfloor.c: the same probes, read by one C epoll loop (optionally with the
    /proc/PID/stat session check steward does per datagram)."""
    p = ctx.params
    logf = ctx.fresh_log(f"notify-floor{'-check' if check else ''}")
    argv = [ctx.notifyfloor, ctx.probe, logf, str(p.notify_instances), str(p.notify_period_ms),
            str(p.notify_window_s)] + (["check"] if check else [])
    pr = run(argv, timeout=p.notify_window_s + p.notify_ready_limit_s + 60, env=ctx.base_env)
    left = ctx.ensure_no_probes("notifyfloor")
    if pr.returncode != 0:
        raise RuntimeError(f"notifyfloor failed: {pr.stderr.strip()[-300:]}")
    d = json.loads(pr.stdout)
    wall = d["wall_ns"] / 1e9
    return {"n": d["n"], "check": d["check"], "probes_left_after_stop": left,
            "max_gap_ns": d["max_gap_ns"], "rejected": d["rejected"],
            "rate_per_s": d["datagrams"] / wall if wall else None,
            "window": {"wall_s": wall, "datagrams": d["datagrams"], "sched_ns": d["cpu_ns"],
                       "sched_pct": d["cpu_ns"] / 1e9 / wall * 100 if wall else None,
                       "ns_per_datagram": d["cpu_ns"] / d["datagrams"] if d["datagrams"] else None}}


def w_notify(ctx, tool):
    """Notify handling cost: N instances of `probe watchdog` send READY=1 once, then
    WATCHDOG=1 every period; steward's watchdog is 10x the period. Measures steward's CPU
    over the window and the deadlines it missed (failures + restarts at the end)."""
    assert tool == "steward"
    p = ctx.params
    n = p.notify_instances
    logf = ctx.fresh_log(f"notify-{tool}")
    sup = make(ctx, tool, "notify", [("wd", [ctx.probe, "watchdog", logf, str(p.notify_period_ms)])],
               instances=n, extra=["notify = true", f"watchdog = {json.dumps(p.notify_watchdog)}"])
    res = {"n": n, "period_ms": p.notify_period_ms, "watchdog": p.notify_watchdog}
    r = LogReader(logf)
    try:
        sup.launch()
        if not wait_until(lambda: len(r.poll().starts) >= n, p.notify_ready_limit_s, 0.01):
            sup.check_alive()
            raise TimeoutError(f"only {len(r.starts)} of {n} probes started within {p.notify_ready_limit_s}s")
        pid = sup.daemon_pid()

        def all_ready():
            sup.check_alive()
            try:
                insts = steward_status(sup)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                return False  # the next poll asks again, within the limit
            ok = [i for i in insts if i.get("state") == "running" and (i.get("notify") or {}).get("ready")]
            return len(ok) >= n
        if not wait_until(all_ready, p.notify_ready_limit_s, 0.2):
            raise TimeoutError(f"not all {n} instances running and ready (READY=1) within {p.notify_ready_limit_s}s")
        res["ready_s"] = (time.time_ns() - sup.launch_ns) / 1e9
        time.sleep(1.0)
        starts0 = len(r.poll().starts)
        t0, c0, s0 = time.monotonic(), cpu_ticks(pid), cpu_ns_schedstat(pid)
        time.sleep(p.notify_window_s)
        t1, c1, s1 = time.monotonic(), cpu_ticks(pid), cpu_ns_schedstat(pid)
        wall = t1 - t0
        res["window"] = {"wall_s": wall, "ticks": c1 - c0, "cpu_pct": (c1 - c0) / CLK_TCK / wall * 100,
                         "sched_ns": (s1 - s0) if s0 is not None and s1 is not None else None}
        res["window"]["sched_pct"] = (res["window"]["sched_ns"] / 1e9 / wall * 100
                                      if res["window"]["sched_ns"] is not None else None)
        res["starts_during_window"] = len(r.poll().starts) - starts0
        insts = steward_status(sup)
        res["instances_seen"] = len(insts)
        res["running_ready"] = sum(1 for i in insts if i.get("state") == "running"
                                   and (i.get("notify") or {}).get("ready"))
        res["failures"] = sum(int(i.get("failures") or 0) for i in insts)
        res["restarts"] = sum(int(i.get("restarts") or 0) for i in insts)
        res["missed"] = res["failures"] + res["restarts"]
        res["rejected"] = sum(int((i.get("notify") or {}).get("rejected") or 0) for i in insts)
        res["watchdog_seconds"] = sorted({i.get("watchdog_seconds") for i in insts}, key=str)
        res["last_exits"] = sorted({(i.get("last_exit") or {}).get("counted_as") for i in insts
                                    if i.get("last_exit")})[:5]
        res["mem"] = rss_kib(pid)
        res["fds"] = fd_count(pid)
    finally:
        finish(ctx, sup, res)
    # Each probe appended "watchdog <pid> <sent> <failed> <max_gap_ns> <first_ns> <last_ns>"
    # when steward stopped it.
    sent = failed = 0
    max_gap = 0
    rate = 0.0
    lines = 0
    try:
        with open(logf, "rb") as f:
            for ln in f:
                parts = ln.split()
                if len(parts) != 7 or parts[0] != b"watchdog":
                    continue
                _pid, ps, pf, pg, first, last = (int(x) for x in parts[1:])
                lines += 1
                sent += ps
                failed += pf
                max_gap = max(max_gap, pg)
                if ps > 1 and last > first:
                    rate += (ps - 1) / ((last - first) / 1e9)
    except OSError:
        pass
    res["probe_reports"] = lines
    res["sent"] = sent
    res["send_failed"] = failed
    res["max_gap_ns"] = max_gap or None
    res["rate_per_s"] = rate if lines else None
    if lines and "window" in res:
        res["window"]["datagrams"] = rate * res["window"]["wall_s"]
        if res["window"].get("sched_ns") is not None and res["window"]["datagrams"]:
            res["window"]["ns_per_datagram"] = res["window"]["sched_ns"] / res["window"]["datagrams"]
    return res


# ----------------------------------------------------------------------------------------
# Reload: one service of N changed in the config file; the others must keep their pids.


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 on a Unix socket: steward's API, supervisord's XML-RPC."""

    def __init__(self, path, timeout=5):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def http_unix(sock, method, path, body=None, headers=None, timeout=5):
    """One request on a fresh connection (as each CLI call makes); (status, body bytes)."""
    c = UnixHTTPConnection(sock, timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def target_state(sup, name):
    """(state, pid) of one service, as `steward status NAME --json` / `supervisorctl status
    NAME` get it (GET /v1/services/NAME; XML-RPC supervisor.getProcessInfo), without
    starting a CLI per poll. (None, None) while the daemon does not know the name (an
    updated supervisord group is removed, then added again)."""
    if sup.name == "steward":
        code, body = http_unix(sup.sock, "GET", f"/v1/services/{name}")
        if code != 200:
            return None, None
        inst = json.loads(body)["instances"][0]
        return inst.get("state"), inst.get("pid")
    req = xmlrpc.client.dumps((name,), "supervisor.getProcessInfo")
    code, body = http_unix(sup.sock, "POST", "/RPC2", req, {"Content-Type": "text/xml"})
    try:
        (info,), _ = xmlrpc.client.loads(body)
    except xmlrpc.client.Fault:
        return None, None
    return info.get("statename", "").lower(), info.get("pid") or None


SUPERVISORCTL_LINE = re.compile(r"^(\S+)\s+([A-Z]+)\s+(?:pid (\d+),)?")


def pid_map(sup):
    """{service: (state, pid)} for every service, from the status command's output:
    `steward status --json`, `supervisorctl status`."""
    if sup.name == "steward":
        return {i["name"]: (i.get("state"), i.get("pid")) for i in steward_status(sup)}
    p = run(sup.status_argv(), timeout=120, env=sup.env())
    if p.returncode not in (0, 3):  # 3: some program is not RUNNING
        raise RuntimeError(f"supervisorctl status exited {p.returncode}: {p.stderr.strip()[-200:]}")
    out = {}
    for ln in p.stdout.splitlines():
        m = SUPERVISORCTL_LINE.match(ln)
        if m:
            out[m.group(1)] = (m.group(2).lower(), int(m.group(3)) if m.group(3) else None)
    return out


def write_replace(path, text):
    """As editors save: write a temporary file next to it, then rename it over the old one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def timing(xs_ns):
    xs = [x for x in xs_ns if x is not None]
    if not xs:
        return None
    return {"n": len(xs), "p50_ns": pct(xs, 50), "p95_ns": pct(xs, 95), "min_ns": min(xs), "max_ns": max(xs)}


def w_reload(ctx, tool, mode):
    """N services running; the config of one changes (an env var, alternating between two
    values). mode "file": steward sees the write itself (inotify); "command": `steward reload`
    after the write (the watcher off); "update": `supervisorctl update` after the write.
    t0 just before the write; t1 = the new process's own `start` timestamp; t2 = the first
    poll of the status API that shows it running with a new pid; ret = the command returned.
    After each repetition, the status command's pids of the other N-1 must be the same."""
    p = ctx.params
    n = p.reload_services
    key = {"file": "steward", "command": "steward_cmd", "update": "supervisord"}[mode]
    logf = ctx.fresh_log(f"reload-{key}")
    width = len(str(n - 1))
    services = [(f"s{i:0{width}d}", [ctx.probe, "run", logf]) for i in range(n)]
    target = services[n // 2][0]
    if tool == "steward":
        watch = "reload" if mode == "file" else "ignore"
        sup = make(ctx, tool, f"reload-{mode}", services, conf_dir="conf",
                   supervisor_extra=[f"on_config_change = {json.dumps(watch)}"])
    else:
        sup = make(ctx, tool, "reload", services)
    texts = {}
    for v in ("a", "b"):
        sup.env_of = {target: {"BENCH_REV": v}}
        texts[v] = sup.config_text()
    write_replace(sup.conf, texts["a"])
    res = {"n": n, "mode": mode, "target": target, "write": "temp file + rename",
           "poll_ms": p.reload_poll_s * 1000, "reps": []}
    cmd_argv = None
    if mode == "command":
        cmd_argv = [ctx.steward_bin, "reload", "--socket", sup.sock]
    elif mode == "update":
        cmd_argv = [os.path.join(sup.bin, "supervisorctl"), "-c", sup.conf, "update"]
    r = LogReader(logf)
    try:
        sup.launch()
        if not wait_until(lambda: len(r.poll().starts) >= n, p.start_limit_s, 0.01):
            sup.check_alive()
            raise TimeoutError(f"only {len(r.starts)} of {n} started within {p.start_limit_s}s")

        def all_running():
            sup.check_alive()
            try:
                m = pid_map(sup)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired):
                return None
            return m if sum(1 for s, _ in m.values() if s == "running") >= n else None
        if not wait_until(all_running, p.start_limit_s, 0.2):
            raise TimeoutError(f"not all {n} services running per the status command within {p.start_limit_s}s")
        if tool == "steward":
            c = json.loads(run([ctx.steward_bin, "config", "--json", "--socket", sup.sock],
                               timeout=30, env=sup.env(), check=True).stdout)
            res["watching"] = c.get("watching")
            if res["watching"] != (mode == "file"):
                raise RuntimeError(f"`steward config --json` says watching={c.get('watching')}")
        time.sleep(1.0)
        deadline = time.monotonic() + p.reload_limit_s
        for i in range(p.reload_reps):
            if time.monotonic() > deadline:
                res["limited"] = True
                break
            new = "b" if i % 2 == 0 else "a"
            before = pid_map(sup)
            old_state, old_pid = before.get(target, (None, None))
            if old_state != "running" or not old_pid:
                raise RuntimeError(f"rep {i}: {target} is {old_state} before the change")
            seen = len(r.poll().starts)
            rep = {"value": new}
            cmd = None
            t0 = time.time_ns()
            write_replace(sup.conf, texts[new])
            if cmd_argv:
                # Output to a file, not a pipe we would only read at the end.
                cmd_out = open(os.path.join(sup.dir, f"command-{i}.out"), "w+")
                cmd = subprocess.Popen(cmd_argv, stdin=subprocess.DEVNULL, stdout=cmd_out,
                                       stderr=subprocess.STDOUT, env=sup.env())
            t2 = new_pid = t_ret = None
            out = ""
            limit = time.monotonic() + p.reload_wait_s
            try:
                for _ in range(int(p.reload_wait_s / p.reload_poll_s) + 1):
                    if cmd is not None and t_ret is None and cmd.poll() is not None:
                        t_ret = time.time_ns()
                    if t2 is None:
                        try:
                            st, pid = target_state(sup, target)
                        except (OSError, http.client.HTTPException, ValueError, xmlrpc.client.Error):
                            st, pid = None, None
                        if st == "running" and pid and pid != old_pid:
                            t2, new_pid = time.time_ns(), pid
                    if t2 is not None and (cmd is None or t_ret is not None):
                        break
                    if time.monotonic() > limit:
                        break
                    time.sleep(p.reload_poll_s)
            finally:
                if cmd is not None:
                    if cmd.poll() is None:
                        log(f"reload/{key}: rep {i}: `{' '.join(cmd_argv[:2])}` still running after "
                            f"{p.reload_wait_s}s; killing it")
                        cmd.kill()
                    cmd.wait(timeout=30)
                    cmd_out.seek(0)
                    out = cmd_out.read()
                    cmd_out.close()
            if cmd is not None:
                rep["rc"] = cmd.returncode
                if cmd.returncode != 0:
                    rep["cmd_error"] = out.strip()[-300:]
            if t2 is None:
                rep["miss"] = f"{target} not running with a new pid within {p.reload_wait_s}s"
                log(f"reload/{key}: rep {i}: {rep['miss']}")
                res["reps"].append(rep)
                sup.check_alive()
                break
            # The new process's own timestamp.
            got = wait_until(lambda: any(pid == new_pid for _, pid in r.poll().starts[seen:]), 5, 0.005)
            t1 = next((ns for ns, pid in r.starts[seen:] if pid == new_pid), None) if got else None
            rep.update(t1_ns=None if t1 is None else t1 - t0, t2_ns=t2 - t0,
                       ret_ns=None if t_ret is None else t_ret - t0, pid=new_pid, old_pid=old_pid)
            # Anything else that restarted would show up here too.
            time.sleep(p.reload_pause_s)
            after = pid_map(sup)
            others = [s for s in before if s != target]
            rep["others"] = len(others)
            rep["others_unchanged"] = sum(1 for s in others if after.get(s) == before[s]
                                          and before[s][0] == "running")
            rep["target_after"] = after.get(target)
            rep["new_starts"] = len(r.poll().starts) - seen
            rep["new_start_pids"] = sorted({pid for _, pid in r.starts[seen:]})[:5]
            if tool == "steward":
                c = json.loads(run([ctx.steward_bin, "config", "--json", "--socket", sup.sock],
                                   timeout=30, env=sup.env(), check=True).stdout)
                last = c.get("last_reload") or {}
                restarted = [x["name"] for x in last.get("plan", []) if x.get("change") not in ("unchanged",)]
                rep["last_reload"] = {"trigger": last.get("trigger"), "outcome": last.get("outcome"),
                                      "changed": restarted[:5], "changed_count": len(restarted),
                                      "sha_ok": last.get("sha256") == reloader_sha(texts[new])}
            if cmd is not None:
                rep["output"] = out.strip().splitlines()[:6]
            res["reps"].append(rep)
            time.sleep(p.reload_pause_s)
        # The command's fixed cost: the same command with nothing changed.
        if cmd_argv:
            idle = []
            for _ in range(3):
                t = time.monotonic()
                q = run(cmd_argv, timeout=120, env=sup.env())
                idle.append(time.monotonic() - t)
                if q.returncode != 0:
                    res["idle_cmd_error"] = (q.stderr.strip() or q.stdout.strip())[-200:]
            res["idle_cmd_s"] = pct(idle, 50)
        res["mem"] = rss_kib(sup.daemon_pid())
    finally:
        finish(ctx, sup, res)
    reps = [x for x in res["reps"] if "t2_ns" in x]
    res["count"] = len(reps)
    res["misses"] = sum(1 for x in res["reps"] if "miss" in x)
    res["cmd_failed"] = sum(1 for x in res["reps"] if x.get("rc") not in (None, 0))
    res["t1"] = timing([x["t1_ns"] for x in reps])
    res["t2"] = timing([x["t2_ns"] for x in reps])
    res["ret"] = timing([x["ret_ns"] for x in reps]) if cmd_argv else None
    res["others"] = n - 1
    res["others_unchanged_min"] = min((x["others_unchanged"] for x in reps), default=None)
    res["reps_all_unchanged"] = sum(1 for x in reps if x["others_unchanged"] == n - 1)
    res["reps_one_start"] = sum(1 for x in reps if x["new_starts"] == 1)
    if tool == "steward":
        want = "file" if mode == "file" else "api"
        res["reps_report_ok"] = sum(1 for x in reps if x["last_reload"]["trigger"] == want
                                    and x["last_reload"]["outcome"] == "applied"
                                    and x["last_reload"]["changed"] == [target] and x["last_reload"]["sha_ok"])
    return res


def captured_files(sup, tool):
    """The files holding the flood service's captured stdout, for each tool."""
    if tool == "steward":
        d = os.path.join(sup.dir, "state", "logs", "flood")
        try:
            return [os.path.join(d, f) for f in os.listdir(d) if f.startswith("0.log")]
        except OSError:
            return []
    return [sup.capture["flood"]]


def bytes_in(paths):
    total = 0
    for path in paths:
        try:
            total += os.path.getsize(path)
        except OSError:
            pass
    return total


def daemon_cpu_ns(pid):
    """CPU time of the whole daemon process, all its threads (ns; ticks when no schedstat)."""
    ns = cpu_ns_schedstat(pid)
    return ns if ns is not None else cpu_ticks(pid) * 1_000_000_000 // CLK_TCK


def w_logs(ctx, tool):
    """One service writes stdout as fast as the supervisor reads it, for logs_s; the
    supervisor writes it to files. Bytes/s captured, the daemon's CPU per MB, bytes lost."""
    p = ctx.params
    logf = ctx.fresh_log(f"logs-{tool}")
    go = os.path.join(ctx.scratch, f"logs-go-{tool}")
    if os.path.exists(go):
        os.unlink(go)
    services = [("flood", [ctx.probe, "flood", logf, str(p.logs_s), go])]
    if tool == "steward":
        # Sized rotation on, large enough that no file is dropped in the window.
        sup = SUPERVISORS[tool](ctx, "logs", services, restart="never",
                                extra=['log = { max_size = "1GiB", keep = 1000 }'])
    else:
        sup = SUPERVISORS[tool](ctx, "logs", services)
        sup.capture = {"flood": os.path.join(sup.dir, "flood.out")}
    sup.write_config()
    res = {}
    files = []
    try:
        sup.launch()
        if not wait_until(lambda: "start " in (open(logf).read() if os.path.exists(logf) else ""),
                          p.logs_start_limit_s, 0.02):
            sup.check_alive()
            raise RuntimeError("the flood probe never started")
        if tool == "pm2":
            sup.wait_cli(60)
        pid = wait_until(sup.daemon_pid, 10, 0.02)
        if not pid:
            raise RuntimeError("no daemon pid")
        # Every tool starts with the disk's write-back done, not with the last one's.
        os.sync()
        time.sleep(0.5)  # let start-up work settle
        cpu0 = daemon_cpu_ns(pid)
        t0 = time.monotonic()
        open(go, "w").close()

        def flood_line():
            with open(logf) as f:
                for line in f:
                    if line.startswith("flood "):
                        return line.split()
            return None

        done = wait_until(flood_line, p.logs_s + p.logs_drain_limit_s, 0.05)
        if not done:
            sup.check_alive()
            raise RuntimeError("the flood probe never finished")
        written = int(done[2])
        writer_s = (int(done[4]) - int(done[3])) / 1e9
        # The files catch up: until they hold every byte, or stop growing for 2 s.
        last, last_change, t_done = -1, time.monotonic(), None
        deadline = time.monotonic() + p.logs_drain_limit_s
        while time.monotonic() < deadline:
            files = captured_files(sup, tool)
            n = bytes_in(files)
            now = time.monotonic()
            if n != last:
                last, last_change = n, now
            if n >= written:
                t_done = now
                break
            if now - last_change > 2.0:
                t_done = last_change
                break
            time.sleep(0.01)
        cpu1 = daemon_cpu_ns(pid)
        # The writer's own CPU (it is still alive, paused): near its whole time when it,
        # not the supervisor, sets the pace.
        writer_cpu = cpu_ns_schedstat(int(done[1]))
        captured = bytes_in(captured_files(sup, tool))
        secs = (t_done or time.monotonic()) - t0
        res.update({
            "written": written, "captured": captured, "lost": written - captured,
            "writer_s": round(writer_s, 3), "capture_s": round(secs, 3),
            "rate_bps": captured / secs if secs > 0 else None,
            "cpu_s": round((cpu1 - cpu0) / 1e9, 3),
            "cpu_ms_per_mb": (cpu1 - cpu0) / 1e6 / (captured / 1e6) if captured else None,
            "files": len(captured_files(sup, tool)),
            "writer_cpu_s": None if writer_cpu is None else round(writer_cpu / 1e9, 3),
        })
    finally:
        finish(ctx, sup, res)
        # Gigabytes of flood: gone before the next tool writes its own.
        for path in captured_files(sup, tool):
            try:
                os.unlink(path)
            except OSError:
                pass
    return res


def reloader_sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


class SseCounter:
    """One subscriber's view of GET /v1/events: ids in order, gaps and repeats counted."""
    ID = re.compile(rb"(?:^|\n)id: (\d+)\n")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.first = self.last = None
        self.count = self.gaps = self.repeats = self.bytes = 0

    def feed(self, data):
        self.bytes += len(data)
        self.buf += data
        end = self.buf.rfind(b"\n\n")
        if end < 0:
            return
        block, self.buf = self.buf[:end + 2], self.buf[end + 2:]
        for m in self.ID.finditer(block):
            i = int(m.group(1))
            if self.last is not None:
                if i <= self.last:
                    self.repeats += 1
                    continue
                if i != self.last + 1:
                    self.gaps += 1
            else:
                self.first = i
            self.last = i
            self.count += 1


def w_fanout(ctx, tool):
    """steward only: subscribers on the event stream while a service crash-loops. Every
    subscriber must get every event from its first on, in order, none twice."""
    import selectors
    p = ctx.params
    logf = ctx.fresh_log("fanout-steward")
    sup = make(ctx, tool, "fanout", [("probe", [ctx.probe, "crash", logf])])
    res = {"subscribers": p.fanout_subscribers}
    subs = []
    sel = selectors.DefaultSelector()

    def pump(limit_s, done):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and not done():
            for key, _ in sel.select(0.1):
                s = key.data
                try:
                    data = s.sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(s.sock)
                    continue
                s.feed(data)

    try:
        sup.launch()
        if not wait_until(lambda: os.path.exists(sup.sock), 30):
            sup.check_alive()
            raise RuntimeError("no API socket")
        for _ in range(p.fanout_subscribers):
            so = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            so.connect(sup.sock)
            so.sendall(b"GET /v1/events HTTP/1.0\r\nHost: steward\r\n\r\n")
            so.setblocking(False)
            s = SseCounter(so)
            subs.append(s)
            sel.register(so, selectors.EVENT_READ, s)
        pid = sup.daemon_pid()
        r = LogReader(logf)
        r.poll()
        cpu0, t0 = cpu_ticks(pid), time.monotonic()
        pump(p.fanout_s, lambda: False)
        wall = time.monotonic() - t0
        cpu = (cpu_ticks(pid) - cpu0) / os.sysconf("SC_CLK_TCK")
        r.poll()
        # End the crash loop, then wait until everyone has the last event.
        run([ctx.steward_bin, "stop", "probe", "--socket", sup.sock], timeout=60, env=sup.env())
        doc = json.loads(http_unix(sup.sock, "GET", "/v1/journal")[1])
        newest = doc["newest_id"]
        pump(p.fanout_drain_s, lambda: all(s.last is not None and s.last >= newest for s in subs))
        first_common = max(s.first or 0 for s in subs)
        ev = sorted(r.events)
        gaps = [b[0] - a[0] for a, b in zip(ev, ev[1:]) if a[1] == "exit" and b[1] == "start"]
        res.update({
            "window_s": round(wall, 2),
            "events": (newest - first_common + 1) if newest else 0,
            "events_per_s": round(sum(s.count for s in subs) / len(subs) / wall, 1) if subs else 0,
            "complete": sum(1 for s in subs if s.last == newest and not s.gaps and not s.repeats
                            and (s.first or 0) <= first_common),
            "gaps": sum(s.gaps for s in subs),
            "repeats": sum(s.repeats for s in subs),
            "min_received": min(s.count for s in subs),
            "mib_streamed": round(sum(s.bytes for s in subs) / 2**20, 1),
            "cpu_s": round(cpu, 2),
            "restarts": len(gaps),
            "restart_p50_ns": pct(gaps, 50),
        })
        if res["complete"] != len(subs):
            raise RuntimeError(f"only {res['complete']} of {len(subs)} subscribers got every event "
                               f"(gaps {res['gaps']}, repeats {res['repeats']}, newest {newest}, "
                               f"last ids {sorted(set(s.last for s in subs))[:5]})")
    finally:
        for s in subs:
            try:
                s.sock.close()
            except OSError:
                pass
        finish(ctx, sup, res)
    return res


def acl_entries(n):
    """n entries that the benchmark's caller (root) must be checked against: n-1 that match
    nobody here (by user, group, uid and gid, so every kind of principal is compared, and
    the groups must be known), then the one that lets root in."""
    kinds = ["deny user:bench-nobody-{i} read", "allow group:bench-group-{i} control",
             "deny gid:{g} all", "allow uid:{u} read"]
    out = [kinds[i % 4].format(i=i, g=3_900_000 + i, u=3_800_000 + i) for i in range(n - 1)]
    return out + ["allow uid:0 admin"]


def w_acl(ctx, tool):
    """steward only: what the ACL check costs. Status requests per second over the Unix
    socket (bench/reqrate.c, one request at a time) with no ACL (the default) and with a
    20-entry one, switched by reloads and alternated, so both see the same machine."""
    p = ctx.params
    services = [(f"a{i}", [ctx.probe, "run", ctx.fresh_log(f"acl-{i}")]) for i in range(p.acl_services)]
    sup = make(ctx, tool, "acl", services)
    res = {"entries": p.acl_entries, "services": p.acl_services, "runs": {"none": {}, "acl": {}}}

    def use(with_acl):
        sup.control_extra = ["acl = [" + ", ".join(json.dumps(e) for e in acl_entries(p.acl_entries)) + "]"] \
            if with_acl else []
        sup.write_config()
        pr = run([ctx.steward_bin, "reload", "--socket", sup.sock], timeout=60, env=sup.env())
        if pr.returncode != 0:
            raise RuntimeError(f"reload failed: {pr.stderr.strip()[-300:]}")

    def measure(mode):
        cpu0 = cpu_ns_schedstat(sup.daemon_pid())
        pr = run([ctx.reqrate, sup.sock, "/v1/services", str(p.acl_s), mode], timeout=p.acl_s + 30,
                 env=ctx.base_env)
        cpu = cpu_ns_schedstat(sup.daemon_pid()) - cpu0
        if pr.returncode != 0:
            raise RuntimeError(f"reqrate failed: {pr.stderr.strip()[-300:]}")
        d = json.loads(pr.stdout)
        d["cpu_us_per_request"] = round(cpu / 1000 / max(d["requests"], 1), 2)
        if d["errors"]:
            raise RuntimeError(f"{d['errors']} requests failed")
        return d

    try:
        sup.launch()
        if not wait_until(lambda: sup.count_running() == p.acl_services, 60, interval=0.05):
            sup.check_alive()
            raise TimeoutError("services not running")
        # ABBA order (none, acl, acl, none, ...): a drift of the machine during the run
        # weighs on both alike.
        for i in range(p.acl_rounds):
            for key in (("none", "acl") if i % 2 == 0 else ("acl", "none")):
                use(key == "acl")
                for mode in ("keepalive", "fresh"):
                    res["runs"][key].setdefault(mode, []).append(measure(mode))
        for mode in ("keepalive", "fresh"):
            med = {k: pct([r["per_s"] for r in res["runs"][k][mode]], 50) for k in ("none", "acl")}
            lat = {k: pct([r["p50_us"] for r in res["runs"][k][mode]], 50) for k in ("none", "acl")}
            cpu = {k: pct([r["cpu_us_per_request"] for r in res["runs"][k][mode]], 50) for k in ("none", "acl")}
            res[mode] = {"none_per_s": med["none"], "acl_per_s": med["acl"],
                         "none_p50_us": lat["none"], "acl_p50_us": lat["acl"],
                         "none_cpu_us": cpu["none"], "acl_cpu_us": cpu["acl"],
                         "difference_pct": round(100 * (med["none"] - med["acl"]) / med["none"], 2)}
        # The decision alone, timed in a loop: what the ACL adds to each request.
        exe = os.path.join(ROOT, "target", "release", "examples", "acl_cost")
        pr = run([exe, str(p.acl_entries)], timeout=120, env=ctx.base_env)
        if pr.returncode == 0:
            res["decision"] = json.loads(pr.stdout)
        else:
            res["decision"] = {"error": pr.stderr.strip()[-300:]}
    finally:
        finish(ctx, sup, res)
    return res


# ----------------------------------------------------------------------------------------
# Endpoints: steward's proxy against HAProxy and a direct connection


ENDPOINT_SETUPS = ["direct", "haproxy", "steward"]
ENDPOINT_METRICS = [  # key, concurrency (None: the parameter), endpointload mode
    ("conn", None, "conn"), ("req", None, "req"), ("lat", 1, "req"), ("bulk", 1, "bulk")]


def echo_once(addr, timeout=1.0):
    """One line to an echo server at addr (unix:/path or tcp:IP:PORT); True if it came back."""
    try:
        if addr.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = addr[5:]
        else:
            host, _, port = addr[4:].rpartition(":")
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            target = (host, int(port))
        with s:
            s.settimeout(timeout)
            s.connect(target)
            s.sendall(b"bench ping\n")
            got = b""
            for _ in range(16):
                chunk = s.recv(64)
                if not chunk:
                    break
                got += chunk
                if got.endswith(b"\n"):
                    break
            return got == b"bench ping\n"
    except OSError:
        return False


def port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def echoback_addresses(ctx):
    """STEWARD_LISTEN of every running echoback (ours: the scratch copy), by transport."""
    out = {"tcp": [], "unix": []}
    for name in os.listdir("/proc"):
        if not name.isdigit() or exe_of(int(name)) != ctx.echoback:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
        except OSError:
            continue
        a = env.get(b"STEWARD_LISTEN", b"").decode(errors="replace")
        if a.startswith("tcp:"):
            out["tcp"].append((a, int(name)))
        elif a.startswith("unix:"):
            out["unix"].append((a, int(name)))
    for k in out:
        # Instance order: TCP by port; Unix by path (steward names them after the instance).
        out[k].sort(key=lambda x: (int(x[0].rpartition(":")[2]) if k == "tcp" else 0, x[0]))
    return out


def haproxy_version():
    exe = shutil.which("haproxy")
    if not exe:
        return None
    try:
        p = run([exe, "-v"], timeout=10)
        first = (p.stdout or p.stderr).strip().splitlines()[0]
        return " ".join(first.split()[:3])  # "HAProxy version 2.6.12-1+deb12u4"
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "haproxy (version unknown)"


class HAProxy:
    """HAProxy in front of the same instances: mode tcp, round-robin, 2 threads, a TCP and a
    Unix frontend. Foreground (-db), config in the scratch dir, stopped at the end."""

    def __init__(self, ctx, tcp_front, unix_front, backends):
        self.ctx = ctx
        self.dir = os.path.join(ctx.scratch, "haproxy")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "haproxy.cfg")
        self.outfile = os.path.join(self.dir, "haproxy.out")
        self.tcp_front, self.unix_front = tcp_front, unix_front
        self.proc = None
        L = ["global", "    nbthread 2", "    maxconn 4000", "",
             "defaults", "    mode tcp", "    balance roundrobin", "    option splice-auto",
             "    timeout connect 5s", "    timeout client 60s", "    timeout server 60s", ""]
        host, _, port = tcp_front[4:].rpartition(":")
        L += ["frontend ft_tcp", f"    bind {host}:{port}", "    default_backend bk_tcp", "",
              "frontend ft_unix", f"    bind {unix_front[5:]}", "    default_backend bk_unix", ""]
        for kind in ("tcp", "unix"):
            L.append(f"backend bk_{kind}")
            for i, a in enumerate(backends[kind]):
                L.append(f"    server {kind}{i} {a[4:] if kind == 'tcp' else a[5:]}")
            L.append("")
        with open(self.conf, "w") as f:
            f.write("\n".join(L))

    def start(self):
        exe = shutil.which("haproxy")
        p = run([exe, "-c", "-f", self.conf], timeout=30, env=self.ctx.base_env)
        if p.returncode != 0:
            raise RuntimeError(f"haproxy -c: {(p.stdout + p.stderr).strip()[-300:]}")
        out = open(self.outfile, "ab")
        self.proc = subprocess.Popen([exe, "-db", "-f", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=out, env=self.ctx.base_env, cwd=self.dir,
                                     start_new_session=True)
        out.close()
        self.ctx.popens.append(self.proc)
        ok = wait_until(lambda: self.proc.poll() is not None or
                        (echo_once(self.tcp_front) and echo_once(self.unix_front)),
                        self.ctx.params.endpoint_ready_s, 0.05)
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {self.proc.returncode}: {tail(self.outfile, 5)}")
        if not ok:
            raise RuntimeError("haproxy's frontends did not answer")

    def pid(self):
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # haproxy: SIGTERM is the fast stop
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def w_endpoint(ctx, steward_why):
    """One run, the same instances: a client straight to one instance, through HAProxy, and
    through steward's endpoint (proxy mode), over TCP and over Unix sockets. steward_why: why
    steward's proxy is not measured (None: try it)."""
    p = ctx.params
    n = p.endpoint_instances
    front = os.path.join(ctx.scratch, "fronts")
    os.makedirs(front, exist_ok=True)
    fronts = {
        "steward": {"tcp": f"tcp:127.0.0.1:{p.endpoint_port}", "unix": f"unix:{front}/steward.sock"},
        "haproxy": {"tcp": f"tcp:127.0.0.1:{p.endpoint_port + 1}", "unix": f"unix:{front}/haproxy.sock"},
    }
    ports = [p.endpoint_port, p.endpoint_port + 1] + [p.endpoint_backend_port + i for i in range(n)]
    busy = [x for x in ports if not port_free(x)]
    if busy:
        raise RuntimeError(f"TCP port(s) {busy} in use on 127.0.0.1")
    res = {"instances": n, "concurrency": p.endpoint_concurrency, "seconds": p.endpoint_s,
           "bulk_bytes": p.endpoint_bulk, "reps": p.endpoint_reps, "fronts": fronts,
           "available": {"direct": None}, "haproxy_version": haproxy_version()}
    sup = hap = None
    own = []  # backends we started ourselves when steward could not
    try:
        # 1. steward runs the instances, each on its own address, behind its two endpoints.
        if steward_why is None:
            services = [("echo_tcp", [ctx.echoback]), ("echo_unix", [ctx.echoback])]
            sup = make(ctx, "steward", "endpoint", services, instances=n)
            sup.backoff = None  # an instance that can't start must not spin: steward's default
            common = ['mode = "proxy"', 'balance = "round-robin"']
            sup.tables_of = {
                "echo_tcp": ["[service.echo_tcp.endpoint]", f"listen = {json.dumps(fronts['steward']['tcp'])}"]
                + common + [f'backend = "tcp:127.0.0.1:{p.endpoint_backend_port}"'],
                "echo_unix": ["[service.echo_unix.endpoint]", f"listen = {json.dumps(fronts['steward']['unix'])}"]
                + common,
            }
            sup.write_config()
            sup.launch()

            def up():
                if sup.proc.poll() is not None:
                    return "exited"
                a = echoback_addresses(ctx)
                if len(a["tcp"]) == n and len(a["unix"]) == n and all(echo_once(x) for x, _ in a["tcp"] + a["unix"]) \
                        and all(echo_once(fronts["steward"][k]) for k in ("tcp", "unix")):
                    return "up"
                return None

            state = wait_until(up, p.endpoint_ready_s, 0.1)
            if state == "up":
                res["available"]["steward"] = None
            else:
                if state == "exited":
                    lines = [ln for ln in tail(sup.outfile, 30).splitlines() if ln.strip()]
                    why = next((ln for ln in lines if "endpoint" in ln), lines[-1] if lines else "")
                    why = why[why.index("error:"):] if "error:" in why else why  # not the scratch path
                    steward_why = f"`steward up` exited with {sup.proc.returncode}: {why.strip()[:160]}"
                else:
                    a = echoback_addresses(ctx)
                    steward_why = (f"endpoints did not answer within {p.endpoint_ready_s} s "
                                   f"({len(a['tcp'])} TCP and {len(a['unix'])} Unix instances had an address)")
                log(f"endpoint: steward not available: {steward_why}")
                finish(ctx, sup, {})
                sup = None
        if steward_why is not None:
            res["available"]["steward"] = steward_why
            # 1'. Without steward's proxy, the bench runs the same instances itself.
            for i in range(n):
                for kind, addr in (("tcp", f"tcp:127.0.0.1:{p.endpoint_backend_port + i}"),
                                   ("unix", f"unix:{front}/echo-{i}.sock")):
                    env = dict(ctx.base_env, STEWARD_LISTEN=addr)
                    if kind == "tcp":
                        env["PORT"] = str(p.endpoint_backend_port + i)
                    out = open(os.path.join(front, f"echo-{kind}-{i}.out"), "ab")
                    pr = subprocess.Popen([ctx.echoback], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                          env=env, start_new_session=True)
                    out.close()
                    ctx.popens.append(pr)
                    own.append(pr)
            if not wait_until(lambda: all(echo_once(x) for k in ("tcp", "unix")
                                          for x, _ in echoback_addresses(ctx)[k]) and
                              all(len(v) == n for v in echoback_addresses(ctx).values()), p.endpoint_ready_s, 0.05):
                raise RuntimeError("the echo backends did not answer")
        addrs = echoback_addresses(ctx)
        res["backends"] = {k: [a for a, _ in v] for k, v in addrs.items()}
        res["backends_by"] = "steward" if sup else "the bench"
        direct = {k: addrs[k][0][0] for k in ("tcp", "unix")}
        direct_pid = {k: addrs[k][0][1] for k in ("tcp", "unix")}

        # 2. HAProxy in front of the same instances.
        if not shutil.which("haproxy"):
            res["available"]["haproxy"] = "haproxy not installed (apt-get install haproxy failed?)"
        else:
            try:
                hap = HAProxy(ctx, fronts["haproxy"]["tcp"], fronts["haproxy"]["unix"], res["backends"])
                hap.start()
                res["available"]["haproxy"] = None
            except Exception as e:  # noqa: BLE001 - direct (and steward) are still measured
                res["available"]["haproxy"] = str(e)[:200]
                log(f"endpoint: haproxy not available: {e}")
                if hap:
                    hap.stop()
                hap = None

        target = {"direct": direct, "haproxy": fronts["haproxy"], "steward": fronts["steward"]}
        proxy_pid = {"direct": lambda k: direct_pid[k], "haproxy": lambda k: hap.pid(),
                     "steward": lambda k: sup.daemon_pid()}
        setups = [s for s in ENDPOINT_SETUPS if res["available"].get(s) is None]
        runs = {k: {s: {m: [] for m, _, _ in ENDPOINT_METRICS} for s in setups} for k in ("tcp", "unix")}
        res["runs"] = runs

        def measure(s, kind, key, conc, mode):
            argv = [ctx.endpointload, mode, target[s][kind], "-c", str(conc)]
            if mode == "bulk":
                argv += ["-n", str(p.endpoint_bulk)]
            else:
                argv += ["-t", str(p.endpoint_s)]
            pid = proxy_pid[s](kind)
            cpu0 = cpu_ns_schedstat(pid) if pid else None
            try:
                pr = run(argv, timeout=(150 if mode == "bulk" else p.endpoint_s + 60), env=ctx.base_env)
            except subprocess.TimeoutExpired:
                return {"error": "endpointload timed out"}
            cpu1 = cpu_ns_schedstat(pid) if pid else None
            try:
                d = json.loads(pr.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                return {"error": f"endpointload exited {pr.returncode}: {pr.stderr.strip()[-200:]}"}
            if cpu0 is not None and cpu1 is not None:
                d["cpu_ns"] = cpu1 - cpu0  # the proxy's (direct: the one instance's) on-CPU time
            if pr.returncode != 0 and "error" not in d:
                d["error"] = d.get("first_error") or f"exit {pr.returncode}"
            return d

        deadline = time.monotonic() + p.endpoint_limit_s
        t_begin = time.monotonic()
        for rep in range(p.endpoint_reps):
            order = setups if rep % 2 == 0 else setups[::-1]  # ABC CBA ABC: drift weighs on all alike
            for kind in ("tcp", "unix"):
                for key, conc, mode in ENDPOINT_METRICS:
                    for s in order:
                        if time.monotonic() > deadline:
                            res["limited"] = True
                            break
                        if s == "haproxy" and hap.proc.poll() is not None:
                            runs[kind][s][key].append({"error": "haproxy exited"})
                            continue
                        if s == "steward" and sup:
                            sup.check_alive()
                        d = measure(s, kind, key, conc or p.endpoint_concurrency, mode)
                        runs[kind][s][key].append(d)
                        brief = d.get("per_s", d.get("mb_per_s"))
                        log(f"endpoint: rep {rep + 1} {kind} {key:4} {s:8} {brief} "
                            f"p50 {d.get('p50_us', '-')} errors {d.get('errors', d.get('error'))}")
        res["measure_s"] = round(time.monotonic() - t_begin, 1)

        # 3. Medians over the repetitions, and the figures the targets speak of.
        summary = {}
        for kind in ("tcp", "unix"):
            for s in setups:
                r = runs[kind][s]
                ok = lambda key: [d for d in r[key] if "error" not in d]  # noqa: E731
                errors = sum(d.get("errors", 0) + (1 if "error" in d else 0) for key in r for d in r[key])
                first = next((d.get("error") or d.get("first_error") for key in r for d in r[key]
                              if d.get("error") or d.get("first_error")), None)
                cpu_req = [d["cpu_ns"] / 1000 / d["count"] for d in ok("req") if d.get("cpu_ns") is not None and d.get("count")]
                cpu_mb = [d["cpu_ns"] / 1e6 / (d["bytes"] / 1e6 / 1000) for d in ok("bulk")
                          if d.get("cpu_ns") is not None and d.get("bytes")]  # ms of CPU per GB
                busy = [d["cpu_ns"] / 1e9 / d["seconds"] * 100 for d in ok("req") if d.get("cpu_ns") is not None]
                summary.setdefault(kind, {})[s] = {
                    "conn_per_s": pct([d["per_s"] for d in ok("conn")], 50),
                    "conn_p50_us": pct([d["p50_us"] for d in ok("conn")], 50),
                    "req_per_s": pct([d["per_s"] for d in ok("req")], 50),
                    "req_p50_us": pct([d["p50_us"] for d in ok("req")], 50),
                    "lat_p50_us": pct([d["p50_us"] for d in ok("lat")], 50),
                    "lat_p99_us": pct([d["p99_us"] for d in ok("lat")], 50),
                    "lat_per_s": pct([d["per_s"] for d in ok("lat")], 50),
                    "bulk_mb_per_s": pct([d["mb_per_s"] for d in ok("bulk")], 50),
                    "cpu_us_per_req": pct(cpu_req, 50),
                    "cpu_ms_per_gb": pct(cpu_mb, 50),
                    "busy_pct": pct(busy, 50),
                    "errors": errors, "first_error": first,
                }
            d = summary[kind].get("direct") or {}
            for s in setups[1:]:
                x = summary[kind][s]
                if x["lat_p50_us"] is not None and d.get("lat_p50_us") is not None:
                    x["added_p50_us"] = round(x["lat_p50_us"] - d["lat_p50_us"], 2)
                if x["bulk_mb_per_s"] and d.get("bulk_mb_per_s"):
                    x["bulk_vs_direct"] = round(x["bulk_mb_per_s"] / d["bulk_mb_per_s"], 3)
            h = summary[kind].get("haproxy") or {}
            st = summary[kind].get("steward")
            if st and st["req_per_s"] and h.get("req_per_s"):
                st["req_vs_haproxy"] = round(st["req_per_s"] / h["req_per_s"], 3)
            if st and st["conn_per_s"] and h.get("conn_per_s"):
                st["conn_vs_haproxy"] = round(st["conn_per_s"] / h["conn_per_s"], 3)
        res["summary"] = summary
        if "steward" in setups:
            res["steward_errors"] = sum(summary[k]["steward"]["errors"] for k in summary)
    finally:
        if hap:
            hap.stop()
        if sup:
            st = {}
            finish(ctx, sup, st)
            res["stop_s"] = st.get("stop_s")
            res["probes_left_after_stop"] = st.get("probes_left_after_stop", 0)
            left = wait_until(lambda: not probe_pids(ctx.echoback), 5, 0.05)
            res["instances_left_after_stop"] = 0 if left else len(probe_pids(ctx.echoback))
        for pr in own:
            if pr.poll() is None:
                pr.terminate()
        for pr in own:
            try:
                pr.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pr.kill()
                pr.wait(timeout=5)
        left = probe_pids(ctx.echoback)
        if left:
            log(f"endpoint: {len(left)} echo backend(s) left; SIGKILL")
            kill_pids(left)
    return res


def spawn_floor(ctx, n, mode, reps):
    vals, outs = [], []
    for i in range(reps):
        logf = ctx.fresh_log(f"floor-{n}-{mode}-{i}")
        pr = run([ctx.spawnfloor, ctx.probe, logf, str(n), "fork" if mode == "fork" else "spawn", "120"],
                 timeout=180, env=ctx.base_env)
        ctx.ensure_no_probes("spawnfloor")
        if pr.returncode != 0:
            raise RuntimeError(f"spawnfloor failed: {pr.stderr.strip()[-300:]}")
        d = json.loads(pr.stdout)
        outs.append(d)
        vals.append(d["elapsed_ns"] / 1e9)
        os.unlink(logf)
    return {"n": n, "mode": outs[0]["mode"], "reps": reps, "runs_s": vals, "p50_s": pct(vals, 50)}


# ----------------------------------------------------------------------------------------
# Report


def fmt_ns(ns):
    if ns is None:
        return "—"
    if ns < 1e7:
        return f"{ns / 1e6:.3f} ms"
    if ns < 1e9:
        return f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.2f} s"


def fmt_s(s):
    return "—" if s is None else fmt_ns(s * 1e9)


def fmt_mib(kib):
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def cell(res, fn):
    """A table cell: fn(res) for a finished workload, otherwise why there is no number."""
    if res is None:
        return "not run"
    if "skipped" in res:
        return "not run" if res["skipped"].startswith("not selected") else f"skipped: {res['skipped']}"
    if "error" in res and not res.get("partial"):
        return f"error: {res['error'][:80]}"
    try:
        v = fn(res)
    except (KeyError, TypeError):
        v = None
        nested = [x["error"] for x in res.values() if isinstance(x, dict) and "error" in x]
        if nested:
            return f"error: {nested[0][:80]}"
    if v is None and "error" in res:
        return f"error: {res['error'][:80]}"
    return "—" if v is None else v


def verdict(ok, scaled=False, quick=False):
    """scaled: the target is for the full-size run, so a --quick run can't judge it."""
    if scaled and quick:
        return "— (quick run)"
    return "—" if ok is None else ("met" if ok else "**missed**")


def machine_info(ctx):
    def sh(argv):
        try:
            p = run(argv, timeout=30, env=ctx.base_env)
            return (p.stdout or p.stderr).strip().splitlines()[0] if (p.stdout or p.stderr).strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    import resource
    info = {
        "nproc": sh(["nproc"]), "cpu": cpu, "memory": mem, "kernel": platform.release(),
        "os": sh(["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "pid_max": open("/proc/sys/kernel/pid_max").read().strip(),
        "load_start": os.getloadavg()[0],
        "nofile": "{} soft / {} hard".format(*resource.getrlimit(resource.RLIMIT_NOFILE)),
        "python": platform.python_version(), "node": sh(["node", "--version"]),
        "gcc": sh(["gcc", "--version"]),
        "hyperfine": sh(["hyperfine", "--version"]) if shutil.which("hyperfine") else "not installed (Python timing loop)",
    }
    versions = {}
    if os.access(ctx.steward_bin, os.X_OK):
        v = sh([ctx.steward_bin, "--version"])
        try:
            commit = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], timeout=10).stdout.strip()
        except OSError:
            commit = ""
        if os.environ.get("STEWARD_BIN"):  # built elsewhere: this tree's commit says nothing
            versions["steward"] = v + f" (`STEWARD_BIN`={ctx.steward_bin})"
        else:
            versions["steward"] = v + (f" (git {commit})" if commit else " (uncommitted tree)")
    else:
        versions["steward"] = "not built"
    sv = os.path.join(WORK, "venv", "bin", "supervisord")
    versions["supervisord"] = ("supervisor " + sh([sv, "--version"])) if os.path.exists(sv) else "not installed"
    pj = os.path.join(WORK, "npm", "node_modules", "pm2", "package.json")
    versions["pm2"] = ("pm2 " + json.load(open(pj))["version"] + ", node " + info["node"]) if os.path.exists(pj) else "not installed"
    info["probe"] = "static" if "statically" in sh(["file", "-b", ctx.probe]) or not _is_dynamic(ctx.probe) else "dynamic"
    return info, versions


def _is_dynamic(path):
    with open(path, "rb") as f:
        data = f.read(1 << 20)
    return b"ld-linux" in data


def report(ctx, R, info, versions):
    p = ctx.params
    tools = TOOLS
    cols = ["steward", "supervisord", "PM2"]
    g = lambda w, t: R.get(w, {}).get(t)  # noqa: E731
    L = []
    L.append("# Benchmarks: steward vs supervisord vs PM2\n")
    L.append("Generated by `bench/run.sh`; do not edit by hand. How each number is measured: "
             "[bench/README.md](../bench/README.md).\n")
    if p.quick:
        L.append("> **Quick (smoke) run**: small counts, not the real figures. "
                 "Run `bench/run.sh` without `--quick` for those.\n")
    L.append("## Machine and versions\n")
    L.append("| | |\n|---|---|")
    L.append(f"| Command | `{os.environ.get('BENCH_COMMAND') or ' '.join(sys.argv)}` |")
    L.append(f"| Date | {info['date']} |")
    L.append(f"| CPU | {info['cpu']}, `nproc` = {info['nproc']} |")
    L.append(f"| Memory | {info['memory']} |")
    L.append(f"| Kernel / OS | {info['kernel']} / {info['os']} |")
    L.append(f"| Limits | pid_max {info['pid_max']}, RLIMIT_NOFILE {info['nofile']} |")
    L.append(f"| Load average (1 min) | {info['load_start']:.2f} at the start, {R.get('load_end', 0):.2f} at the end |")
    for t, c in zip(tools, cols):
        L.append(f"| {c} | {versions[t]} |")
    if R.get("steward_cgroups"):
        L.append(f"| steward's cgroups | {R['steward_cgroups']} (`STEWARD_CGROUPS` = "
                 f"{os.environ.get('STEWARD_CGROUPS') or 'unset'}) |")
    L.append(f"| Probe | `bench/probe.c`, gcc -O2 ({info['probe']}); {info['gcc']} |")
    L.append(f"| Python / hyperfine | {info['python']} / {info['hyperfine']} |")
    L.append("")
    L.append("Targets apply to steward. \"met\"/\"missed\" compares steward's figure with the target; "
             "\"—\" means it could not be judged in this run.\n")

    def table(title, header_extra, rows, note=None, columns=None):
        L.append(f"## {title}\n")
        if note:
            L.append(note + "\n")
        hdr = ["Metric"] + (columns or cols) + header_extra + ["Target", "steward vs target"]
        L.append("| " + " | ".join(hdr) + " |")
        L.append("|" + "---|" * len(hdr))
        for row in rows:
            L.append("| " + " | ".join(str(x) for x in row) + " |")
        L.append("")

    # 1. crash loop
    w = "crash"
    st = g(w, "steward")
    pm = g(w, "pm2")
    ok = None
    if st and st.get("p50_ns") is not None:
        ok = st["p50_ns"] <= 1e6
        if pm and pm.get("p50_ns"):
            ok = ok and st["p50_ns"] * 3 <= pm["p50_ns"]
        else:
            ok = None if ok else False
    tf = tools + ["floor"]
    rows = [["gap p50"] + [cell(g(w, t), lambda r: fmt_ns(r["p50_ns"])) for t in tf]
            + ["≤ 1 ms and ≥ 3× better than PM2", verdict(ok)],
            ["gap p95"] + [cell(g(w, t), lambda r: fmt_ns(r["p95_ns"])) for t in tf] + ["", ""],
            ["restarts measured"] + [cell(g(w, t), lambda r: f"{r['count']}" + (f" (limit {p.crash_limit_s} s reached)" if r["limited"] else "")) for t in tf]
            + [f"≥ {p.crash_target}", ""]]
    if st and pm and st.get("p50_ns") and pm.get("p50_ns"):
        rows.append(["PM2 p50 / steward p50", f"{pm['p50_ns'] / st['p50_ns']:.1f}×", "", "", "", "≥ 3×", ""])
    table("1. Crash-loop restart gap", ["raw floor"], rows,
          f"The probe exits with code 1 as soon as it starts; each supervisor restarts it with its fastest "
          f"settings. Gap = `start` of run n+1 − `exit` of run n (CLOCK_REALTIME written by the probe). "
          f"Up to {p.crash_target} restarts or {p.crash_limit_s} s per tool. Raw floor: `bench/restartfloor.c`, "
          "a C loop of fork+exec and sigwaitinfo(SIGCHLD) doing nothing else.")

    # 2. SIGKILL -> successor
    w = "kill"
    st = g(w, "steward")
    ok = None if not st or st.get("p50_ns") is None else st["p50_ns"] <= 1e6
    rows = [["p50"] + [cell(g(w, t), lambda r: fmt_ns(r["p50_ns"])) for t in tf] + ["≤ 1 ms", verdict(ok)],
            ["p95"] + [cell(g(w, t), lambda r: fmt_ns(r["p95_ns"])) for t in tf] + ["", ""],
            ["kills"] + [cell(g(w, t), lambda r: f"{r['count']}" + (f" ({r['misses']} without successor)" if r["misses"] else "")) for t in tf] + [f"{p.kill_n}", ""]]
    table("2. SIGKILL → successor running", ["raw floor"], rows,
          "The bench SIGKILLs the running probe (pid from its `start` line) and waits for the next "
          "`start`. Time = successor's `start` − CLOCK_REALTIME just before `kill(2)`. Raw floor as in 1.")

    # 3. N running
    fl = R.get("floor", {})
    n, big = p.services, p.large

    def floor_cell(key):
        f = fl.get(key)
        if not f:
            return "not run"
        if "error" in f:
            return "error: " + f["error"][:60]
        return fmt_s(f["p50_s"])

    st = g("many", "steward")
    ok = None if not st or st.get("all_running_s") is None else st["all_running_s"] <= 0.7
    stb = g("large", "steward")
    fb = fl.get(f"fork{big}")
    okb = None
    if stb and stb.get("all_running_s") is not None and fb and fb.get("p50_s"):
        okb = stb["all_running_s"] < 2 * fb["p50_s"]
    rows = [[f"{n:,} services running"] + [cell(g("many", t), lambda r: fmt_s(r["all_running_s"])) for t in tools]
            + [floor_cell(f"fork{n}"), floor_cell(f"spawn{n}"), "≤ 0.7 s" if n == 1000 else "≤ 0.7 s (at 1,000)", verdict(ok, True, p.quick)],
            [f"{big:,} services running"] + [cell(g("large", t), lambda r: fmt_s(r["all_running_s"])) for t in tools]
            + [floor_cell(f"fork{big}"), floor_cell(f"spawn{big}"), "< 2× raw floor (fork+exec)", verdict(okb, True, p.quick)],
            [f"first start after launch ({n:,})"] + [cell(g("many", t), lambda r: fmt_s(r["first_start_s"])) for t in tools] + ["", "", "", ""]]
    if stb and fb and stb.get("all_running_s") and fb.get("p50_s"):
        rows.append([f"steward {big:,} / raw floor", f"{stb['all_running_s'] / fb['p50_s']:.2f}×", "", "", "", "", "< 2×", ""])
    table("3. Time until all services are running", ["raw floor fork+exec", "raw floor posix_spawn"], rows,
          "From launching the supervisor (`steward up`, `supervisord -n`, `pm2 start ecosystem.json` — "
          "which also starts PM2's daemon) to the last probe's `start` timestamp; the bench polls the shared "
          f"log every 5 ms to know when all are in. Raw floor: `bench/spawnfloor.c` fork+execs (or posix_spawns) "
          f"the same probe N times from one C process, median of {p.floor_reps} runs at {n:,} and 1 at {big:,}.")

    # 4. RSS
    def rss(r, key="mem"):
        m = r.get(key) or {}
        return fmt_mib(m.get("rss_kib"))

    okr = None if not st or not st.get("mem") else st["mem"]["rss_kib"] < 10 * 1024
    okrb = None if not stb or not stb.get("mem") else stb["mem"]["rss_kib"] < 64 * 1024
    rows = [[f"VmRSS, {n:,} services"] + [cell(g("many", t), rss) for t in tools] + ["< 10 MiB", verdict(okr, True, p.quick)],
            [f"VmRSS, {big:,} services"] + [cell(g("large", t), rss) for t in tools] + ["< 64 MiB", verdict(okrb, True, p.quick)],
            [f"VmHWM (peak), {n:,}"] + [cell(g("many", t), lambda r: fmt_mib(r["mem_after_status"]["hwm_kib"])) for t in tools] + ["", ""],
            [f"open fds, {n:,}"] + [cell(g("many", t), lambda r: str(r["fds"])) for t in tools] + ["", ""],
            ["process measured"] + [cell(g("many", t), lambda r, t=t: {"steward": "`steward up`", "supervisord": "`supervisord` (python)", "pm2": "God Daemon (`$PM2_HOME/pm2.pid`)"}[t]) for t in tools] + ["", ""]]
    table("4. Daemon memory", [], rows,
          "VmRSS of the daemon process alone (not its children), from /proc/PID/status, after all services "
          "are running and the idle window; VmHWM is the peak after the status calls. MiB = 1,048,576 bytes.")

    # 5. idle CPU
    oki = None if not st or not st.get("idle") else round(st["idle"]["cpu_pct"], 1) == 0.0
    rows = [[f"CPU, {n:,} services idle"] + [cell(g("many", t), lambda r: f"{r['idle']['cpu_pct']:.2f} % ({r['idle']['ticks']} ticks)") for t in tools] + ["0.0 %", verdict(oki, True, p.quick)],
            ["same, from schedstat"] + [cell(g("many", t), lambda r: f"{r['idle']['sched_pct']:.3f} %" if r["idle"].get("sched_pct") is not None else None) for t in tools] + ["", ""],
            ["probe restarts during the window"] + [cell(g("many", t), lambda r: str(r["restarts_during_idle"])) for t in tools] + ["0", ""]]
    table("5. Idle CPU", [], rows,
          f"utime+stime delta of the daemon (/proc/PID/stat, all threads) over {p.idle_s} s with every "
          f"service running, as % of one core; one tick = {100 / CLK_TCK / p.idle_s:.3f} %. "
          "The schedstat row sums /proc/PID/task/*/schedstat (ns resolution).")

    # 6. status
    oks = None if not st or not st.get("status_no_usage") else st["status_no_usage"]["p50_s"] < 0.010
    nu = lambda t, f: cell(g("many", t), lambda r: f(r["status_no_usage"])) if t == "steward" else "—"  # noqa: E731
    rows = [[f"median, {n:,} services"] + [cell(g("many", t), lambda r: fmt_s(r["status"]["p50_s"])) for t in tools] + ["", ""],
            [f"p95, {n:,} services"] + [cell(g("many", t), lambda r: fmt_s(r["status"]["p95_s"])) for t in tools] + ["", ""],
            [f"median, {n:,} services, steward `--no-usage`"] + [nu(t, lambda s: fmt_s(s["p50_s"])) for t in tools] + ["< 10 ms", verdict(oks, True, p.quick)],
            [f"p95, {n:,} services, steward `--no-usage`"] + [nu(t, lambda s: fmt_s(s["p95_s"])) for t in tools] + ["", ""],
            [f"median, {big:,} services"] + [cell(g("large", t), lambda r: fmt_s(r["status"]["p50_s"])) for t in tools] + ["", ""],
            ["output size"] + [cell(g("many", t), lambda r: f"{r['status']['output_bytes']:,} B") for t in tools] + ["", ""]]
    meth = next((g("many", t)["status"]["method"] for t in tools if g("many", t) and g("many", t).get("status")), "—")
    table("6. Status latency", [], rows,
          f"Wall time of `steward status --json --socket S`, `supervisorctl -c C status`, `pm2 jlist`, "
          f"{p.status_runs} runs each after 2 warm-ups ({meth}), with all services running. "
          "`steward status` reads each instance's resource usage (CPU, memory, threads, fds, processes) "
          "from /proc and its cgroup for the request, as `pm2 jlist` reports its processes' CPU and memory; "
          "`steward status --no-usage` leaves that out (no /proc reads), as `supervisorctl status` has none.")

    # 7. notify handling cost
    w = "notify"
    st = g(w, "steward")
    wd = st.get("window") if st else None
    okm = None if not st or st.get("missed") is None else st["missed"] == 0
    okc = None if not wd else wd["cpu_pct"] < 5.0

    def ncell(t, fn, first=False):
        r = g(w, t)
        if r and r.get("no_equivalent"):
            return "no equivalent (no notify protocol)" if first else "no equivalent"
        return cell(r, fn)

    def fcells(fn):
        """The two raw-floor columns; fn=None leaves them empty."""
        return ["" if fn is None else cell(g(w, f), fn) for f in ("floor", "floor_check")]

    def gap(r):
        return fmt_ns(r["max_gap_ns"]) if r.get("max_gap_ns") else None

    def per_dgram(r):
        v = (r.get("window") or {}).get("ns_per_datagram")
        return None if v is None else f"{v / 1000:.1f} µs"

    def sched(r):
        v = r["window"].get("sched_pct")
        return None if v is None else f"{v:.2f} %"

    def rate(r):
        return f"{r['rate_per_s']:,.0f} /s" if r.get("rate_per_s") else None

    nn, per, win = p.notify_instances, p.notify_period_ms, p.notify_window_s
    rows = [[f"deadlines missed (failures + restarts, {nn} instances)"]
            + [ncell(t, lambda r: f"{r['missed']} ({r['failures']} failures, {r['restarts']} restarts)", True) for t in tools]
            + fcells(None) + ["0", verdict(okm)],
            [f"daemon CPU over {win} s (utime+stime)"]
            + [ncell(t, lambda r: f"{r['window']['cpu_pct']:.2f} % ({r['window']['ticks']} ticks)") for t in tools]
            + fcells(None) + ["< 5 % of one core", verdict(okc)],
            ["same, ns resolution (schedstat; floor: CLOCK_PROCESS_CPUTIME_ID)"]
            + [ncell(t, sched) for t in tools] + fcells(sched) + ["", ""],
            ["datagrams handled per second"] + [ncell(t, rate) for t in tools] + fcells(rate)
            + [f"{nn * 1000 // per:,} /s nominal", ""],
            ["CPU per datagram"] + [ncell(t, per_dgram) for t in tools] + fcells(per_dgram) + ["", ""],
            ["WATCHDOG=1 datagrams sent (READY=1 until stopped)"]
            + [ncell(t, lambda r: f"{r['sent']:,} ({r['send_failed']} sends failed; {r['probe_reports']} probes reported)") for t in tools]
            + fcells(None) + ["", ""],
            ["largest gap between two pings of one instance (probe: sends; floor: receipts)"] + [ncell(t, gap) for t in tools] + fcells(gap)
            + [f"< `{p.notify_watchdog}`", ""],
            ["datagrams rejected (`notify.rejected`; floor: session check failed)"]
            + [ncell(t, lambda r: str(r["rejected"])) for t in tools] + ["", cell(g(w, "floor_check"), lambda r: str(r["rejected"]))] + ["0", ""],
            ["instances running and ready at the end"] + [ncell(t, lambda r: f"{r['running_ready']} of {r['n']}") for t in tools]
            + fcells(None) + [f"{nn}", ""],
            ["probe starts during the window"] + [ncell(t, lambda r: str(r["starts_during_window"])) for t in tools]
            + fcells(None) + ["0", ""]]
    table("7. Notify handling cost", ["raw floor", "raw floor + session check"], rows,
          f"One service with `instances = {nn}` of `probe watchdog` (`notify = true`, "
          f"`watchdog = \"{p.notify_watchdog}\"`, `restart = \"always\"`): each instance sends `READY=1` once, "
          f"then `WATCHDOG=1` every {per} ms to its `$NOTIFY_SOCKET` (abstract socket). Once all {nn} are ready "
          f"(+1 s), the daemon's CPU over {win} s, as % of one core. Missed deadlines = the sum of `failures` and "
          "`restarts` over all instances in `steward status --json` at the end of the window. Datagrams are "
          "counted by the probes (each appends its count when stopped); per second = the sum over probes of "
          "pings ÷ time between its first and last ping. Raw floor: `bench/notifyfloor.c`, one C process that "
          f"binds the {nn} sockets (SO_PASSCRED) and reads the same probes' datagrams in one epoll loop, one "
          "`recvmsg` each; the second column also reads `/proc/<sender>/stat` per datagram to check its session, "
          "as steward does. supervisord and PM2 have no notify protocol or watchdog: nothing to compare.")

    # 8. reload: one service of N changed
    w = "reload"
    rn = p.reload_services
    rkeys = ["steward", "steward_cmd", "supervisord", "pm2"]
    sf = g(w, "steward")
    t2 = (sf or {}).get("t2") if sf and "error" not in sf else None
    ok50 = None if not t2 else t2["p50_ns"] < 100e6
    ok95 = None if not t2 else t2["p95_ns"] < 100e6

    def rcell(k, fn):
        r = g(w, k)
        if r and r.get("not_measured"):
            return "not measured"
        return cell(r, fn)

    def tcell(part, q):
        return lambda r: fmt_ns(r[part][q]) if r.get(part) else None

    def unchanged(r):
        if not r.get("count"):
            return None
        return (f"{r['others_unchanged_min']:,}/{r['others']:,} in {r['reps_all_unchanged']} of "
                f"{r['count']} reps")

    def pidok():
        rs = [g(w, k) for k in ("steward", "steward_cmd")]
        rs = [r for r in rs if r and "error" not in r and "skipped" not in r]
        if not rs:
            return None
        return all(r.get("count") and r["reps_all_unchanged"] == r["count"] for r in rs)

    def reps(r):
        s_ = f"{r['count']}"
        if r.get("misses"):
            s_ += f" ({r['misses']} missed: not running again within {p.reload_wait_s} s)"
        if r.get("limited"):
            s_ += f" (limit {p.reload_limit_s} s reached)"
        if r.get("cmd_failed"):
            s_ += f" ({r['cmd_failed']} command failures)"
        return s_

    rows = [["write → new process started (its own timestamp), p50"] + [rcell(k, tcell("t1", "p50_ns")) for k in rkeys] + ["", ""],
            ["same, p95"] + [rcell(k, tcell("t1", "p95_ns")) for k in rkeys] + ["", ""],
            ["**write → status API reports it `running`, p50**"] + [rcell(k, tcell("t2", "p50_ns")) for k in rkeys]
            + ["< 100 ms (file watcher, 1,000 services)", verdict(ok50, True, p.quick)],
            ["**same, p95**"] + [rcell(k, tcell("t2", "p95_ns")) for k in rkeys]
            + ["< 100 ms (file watcher, 1,000 services)", verdict(ok95, True, p.quick)],
            ["write → command returned, p50"] + [rcell(k, lambda r: fmt_ns(r["ret"]["p50_ns"]) if r.get("ret") else "no command") for k in rkeys] + ["", ""],
            ["same, p95"] + [rcell(k, lambda r: fmt_ns(r["ret"]["p95_ns"]) if r.get("ret") else "no command") for k in rkeys] + ["", ""],
            [f"other services' pids unchanged (worst rep)"] + [rcell(k, unchanged) for k in rkeys]
            + [f"{rn - 1:,}/{rn - 1:,} in every rep", verdict(pidok())],
            ["reps with exactly one new process (the changed service)"] + [rcell(k, lambda r: f"{r['reps_one_start']} of {r['count']}") for k in rkeys] + ["all", ""],
            ["reps where `steward config --json` shows this reload applied (trigger, file hash, plan = the one service)"]
            + [rcell(k, lambda r: f"{r['reps_report_ok']} of {r['count']}" if "reps_report_ok" in r else "—") for k in rkeys] + ["all", ""],
            ["reps measured"] + [rcell(k, reps) for k in rkeys] + [f"{p.reload_reps}", ""],
            ["the command on an unchanged file (median of 3)"] + [rcell(k, lambda r: fmt_s(r["idle_cmd_s"]) if r.get("idle_cmd_s") is not None else "no command") for k in rkeys] + ["", ""]]
    table(f"8. Reload: one service of {rn:,} changed", [], rows,
          f"{rn:,} services (probe in mode `run`) are running; the bench changes one environment variable of "
          f"one of them (the middle one) in the config file, alternating between two values, {p.reload_reps} times. "
          "It writes the whole file to a temporary file in the same directory and renames it over the config, "
          "as editors save (no fsync). t0 = CLOCK_REALTIME just before the write. "
          "**steward, file watcher**: nothing but the write (`on_config_change = \"reload\"`: inotify on the "
          "config's directory, debounced 40 ms; the config sits in a directory of its own). "
          "**steward, `steward reload`**: `on_config_change = \"ignore\"`, and `steward reload` is started "
          "right after the write (it returns once the restart has settled). "
          "**supervisord**: `supervisorctl -c C update` right after the write (the changed program's group is "
          "stopped, removed and added again); every program has `startsecs=0`, so it is RUNNING as soon as it "
          "started — with supervisord's default `startsecs=1` each figure would be about 1 s longer. "
          "\"New process started\" is the probe's own `start` timestamp. \"Status API reports it running\" is the "
          f"first poll (every {p.reload_poll_s * 1000:g} ms, on a fresh connection) that shows `running` with a new "
          "pid, by what `steward status NAME --json` and `supervisorctl status NAME` call (`GET /v1/services/NAME`; "
          "XML-RPC `supervisor.getProcessInfo`) without starting a CLI per poll; with no readiness check "
          "both call a process running once they have forked it, which can be a moment before the probe's first "
          "instruction, so this can be slightly less than the row above. After each rep (and "
          f"{p.reload_pause_s:g} s) the pids of every other service from `steward status --json` / "
          "`supervisorctl status` are compared with those before the write. PM2 is not measured: its reload "
          "restarts every app of the file.",
          columns=["steward, file watcher", "steward, `steward reload`", "supervisord, `supervisorctl update`", "PM2"])

    # 9. logs: a flood captured to files
    w = "logs"
    st, sv = g(w, "steward"), g(w, "supervisord")
    okr = None
    if st and sv and st.get("rate_bps") and sv.get("rate_bps") \
            and st.get("cpu_ms_per_mb") is not None and sv.get("cpu_ms_per_mb") is not None:
        okr = st["rate_bps"] >= 5 * sv["rate_bps"] and st["cpu_ms_per_mb"] < sv["cpu_ms_per_mb"]
    okl = None if not st or st.get("lost") is None else st["lost"] == 0

    def mbps(r):
        return f"{r['rate_bps'] / 1e6:,.0f} MB/s" if r.get("rate_bps") else None

    rows = [["**bytes/s captured**"] + [cell(g(w, t), mbps) for t in tools]
            + ["≥ 5× supervisord's, at less CPU per MB", verdict(okr)],
            ["**daemon CPU per MB captured**"] + [cell(g(w, t), lambda r: f"{r['cpu_ms_per_mb']:.2f} ms") for t in tools] + ["", ""],
            ["**bytes lost** (written − in the files)"] + [cell(g(w, t), lambda r: f"{r['lost']:,}") for t in tools] + ["0", verdict(okl)],
            ["bytes written by the probe"] + [cell(g(w, t), lambda r: f"{r['written']:,} in {r['writer_s']:.2f} s") for t in tools] + ["", ""],
            ["time until the files held it all"] + [cell(g(w, t), lambda r: fmt_s(r["capture_s"])) for t in tools] + ["", ""],
            ["daemon CPU time over that"] + [cell(g(w, t), lambda r: fmt_s(r["cpu_s"])) for t in tools] + ["", ""],
            ["the probe's own CPU time (writing)"] + [cell(g(w, t), lambda r: fmt_s(r.get("writer_cpu_s"))) for t in tools] + ["", ""]]
    if st and sv and st.get("rate_bps") and sv.get("rate_bps"):
        rows.append(["steward / supervisord, bytes/s", f"{st['rate_bps'] / sv['rate_bps']:.1f}×", "", "", "≥ 5×", ""])
    table("9. Log capture: one service writing as fast as it can", [], rows,
          f"One service, `probe flood`, writes its stdout for {p.logs_s} s as fast as it is read: 64 KiB "
          "`write(2)`s of numbered 16-byte lines (blocking: a slower reader slows the writer, nothing is "
          "dropped by the pipe), then appends how many bytes it wrote. Each supervisor writes them to files: "
          "steward `log = { max_size = \"1GiB\", keep = 1000 }` (read and written into `STATE/logs/flood/0.log`, rotated "
          "by size, every file kept), supervisord `stdout_logfile=FILE` with `stdout_logfile_maxbytes=0` "
          "(no rotation), PM2 `out_file: FILE`. Bytes/s = bytes in the files ÷ time from the start signal "
          "until the files held every byte written (or stopped growing for 2 s). CPU = the daemon's "
          "utime+stime over the same span (/proc/PID/task/*/schedstat: steward with all its threads, "
          "`supervisord`, PM2's God daemon), per 1,000,000 bytes captured. Lost = bytes the probe says it "
          "wrote − bytes in the files. The files are on the scratch dir's file system (page cache, then disk). "
          "The probe's CPU time near its whole writing time means the writer, not the supervisor, set the pace.")
    f = g("fanout", "steward") or {}
    if "fanout" in R.get("workloads", []):
        ok = f.get("complete") == f.get("subscribers") and "error" not in f
        c = lambda fn: cell(f, fn)  # noqa: E731
        crash_p50 = (g("crash", "steward") or {}).get("p50_ns")
        rows = [
            ["subscribers that got every event, in order, none twice", c(lambda r: f"{r['complete']} of {r['subscribers']}"),
             f"{p.fanout_subscribers} of {p.fanout_subscribers}", verdict(ok)],
            ["events per subscriber per second (during the crash loop)", c(lambda r: f"{r['events_per_s']:,}"), "", ""],
            ["fewest events one subscriber received", c(lambda r: f"{r['min_received']:,}"), "", ""],
            ["streamed to all subscribers", c(lambda r: f"{r['mib_streamed']:,} MiB"), "", ""],
            ["steward CPU time during the window", c(lambda r: fmt_s(r["cpu_s"]) + f" of {r['window_s']} s"), "", ""],
            ["crash-loop restarts during the window", c(lambda r: f"{r['restarts']:,}"), "", ""],
            ["exit → next start, p50, with the subscribers", c(lambda r: fmt_ns(r["restart_p50_ns"])),
             f"(without: {fmt_ns(crash_p50) if crash_p50 else '—'}, workload 1)", ""],
        ]
        table(f"10. Event fan-out: {p.fanout_subscribers} SSE subscribers during a crash loop", [], rows,
              f"One probe service crash-loops (`backoff = {{ max = \"0s\" }}`) for {p.fanout_s} s while "
              f"{p.fanout_subscribers} clients follow `GET /v1/events` (each on its own connection, live "
              "only, read by one Python selector loop). Then the service is stopped and each subscriber is read "
              "until it has the journal's newest event; it passes when its ids run without a gap or repeat from "
              "its first event to that one. A subscriber that falls behind the live feed is served the missed "
              "events from the journal. steward only: supervisord and PM2 have no event stream to subscribe to.",
              columns=["steward"])

    a = g("acl", "steward") or {}
    if "acl" in R.get("workloads", []):
        c = lambda fn: cell(a, fn)  # noqa: E731
        rows = []
        for mode, label in (("keepalive", "one kept-alive connection"), ("fresh", "a new connection per request")):
            rows += [
                [f"status requests/s, {label}, no ACL", c(lambda r: f"{r[mode]['none_per_s']:,.0f}"), "", ""],
                [f"status requests/s, {label}, {p.acl_entries}-entry ACL", c(lambda r: f"{r[mode]['acl_per_s']:,.0f}"), "", ""],
                [f"difference ({label})", c(lambda r: f"{r[mode]['difference_pct']:+.1f} %"), "< 5 %",
                 verdict("error" not in a and mode in a and abs(a[mode]["difference_pct"]) < 5)],
                [f"request p50 latency, {label}: none / ACL",
                 c(lambda r: f"{r[mode]['none_p50_us']:.0f} / {r[mode]['acl_p50_us']:.0f} µs"), "", ""],
                [f"steward CPU per request, {label}: none / ACL",
                 c(lambda r: f"{r[mode]['none_cpu_us']:.1f} / {r[mode]['acl_cpu_us']:.1f} µs"), "", ""],
            ]
        d = a.get("decision") or {}
        if "acl_ns" in d:
            cpu = (a.get("keepalive") or {}).get("none_cpu_us")
            share = f" = {100 * (d['acl_ns'] - d['default_ns']) / 1000 / cpu:.2f} % of steward's CPU per request" if cpu else ""
            rows += [["one ACL decision (`Policy::check`, root): default / "
                      f"{p.acl_entries}-entry ACL", f"{d['default_ns']:.0f} / {d['acl_ns']:.0f} ns",
                      "", ""],
                     ["what the longer ACL adds to a request",
                      f"{(d['acl_ns'] - d['default_ns']):.0f} ns{share}", "< 5 %",
                      verdict(bool(cpu) and (d['acl_ns'] - d['default_ns']) / 1000 / cpu < 0.05)]]
        table(f"11. Cost of the ACL check: status requests per second", [], rows,
              f"`GET /v1/services` ({p.acl_services} services) over the Unix socket, one request at a time, "
              f"by `bench/reqrate.c` for {p.acl_s} s per measurement, as root; medians of {p.acl_rounds} rounds. "
              "Each round measures steward without `[control] acl` (the default: root and steward's user are "
              f"admins), then, after a reload, with a {p.acl_entries}-entry ACL whose first "
              f"{p.acl_entries - 1} entries match nobody (users, groups, uids and gids, so every kind of "
              "principal is compared and the caller's groups must be known) and whose last lets root in; "
              "the rounds alternate which goes first (ABBA), so a drift of the machine weighs on both. "
              "Requests per second on this shared machine vary by ±15 % from one measurement to the next, "
              "more than the ACL could cost, so the decision itself is also timed in a loop "
              "(`crates/core/examples/acl_cost.rs`, median of 15 batches of 200,000) and set against "
              "steward's CPU per request. steward only: supervisord and PM2 have no ACL to compare.",
              columns=["steward"])

    e = g("endpoint", "steward") or {}
    if "endpoint" in R.get("workloads", []):
        av = e.get("available") or {}
        sm = e.get("summary") or {}
        ecols = ["direct", "HAProxy", "steward"]

        def ecell(kind, s, fn):
            if "error" in e or "skipped" in e:
                return cell(e, lambda r: None)
            if av.get(s) is not None:
                return "not available" if s == "steward" else "skipped"
            x = (sm.get(kind) or {}).get(s)
            if not x:
                return "—"
            try:
                v = fn(x)
            except (KeyError, TypeError):
                v = None
            return "—" if v is None else v

        def erow(kind, label, fn, target="", ok=None, direct=True):
            cells = [ecell(kind, s, fn) if (s != "direct" or direct) else "" for s in ENDPOINT_SETUPS]
            return [label] + cells + [target, verdict(ok) if target else ""]

        def stv(kind, key):
            return ((sm.get(kind) or {}).get("steward") or {}).get(key)

        rows = []
        nbulk = e.get("bulk_bytes", p.endpoint_bulk)
        bulk_label = f"{nbulk / (1 << 30):g} GiB" if nbulk >= 1 << 30 else f"{nbulk >> 20} MiB"
        for kind, name in (("tcp", "TCP"), ("unix", "Unix")):
            st = (sm.get(kind) or {}).get("steward")
            ok_req = None if not st or stv(kind, "req_vs_haproxy") is None else stv(kind, "req_vs_haproxy") >= 1
            ok_lat = None if not st or stv(kind, "added_p50_us") is None else stv(kind, "added_p50_us") < 50
            ok_bulk = None if not st or stv(kind, "bulk_vs_direct") is None else stv(kind, "bulk_vs_direct") >= 0.9
            c = e.get("concurrency", p.endpoint_concurrency)
            rows += [
                erow(kind, f"{name}: connections/s (c={c}, connect + 32-byte line + echo + close)",
                     lambda x: f"{x['conn_per_s']:,.0f}"),
                erow(kind, f"{name}: requests/s (c={c}, kept-alive connections)",
                     lambda x: f"{x['req_per_s']:,.0f}", "≥ HAProxy", ok_req),
                erow(kind, f"{name}: request latency at c=1, p50 / p99",
                     lambda x: f"{x['lat_p50_us']:.1f} / {x['lat_p99_us']:.0f} µs"),
                erow(kind, f"{name}: added p50 latency vs direct (c=1)",
                     lambda x: f"{x['added_p50_us']:+.1f} µs", "< 50 µs", ok_lat, direct=False),
                erow(kind, f"{name}: bulk, {bulk_label} through one connection",
                     lambda x: f"{x['bulk_mb_per_s']:,.0f} MB/s"),
                erow(kind, f"{name}: bulk vs direct",
                     lambda x: f"{x['bulk_vs_direct']:.2f}×", "≥ 0.9×", ok_bulk, direct=False),
                erow(kind, f"{name}: CPU per request at c={c}: the proxy's (direct: the instance's)",
                     lambda x: f"{x['cpu_us_per_req']:.1f} µs"),
                erow(kind, f"{name}: failed requests/connections (all measurements)",
                     lambda x: str(x["errors"]) + (f" ({x['first_error'][:60]})" if x["errors"] and x.get("first_error") else "")),
            ]
        if e.get("backends_by") == "steward":
            rows.append(["instances left after `steward up` stopped", "", "",
                         str(e.get("instances_left_after_stop")), "0",
                         verdict(e.get("instances_left_after_stop") == 0)])
        why = av.get("steward")
        hv = e.get("haproxy_version") or "haproxy"
        note = (f"{e.get('instances', p.endpoint_instances)} instances of `bench/echoback.c` (one epoll thread each; "
                "a line is echoed back, `BULK n` streams n bytes) answer on their own addresses: TCP "
                f"127.0.0.1:{p.endpoint_backend_port}+i, and Unix sockets. **direct**: `bench/endpointload.c` "
                "connects to instance 0 alone. **HAProxy** "
                f"({hv}; `mode tcp`, `balance roundrobin`, `nbthread 2`, `option splice-auto`, foreground) "
                "and **steward** (`[service.NAME.endpoint]`, `mode = \"proxy\"`, `balance = \"round-robin\"`) "
                "each have a TCP and a Unix frontend in front of the same instances: for TCP steward's endpoint "
                f"sets `backend = \"tcp:127.0.0.1:{p.endpoint_backend_port}\"`, for Unix the instances keep "
                "steward's default socket under its state dir, and HAProxy's backends are the addresses the "
                "instances were given (`STEWARD_LISTEN` in /proc/PID/environ). The client runs on the same two "
                "cores as the proxy and the instances, so every figure includes its cost. Connections and "
                f"requests: {e.get('seconds', p.endpoint_s)} s per measurement, 32-byte lines; latency is per "
                "request (CLOCK_MONOTONIC around each one), p50 at c=1 on one kept-alive connection. "
                + (f"Medians of {e.get('reps', p.endpoint_reps)} repetitions; within each, every setup is measured "
                   "in turn, the order reversed every other repetition (ABC CBA). "
                   if e.get("reps", p.endpoint_reps) > 1 else "One repetition (quick run): no medians. ")
                + "Targets: requests/s at least "
                "HAProxy's, added p50 under 50 µs, bulk at least 0.9× direct, each over TCP and over Unix.")
        if e.get("backends_by") == "the bench":
            note += (" The instances were started by the bench, not by steward, "
                     "with the same `STEWARD_LISTEN` steward would give them.")
        if why:
            note += f"\n\n**steward: not available ({why}).**"
        if av.get("haproxy"):
            note += f"\n\n**HAProxy: skipped ({av['haproxy']}).**"
        table("12. Endpoints: steward's proxy vs HAProxy vs a direct connection", [], rows, note,
              columns=ecols)

    # Extras: stop time, leftovers, notes
    rows = []
    for w, label in (("many", f"stop {n:,} services"), ("large", f"stop {big:,} services")):
        rows.append([label] + [cell(g(w, t), lambda r: fmt_s(r.get("stop_s"))) for t in tools] + ["", ""])
    def leftovers(t):
        rs = [R.get(w, {}).get(t) or {} for w in WORKLOADS]
        if t == "steward":
            rs.append(R.get("reload", {}).get("steward_cmd") or {})
        rs = [r for r in rs if "probes_left_after_stop" in r]
        return str(sum(r["probes_left_after_stop"] for r in rs)) if rs else "not run"

    rows.append([f"daemon CPU time used to start {n:,}"] + [cell(g("many", t), lambda r: fmt_s(r.get("startup_cpu_s"))) for t in tools] + ["", ""])
    rows.append([f"daemon CPU time used to start {big:,}"] + [cell(g("large", t), lambda r: fmt_s(r.get("startup_cpu_s"))) for t in tools] + ["", ""])
    rows.append(["probes left after the supervisor stopped (all workloads)"] +
                [leftovers(t) for t in tools] + ["0", ""])
    rows.append([f"instances `running` per the status command ({n:,})"] +
                [cell(g("many", t), lambda r: str(r.get("running_per_status"))) for t in tools] + [f"{n:,}", ""])
    table("Also measured (information only)", [], rows,
          "Stop: SIGTERM to `steward up` / `supervisord` until it exits, `pm2 kill` for PM2.")

    notes = R.get("notes", [])
    if notes:
        L.append("## Notes from this run\n")
        for x in notes:
            L.append(f"- {x}")
        L.append("")
    return "\n".join(L)


# ----------------------------------------------------------------------------------------
# Main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scratch", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--workloads", default="",
                    help="comma list of " + ",".join(WORKLOADS) + " (default: all)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--reap", action="store_true")
    ap.add_argument("--skip-install", action="store_true")  # handled by run.sh
    ap.add_argument("--skip-build", action="store_true")  # handled by run.sh
    args = ap.parse_args()

    if args.reap:
        n = reap(os.path.abspath(args.scratch))
        if n:
            print(f"reap: killed {n} leftover process(es)", file=sys.stderr)
        return 0

    only = [t.strip().lower() for t in args.only.split(",") if t.strip()]
    only = ["pm2" if t == "PM2".lower() else t for t in only]
    for t in only:
        if t not in TOOLS:
            ap.error(f"--only: unknown tool {t!r} (steward, supervisord, pm2)")
    wanted = [t for t in TOOLS if not only or t in only]
    sel = [w.strip().lower() for w in args.workloads.split(",") if w.strip()]
    for w in sel:
        if w not in WORKLOADS:
            ap.error(f"--workloads: unknown workload {w!r} ({', '.join(WORKLOADS)})")
    sel = set(sel or WORKLOADS)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))

    ctx = Ctx(args)
    p = ctx.params
    R = {"notes": [], "params": vars(p), "workloads": [w for w in WORKLOADS if w in sel]}
    active = []
    for t in TOOLS:
        why = tool_available(ctx, t) if t in wanted else "not selected (--only)"
        if why:
            for w in WORKLOADS:
                R.setdefault(w, {})[t] = {"skipped": why}
            if t == "steward":
                R["reload"]["steward_cmd"] = {"skipped": why}
            if t in wanted:
                R["notes"].append(f"{t}: {why}.")
            log(f"{t}: {why}")
        else:
            active.append(t)

    def attempt(w, t, fn):
        log(f"{w}: {t} ...")
        try:
            res = fn()
        except Exception as e:  # noqa: BLE001 - one tool's failure must not stop the others
            log(f"{w}: {t} FAILED: {e}")
            res = {"error": str(e).replace("\n", " ")}
            n = reap(ctx.scratch)
            if n:
                R["notes"].append(f"{w}/{t}: {n} process(es) had to be killed after the failure.")
        R.setdefault(w, {})[t] = res
        log(f"{w}: {t} -> {json.dumps({k: v for k, v in res.items() if k not in ('times_s', 'reps')}, default=str)[:400]}")
        return res

    try:
        info, versions = machine_info(ctx)
        log(f"machine: {info}")
        log(f"versions: {versions}")

        # Raw spawn floor first, while the machine is quiet (table 3 only).
        R["floor"] = {}
        for mode in ("fork", "spawn") if sel & {"many", "large"} else ():
            for n, reps in ((p.services, p.floor_reps), (p.large, 1)):
                if n == p.large and "large" not in sel or n == p.services and "many" not in sel:
                    continue
                log(f"floor: {mode} x {n}")
                try:
                    R["floor"][f"{mode}{n}"] = spawn_floor(ctx, n, mode, reps)
                except Exception as e:  # noqa: BLE001
                    R["floor"][f"{mode}{n}"] = {"error": str(e)}
                log(f"floor: {mode} x {n} -> {R['floor'][f'{mode}{n}']}")

        if "crash" in sel:
            for t in ["floor"] + active:
                attempt("crash", t, lambda: w_crash(ctx, t))
        if "kill" in sel:
            for t in ["floor"] + active:
                attempt("kill", t, lambda: w_kill(ctx, t))
        # Notify handling cost: steward only; the peers have no notify protocol.
        if "notify" in sel:
            attempt("notify", "floor", lambda: notify_floor(ctx, False))
            attempt("notify", "floor_check", lambda: notify_floor(ctx, True))
            for t in active:
                if t == "steward":
                    attempt("notify", t, lambda: w_notify(ctx, t))
                else:
                    R.setdefault("notify", {})[t] = {"skipped": "no equivalent", "no_equivalent": True}
        if "many" in sel:
            for t in active:
                attempt("many", t, lambda: w_many(ctx, t, p.services, p.start_limit_s))
        import resource
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        for t in active if "large" in sel else ():
            if t != "steward":
                m = R.get("many", {}).get(t) or {}
                fds = m.get("fds")
                if not fds:
                    why = f"{p.services:,} run failed" if "many" in sel else "needs the `many` workload (fd count)"
                    R.setdefault("large", {})[t] = {"skipped": why}
                    continue
                need = int(fds / p.services * p.large)
                if need > hard:
                    R.setdefault("large", {})[t] = {"skipped": "fd limit (see notes)",
                                                    "why": f"needs ~{need:,} fds ({fds:,} at {p.services:,}), RLIMIT_NOFILE is {hard:,}"}
                    R["notes"].append(f"{t} at {p.large:,} services not tried: extrapolated from its "
                                      f"{fds:,} open fds at {p.services:,} it would need ~{need:,}, over this "
                                      f"machine's hard RLIMIT_NOFILE of {hard:,}.")
                    continue
            limit = p.large_limit_steward_s if t == "steward" else p.large_limit_peer_s
            res = attempt("large", t, lambda: w_many(ctx, t, p.large, limit, full=False))
            if t != "steward" and "error" in res:
                R["notes"].append(f"{t} at {p.large:,} services: {res['error']} (limit {limit} s).")
        # Reload: steward by its file watcher and by `steward reload`; supervisord by
        # `supervisorctl update`. PM2 is not measured (its reload restarts every app of a file).
        if "reload" in sel:
            for t in active:
                if t == "steward":
                    attempt("reload", "steward", lambda: w_reload(ctx, "steward", "file"))
                    attempt("reload", "steward_cmd", lambda: w_reload(ctx, "steward", "command"))
                elif t == "supervisord":
                    attempt("reload", t, lambda: w_reload(ctx, t, "update"))
                else:
                    R.setdefault("reload", {})[t] = {"skipped": "not measured", "not_measured": True}
        if "logs" in sel:
            for t in active:
                attempt("logs", t, lambda: w_logs(ctx, t))
        if "acl" in sel:
            for t in active:
                if t == "steward":
                    attempt("acl", t, lambda: w_acl(ctx, t))
                else:
                    R.setdefault("acl", {})[t] = {"skipped": "no ACL", "no_equivalent": True}
        # Event fan-out: steward only (the peers have no event stream to subscribe to).
        if "fanout" in sel:
            for t in active:
                if t == "steward":
                    attempt("fanout", t, lambda: w_fanout(ctx, t))
                else:
                    R.setdefault("fanout", {})[t] = {"skipped": "no event stream", "no_equivalent": True}
        # Endpoints: a direct connection and HAProxy are the reference points, measured even
        # when steward's proxy is not there; supervisord and PM2 have no proxy.
        if "endpoint" in sel:
            why = None if "steward" in active else \
                ((R.get("endpoint", {}).get("steward") or {}).get("skipped") or "not selected (--only)")
            attempt("endpoint", "steward", lambda: w_endpoint(ctx, why))
            for t in active:
                if t != "steward":
                    R.setdefault("endpoint", {})[t] = {"skipped": "no proxy", "no_equivalent": True}
    finally:
        left = reap(ctx.scratch)
        if left:
            R["notes"].append(f"Final clean-up had to kill {left} leftover process(es).")
            log(f"final reap killed {left}")

    R["load_end"] = os.getloadavg()[0]
    R["steward_cgroups"] = ctx.steward_cgroups
    if info["load_start"] > 0.5:
        R["notes"].append(f"The machine was busy when the run started (1-minute load average "
                          f"{info['load_start']:.2f} on {info['nproc']} cores): expect noisier, slower figures.")
    with open(os.path.join(ctx.scratch, "results.json"), "w") as f:
        json.dump(R, f, indent=1, default=str)
    shutil.copy2(os.path.join(ctx.scratch, "results.json"), os.path.join(WORK, "last-results.json"))
    md = report(ctx, R, info, versions)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md + "\n")
    log(f"wrote {args.out} (raw: bench/.work/last-results.json)")
    # Missed targets don't fail the run, and neither do the peers' troubles (an install
    # that failed, PM2 being slow); steward failing a workload, or leaving probes behind
    # when it stopped, does: that is what a CI smoke run is for.
    rc = 0
    if "steward" in active:
        for w, key in [(w, "steward") for w in WORKLOADS] + [("reload", "steward_cmd")]:
            if w not in sel:
                continue
            r = R.get(w, {}).get(key) or {}
            w = w if key == "steward" else "reload-command"
            if "error" in r:
                log(f"FAIL: steward {w}: {r['error']}")
                rc = 1
            elif isinstance(r.get("status"), dict) and "error" in r["status"]:
                log(f"FAIL: steward {w} status: {r['status']['error']}")
                rc = 1
            if r.get("probes_left_after_stop"):
                log(f"FAIL: steward {w}: {r['probes_left_after_stop']} probe(s) outlived `steward up`")
                rc = 1
            if w == "endpoint" and (r.get("steward_errors") or r.get("instances_left_after_stop")):
                log(f"FAIL: steward endpoint: {r.get('steward_errors')} failed request(s), "
                    f"{r.get('instances_left_after_stop')} instance(s) outlived `steward up`")
                rc = 1
            if w == "logs" and "error" not in r and r.get("lost") != 0:
                log(f"FAIL: steward logs: {r.get('lost')} byte(s) lost")
                rc = 1
            if w.startswith("reload") and "error" not in r:
                # A reload that restarted anything but the changed service, or not it, fails.
                if r.get("misses") or r.get("cmd_failed") or r.get("reps_all_unchanged") != r.get("count") \
                        or r.get("reps_one_start") != r.get("count") or not r.get("count"):
                    log(f"FAIL: steward {w}: {r.get('count')} reps, {r.get('misses')} missed, "
                        f"{r.get('cmd_failed')} command failures, other pids unchanged in "
                        f"{r.get('reps_all_unchanged')}, exactly one new process in {r.get('reps_one_start')}")
                    rc = 1
    if left:
        log(f"FAIL: the final clean-up found {left} process(es) still running")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
