"""Opt-in (DLPIPE_TEST_POSTGRES=1): two sweep workers share one study in a PostgreSQL server on the loopback address.

Needs the server from the OS packages (Debian: apt-get install postgresql) and psycopg2
(pip install psycopg2-binary). The test makes its own cluster in a temporary folder, on a
free port, and stops it at the end; as root it runs the server as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(
    not os.environ.get("DLPIPE_TEST_POSTGRES") or not BIN,
    reason="opt-in: DLPIPE_TEST_POSTGRES=1 with PostgreSQL installed (apt-get install postgresql)")

from conftest import ROOT, TINY_SINE  # noqa: E402
from test_sweep import counted  # noqa: E402


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture
def server():
    pytest.importorskip("psycopg2")
    base = Path(tempfile.mkdtemp(prefix="dlpipe-pg-"))  # not under pytest's folder: the server user cannot enter it
    data = base / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        os.chmod(base, 0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = lambda *args: subprocess.run(_as_server_user(list(args)), check=True, capture_output=True)  # noqa: E731
    run(f"{BIN[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "dlpipe")
    run(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-w", "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
        "-l", str(data / "log"), "start")
    try:
        run(f"{BIN[-1]}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "dlpipe", "sweeps")
        yield f"postgresql+psycopg2://dlpipe@127.0.0.1:{port}/sweeps"
    finally:
        run(f"{BIN[-1]}/pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_a_study_in_postgresql(server, write_yaml, tmp_path):
    path = write_yaml(TINY_SINE)
    done = subprocess.run([sys.executable, "-m", "dlpipe", "sweep", str(path), "--grid",
                           "optimizer.lr=1.0e-4,1.0e-3,1.0e-2,1.0e-1", "--out", str(tmp_path / "out"),
                           "--storage", server, "--study", "pg", "--jobs", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    trials = counted(optuna.load_study(study_name="pg", storage=server))
    assert sorted(t.params["optimizer.lr"] for t in trials) == [1.0e-4, 1.0e-3, 1.0e-2, 1.0e-1]
    page = Path(done.stdout.splitlines()[-1].removeprefix("sweep: ")).read_text()
    assert page.count(">report</a>") == 4 and "postgresql+psycopg2://dlpipe@127.0.0.1" in page
