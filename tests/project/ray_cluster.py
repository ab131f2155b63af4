"""A real two-node Ray cluster on loopback for the tests, started and stopped by them.

``ray stop`` would stop every Ray process of the machine (other people's clusters too), so the
processes of this cluster are found by its own temp dir and ended by process id.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _node_args(ports: list[int], cpus: int = 1) -> list[str]:
    names = ["--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
             "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port"]  # fmt: skip
    args = [f"{name}={port}" for name, port in zip(names, ports, strict=True)]
    return [*args, "--node-ip-address=127.0.0.1", f"--num-cpus={cpus}", f"--object-store-memory={150_000_000 * cpus}",
            "--disable-usage-stats"]  # fmt: skip


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _with_descendants(roots: list[int]) -> list[int]:
    tree, found, todo = _children(), [], list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found and pid != os.getpid():
            found.append(pid)
            todo.extend(tree.get(pid, []))
    return found


def _kill(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass
class RayCluster:
    temp_dir: Path
    address: str
    worker_node_manager_port: int
    auth: dict[str, str]  # the environment a driver joins with

    def processes(self) -> list[int]:
        """This cluster's processes: those naming its temp dir, and what they started."""
        mine = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                and str(self.temp_dir) in _cmdline(int(p.name))]  # fmt: skip
        return _with_descendants(mine)

    def kill_worker_node(self) -> None:
        """SIGKILL the worker node's raylet and every process under it, as a machine lost would."""
        flag = f"--node_manager_port={self.worker_node_manager_port}"
        raylets = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                   and "raylet" in _cmdline(int(p.name)) and flag in _cmdline(int(p.name))
                   and str(self.temp_dir) in _cmdline(int(p.name))]  # fmt: skip
        assert raylets, "the worker node's raylet was not found"
        _kill(_with_descendants(raylets), signal.SIGKILL)

    def stop(self) -> None:
        pids = self.processes()
        _kill(pids, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.2)
        _kill([p for p in pids if Path(f"/proc/{p}").exists()], signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_cluster(workers: int = 1, cpus: int = 1) -> RayCluster:
    """A head and ``workers`` worker nodes, ``cpus`` CPUs each, on 127.0.0.1, in a temp dir of
    their own (benchmarks/bench_ray.py starts its clusters with it too).

    The nodes inherit this process's environment (``LABELWISE_CACHE`` included), so their actors
    find the backbone this test run built. Token authentication is off: this cluster listens on
    loopback only, for the minutes of the test module, and Ray's token would otherwise come from
    ``~/.ray/auth_token`` when it exists (shared with every cluster of the user) and be read by
    a driver only when it first imports Ray.
    """
    # Short: Ray's unix socket paths live under the temp dir and must fit in 107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="lwray-", dir="/tmp"))
    head, client, *ports = free_ports(8 + 6 * workers)
    auth = {"RAY_AUTH_MODE": "disabled"}
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **auth}
    cluster = RayCluster(temp_dir, f"127.0.0.1:{head}", ports[6] if workers else 0, auth)
    head_args = [f"--port={head}", f"--temp-dir={temp_dir}", "--include-dashboard=false",
                 f"--ray-client-server-port={client}", *_node_args(ports[:6], cpus)]  # fmt: skip
    nodes = [["--head", *head_args]]
    nodes += [
        [f"--address={cluster.address}", *_node_args(ports[6 * w : 6 * w + 6], cpus)] for w in range(1, workers + 1)
    ]
    try:
        for args in nodes:
            subprocess.run([RAY, "start", *args], check=True, env=env, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        cluster.stop()
        raise RuntimeError(f"{' '.join(exc.cmd[:3])} failed:\n{exc.stderr.decode()[-3000:]}") from None
    except BaseException:
        cluster.stop()
        raise
    return cluster
