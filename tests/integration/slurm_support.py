"""A real one-node SLURM cluster for a test: Debian's ``slurm-wlm`` and ``munge``, configured under a
temporary folder on 127.0.0.1 and stopped afterwards.

As root, ``munged`` runs as user ``munge`` with its own key and socket, and ``slurmctld`` and ``slurmd``
as root with a ``slurm.conf`` whose state, spool, logs and pid files are in the folder (ports chosen
free). Clients find the cluster through ``SLURM_CONF``. When something is missing (not root, packages
not installed: ``apt-get install slurm-wlm munge``) or a daemon does not come up, the test is skipped
with the reason and the daemons' last log lines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "munge")
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SlurmCluster:
    """A running one-node cluster; ``env`` is what a client process needs to reach it."""

    folder: Path
    conf: Path
    node: str

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *command: str) -> str:
        """A SLURM client command's stdout (the test fails when it fails)."""
        completed = subprocess.run(
            command, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60, check=False
        )
        assert completed.returncode == 0, f"{' '.join(command)}: {completed.stderr}"
        return completed.stdout

    def job_running(self, job_id: str) -> bool:
        """Whether any task of job ``job_id`` is still pending or running."""
        return bool(self.run("squeue", "--noheader", "--jobs", job_id, "--format", "%i %T").strip())

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}:\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
            for path in sorted([*(self.folder / "log").glob("*.log"), *(self.folder / "munge").glob("*.log")])
        )


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def _executable(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip(f"SLURM test needs '{name}' (apt-get install slurm-wlm munge)")
    return found


def _slurm_conf(folder: Path, node: str, cpus: int) -> str:
    ctld_port, slurmd_port = _free_ports(2)
    return "\n".join(
        [
            "ClusterName=hpotest",
            f"SlurmctldHost={node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={ctld_port}",
            f"SlurmdPort={slurmd_port}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={folder / 'run' / 'munge.socket'}",
            f"StateSaveLocation={folder / 'state'}",
            f"SlurmdSpoolDir={folder / 'spool'}",
            f"SlurmctldPidFile={folder / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={folder / 'run' / 'slurmd.pid'}",
            f"SlurmctldLogFile={folder / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={folder / 'log' / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "ReturnToService=2",
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
            f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


def _start_munge(folder: Path, munged: str) -> None:
    import pwd

    user = pwd.getpwnam("munge")
    key_dir, run_dir = folder / "munge", folder / "run"
    for directory, mode in ((key_dir, 0o700), (run_dir, 0o755)):
        directory.mkdir(mode=mode)
        os.chown(directory, user.pw_uid, user.pw_gid)
    key = key_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chown(key, user.pw_uid, user.pw_gid)
    key.chmod(0o400)
    subprocess.run(
        [
            munged,
            f"--key-file={key}",
            f"--socket={run_dir / 'munge.socket'}",
            f"--pid-file={run_dir / 'munged.pid'}",
            f"--log-file={key_dir / 'munged.log'}",
            f"--seed-file={key_dir / 'munged.seed'}",
        ],
        user="munge",
        check=True,
        timeout=30,
        capture_output=True,
    )


def _stop(folder: Path) -> None:
    """SIGTERM each daemon this cluster started (by its pid file), SIGKILL what is left after 10 s."""
    pids = []
    for name in ("slurmd", "slurmctld", "munged"):
        pid_file = folder / "run" / f"{name}.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster() -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd for one test; stop them and remove their folder afterwards."""
    if os.geteuid() != 0:
        pytest.skip("SLURM test needs root (slurmd runs jobs as their user; munged runs as user munge)")
    daemons = {name: _executable(name) for name in DAEMONS}
    for name in CLIENTS:
        _executable(name)
    # Not pytest's tmp_path: its folders are private (0700), and munged refuses a socket others cannot reach.
    folder = Path(tempfile.mkdtemp(prefix="hpo-slurm-", dir="/tmp"))
    folder.chmod(0o755)
    node = socket.gethostname().split(".")[0]
    cluster = SlurmCluster(folder, folder / "slurm.conf", node)
    try:
        _start(cluster, daemons)
        yield cluster
    finally:
        _stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _start(cluster: SlurmCluster, daemons: dict[str, str]) -> None:
    """Configure and start the daemons; skip the test (with their logs) when one does not come up."""
    folder = cluster.folder
    for name in ("state", "spool", "log"):
        (folder / name).mkdir()
    try:
        _start_munge(folder, daemons["munged"])
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"munged did not start: {exc.stderr!r}")
    cluster.conf.write_text(_slurm_conf(folder, cluster.node, os.cpu_count() or 1), encoding="utf-8")
    env = {**os.environ, **cluster.env}
    for name, extra in (("slurmctld", []), ("slurmd", ["-N", cluster.node])):
        started = subprocess.run(
            [daemons[name], "-f", str(cluster.conf), *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if started.returncode != 0:
            pytest.skip(f"{name} did not start: {started.stderr.strip()}\n{cluster.logs()}")
    deadline = time.monotonic() + START_TIMEOUT_S
    while "idle" not in _node_state(cluster):
        if time.monotonic() > deadline:
            pytest.skip(f"the SLURM node never became idle ({_node_state(cluster)!r})\n{cluster.logs()}")
        time.sleep(0.5)


def _node_state(cluster: SlurmCluster) -> str:
    completed = subprocess.run(
        ["sinfo", "--noheader", "--format", "%T"],
        env={**os.environ, **cluster.env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return completed.stdout.strip() or completed.stderr.strip()
