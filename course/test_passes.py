"""``make test``: the three test passes, the server pass side by side with the Lite pass.

The server pass spends most of its time waiting on the embedded server (flushes, index builds, loads;
measured here: a load average of about 1.2 on 2 cores while it ran alone), so it runs beside the Lite
pass instead of after it, and the secured-server pass follows it (it needs the etcd ports the first
server frees). Their output goes to a log that is printed, whole, when the Lite pass has ended, so
neither pass's lines interleave with the other's. Each background pass writes its lesson reports and
pytest's temporary folders under a folder of its own (removed afterwards), so two runs of one lesson
never write one file. Ctrl-C (or SIGTERM) stops both, the embedded servers included.

    python -m course.test_passes            # what `make test` runs
    python -m course.test_passes --serial   # one pass after the other, output as it comes
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from common import cli, processes
from common.config import REPO_ROOT
from common.errors import interrupt_on_signal

LITE = ["test-lite"]
SERVER = ["test-server", "test-secure"]


def make(targets: list[str]) -> list[str]:
    return [os.environ.get("MAKE", "make"), "--no-print-directory", "-k", *targets]


def serial() -> int:
    return subprocess.run(make(LITE + SERVER), cwd=REPO_ROOT).returncode


def side_by_side() -> int:
    folder = Path(tempfile.mkdtemp(prefix="course-test-passes-"))
    log = folder / "server-passes.log"
    env = {
        **os.environ,
        "REPORTS_DIR": str(folder / "reports"),
        "PYTEST_ADDOPTS": f"--basetemp={folder / 'pytest'} -p no:cacheprovider",
    }
    (folder / "reports").mkdir()
    server = None
    try:
        with open(log, "w", encoding="utf-8") as out:
            print("=== passes 2 and 3 start beside pass 1; their output follows pass 1's ===", flush=True)
            server = processes.start(make(SERVER), cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            lite = subprocess.run(make(LITE), cwd=REPO_ROOT).returncode
            print("=== pass 1 done; waiting for passes 2 and 3 ===", flush=True)
            server_status = server.wait()
        sys.stdout.write(log.read_text(encoding="utf-8", errors="replace"))
        print(
            f"=== pass 1 (Lite): {'ok' if lite == 0 else 'FAILED'}; passes 2-3 (servers): "
            f"{'ok' if server_status == 0 else 'FAILED'} ==="
        )
        return 0 if lite == 0 and server_status == 0 else 1
    finally:
        processes.stop(server)  # after Ctrl-C: the server passes' whole group, and their servers with them
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serial", action="store_true", help="run the passes one after the other")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt_on_signal)  # SIGTERM runs the finally blocks, as Ctrl-C does
    return serial() if args.serial else side_by_side()


if __name__ == "__main__":
    cli.run(main)
