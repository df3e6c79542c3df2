"""The embedded Milvus server from the command line (PyPI ``milvus``: ``milvus-server``)::

python -m course.server serve            # foreground, Ctrl+C stops it (make server)
python -m course.server run -- CMD ...   # start, run CMD with MILVUS_URI set, always stop (make test)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

from common import cli
from common.embedded_server import EmbeddedServer
from common.errors import interrupt_on_signal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["serve", "run"])
    parser.add_argument("--data", type=Path, default=None, help="data directory (default: a temporary one)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="for run: the command after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.action == "run" and not command:
        parser.error("run needs a command after --")

    server = EmbeddedServer(data_dir=args.data)
    # SIGTERM (CI cancelling, `kill`) must stop the server too, like Ctrl+C does.
    signal.signal(signal.SIGTERM, interrupt_on_signal)
    started = time.monotonic()
    try:
        print(f"starting milvus-server (data: {server.data_dir}) ...", flush=True)
        server.start()
        print(f"milvus-server healthy at {server.uri} after {time.monotonic() - started:.0f} s", flush=True)
        if args.action == "serve":
            print("Ctrl+C stops it.", flush=True)
            while server.process.poll() is None:
                time.sleep(1)
            return server.process.returncode or 0
        env = dict(os.environ, MILVUS_URI=server.uri)
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()
        print("milvus-server stopped", flush=True)


if __name__ == "__main__":
    cli.run(main)
