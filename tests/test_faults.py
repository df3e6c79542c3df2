"""A careless learner and a bad day: bad settings, damaged files, two runs at once, Ctrl-C, dead servers.

Each case runs lessons as a learner would (a child process) on Milvus Lite files of its own, so it needs
no server; every one must end with a short message, the right exit code, and no traceback.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from common.config import REPO_ROOT

import pytest

from tests.helpers import lesson_path, run_lesson_script, running_processes, sigterm_and_wait

ENV_CHECK = "step01_basics/01_environment_check.py"


def clean_failure(done: subprocess.CompletedProcess, *expected: str, code: int = 2) -> None:
    assert done.returncode == code, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr
    for text in expected:
        assert text in done.stderr, (text, done.stderr)


def with_uri(uri: str, lesson: str = ENV_CHECK, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_lesson_script(lesson, *argv, cwd=cwd, env={"MILVUS_URI": uri}, unset=("COURSE_MILVUS_URI",), timeout=120)


@pytest.mark.parametrize(
    "uri,says",
    [
        ("http://", "has no host"),
        (":99999", "ends in .db"),
        ("unix://x", "scheme 'unix'"),
        ("http://[::1:1", "cannot be parsed"),
        ("http://127.0.0.1:99999", "Port out of range"),
    ],
)
def test_malformed_milvus_uri_in_the_environment(uri, says, tmp_path):
    clean_failure(with_uri(uri, cwd=tmp_path), says, "MILVUS_URI")
    listed = subprocess.run(
        [sys.executable, "-m", "course.curriculum", "list"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "MILVUS_URI": uri},
        timeout=120,
    )
    assert listed.returncode == 0 and "Illegal uri" not in listed.stderr, listed.stderr[-1500:]


@pytest.mark.parametrize(
    "uri,says",
    [
        ("/proc/course.db", "cannot write the Milvus Lite database /proc/course.db"),
        ("/sys/course.db", "cannot write the Milvus Lite database /sys/course.db"),
        ("/etc/hostname/course.db", "/etc/hostname is a file, not a folder"),
    ],
)
def test_unusable_lite_paths_name_the_real_cause(uri, says, tmp_path):
    done = with_uri(uri, cwd=tmp_path)
    clean_failure(done, says)
    assert "start an engine" not in done.stderr  # nothing to start: the path is the problem


def damage_a_collection(db: Path) -> Path:
    """Make a Lite database with one flushed collection, then truncate its data file."""
    code = (
        "import common\nfrom pymilvus import MilvusClient, DataType\n"
        f"c = MilvusClient(uri={str(db)!r})\n"
        "s = MilvusClient.create_schema(auto_id=False)\n"
        "s.add_field(field_name='id', datatype=DataType.INT64, is_primary=True)\n"
        "s.add_field(field_name='v', datatype=DataType.FLOAT_VECTOR, dim=4)\n"
        "c.create_collection(collection_name='victim', schema=s)\n"
        "c.insert(collection_name='victim', data=[{'id': i, 'v': [0.1, 0.2, 0.3, i / 500]} for i in range(500)])\n"
        "c.flush(collection_name='victim')\nc.close()\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "MILVUS_URI": ""},
    )
    data = next((db / "collections" / "victim").rglob("*.parquet"))
    data.write_bytes(data.read_bytes()[:100])
    return db / "collections" / "victim"


def test_a_damaged_lite_database_says_what_is_damaged_and_the_fix_works(tmp_path):
    db = tmp_path / "damaged.db"
    folder = damage_a_collection(db)
    done = with_uri(str(db), cwd=tmp_path)
    clean_failure(done, "is damaged", "collection 'victim'", f"rm -r '{folder}'", "make reset-db")
    subprocess.run(["rm", "-r", str(folder)], check=True)  # the fix, as the message writes it
    again = with_uri(str(db), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]


def test_reset_db_says_what_it_removes(tmp_path):
    db = tmp_path / "course.db"
    damage_a_collection(db)
    done = subprocess.run(
        [sys.executable, "-m", "course.curriculum", "reset-db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MILVUS_URI": str(db)},
    )
    assert done.returncode == 0, done.stderr
    assert f"removing the Milvus Lite database {db}" in done.stdout and "victim" in done.stdout
    assert not db.exists()


def test_two_lessons_started_at_once_on_one_database(tmp_path):
    for attempt in range(3):
        db = tmp_path / f"race{attempt}.db"
        env = {**os.environ, "MILVUS_URI": str(db)}
        runs = [
            subprocess.Popen(
                [sys.executable, str(lesson_path(ENV_CHECK)), "--pings", "200"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
        codes = sorted(code for code, _ in results)
        assert codes in ([0, 0], [0, 2]), results
        for code, err in results:
            assert "Traceback" not in err
            if code == 2:
                assert "another process is using the Milvus Lite database" in err, err


def interrupt(command: list[str], after: float, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    """Press Ctrl-C: SIGINT to the whole process group, as a terminal does."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(after)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=90)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("runner", [True, False], ids=["runner", "lesson"])
def test_ctrl_c_ends_with_one_line(runner, tmp_path):
    env = {**os.environ, "MILVUS_URI": str(tmp_path / "ctrlc.db"), "PYTHONUNBUFFERED": "1"}
    lesson = "step02_core_features/02_search_tuning.py"
    command = (
        [sys.executable, "-m", "course.curriculum", "run", "2.2"]
        if runner
        else [sys.executable, str(lesson_path(lesson))]
    )
    done = interrupt(command, after=8, cwd=REPO_ROOT, env=env)
    assert done.returncode == 130, (done.stdout[-500:], done.stderr[-2000:])
    assert done.stderr.strip() == "interrupted", done.stderr[-2000:]


def test_a_dead_uri_leaves_the_previous_backup_alone(tmp_path):
    previous = tmp_path / "s4_l5_catalog"
    previous.mkdir()
    (previous / "manifest.json").write_text(json.dumps({"row_count": 5000}))
    done = run_lesson_script(
        "step04_advanced/05_backup_restore.py",
        "--uri",
        "http://127.0.0.1:1",
        "--dir",
        str(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    clean_failure(done, "http://127.0.0.1:1")
    assert json.loads((previous / "manifest.json").read_text()) == {"row_count": 5000}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s4_l5_catalog"]


STREAMING = "step04_advanced/04_streaming_ingest.py"


def start_streaming(tmp_path, name: str) -> tuple[subprocess.Popen, list[tuple[int, str]]]:
    """Start the lesson on a Lite file under ``tmp_path`` and wait until its consumer runs."""
    lesson = subprocess.Popen(
        [sys.executable, str(lesson_path(STREAMING)), "--events", "100000", "--rate", "500"],
        cwd=tmp_path,
        env={**os.environ, "MILVUS_URI": str(tmp_path / f"{name}.db")},
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "lesson.err", "w"),  # noqa: SIM115 - the child holds it
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        consumers = [p for p in running_processes() if "--role consumer" in p[1] and f"events_{lesson.pid}" in p[1]]
        if consumers:
            time.sleep(2)  # upserting by now
            return lesson, consumers
        time.sleep(0.2)
    lesson.kill()
    raise AssertionError("the lesson never started its consumer")


def lite_server_and_broker() -> list[tuple[int, str]]:
    return [p for p in running_processes() if "streaming_proofs serve-lite" in p[1] or "tansu" in p[1].split(" ")[0]]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_streaming_lesson_killed_leaves_no_process_behind(how, tmp_path):
    """`kill` or `kill -9` of the lesson mid-run: its consumers, broker and Lite server go too; a rerun works."""
    lesson, consumers = start_streaming(tmp_path, "streamkill")
    below = descendants(lesson.pid)  # this lesson's own: another run's broker or server may be up meanwhile
    helpers_started = [p for p in lite_server_and_broker() if p[0] in below]
    assert consumers and helpers_started, (consumers, helpers_started)
    if how == "SIGTERM":
        assert sigterm_and_wait(lesson, timeout=60) == 130
    else:
        lesson.kill()  # SIGKILL: the lesson runs no cleanup at all
        lesson.wait()
    deadline = time.monotonic() + 10
    alive = {pid for pid, _ in consumers + helpers_started}
    while time.monotonic() < deadline and alive & {pid for pid, _ in running_processes()}:
        time.sleep(0.2)
    assert not alive & {pid for pid, _ in running_processes()}, "left behind: " + str(consumers + helpers_started)
    rerun = subprocess.run(
        [sys.executable, str(lesson_path(STREAMING)), "--events", "300"],
        cwd=tmp_path,
        env={**os.environ, "MILVUS_URI": str(tmp_path / "streamkill.db")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]  # the database lock was released with the processes


def children_of(parent: int) -> dict[int, str]:
    """The processes whose parent is ``parent`` (from /proc), with their command lines."""
    found = {}
    for pid, command in running_processes():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found[pid] = command
    return found


def ctrl_c_streaming(tmp_path, trial: int, after: float) -> tuple[subprocess.CompletedProcess, dict[int, str]]:
    """Run 4.4, press Ctrl-C ``after`` s after its first consumer started; return the run and its children."""
    lesson = subprocess.Popen(
        [sys.executable, str(lesson_path(STREAMING)), "--events", "6000", "--rate", "1000"],
        cwd=tmp_path,
        env={**os.environ, "MILVUS_URI": str(tmp_path / f"ctrlc{trial}.db"), "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # its own process group, as a terminal's foreground job
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline, children = time.monotonic() + 60, {}
    while time.monotonic() < deadline and not any("--role consumer" in c for c in children.values()):
        time.sleep(0.2)
        children = children_of(lesson.pid)
    time.sleep(after)
    children.update(children_of(lesson.pid))
    os.killpg(lesson.pid, signal.SIGINT)  # what Ctrl-C sends: the lesson's whole process group
    out, err = lesson.communicate(timeout=90)
    return subprocess.CompletedProcess(lesson.args, lesson.returncode, out, err), children


@pytest.mark.parametrize("trial,after", [(0, 0.5), (1, 4.0), (2, 9.0)])  # first consumer, its kill, its restart
def test_ctrl_c_of_the_streaming_lesson_shows_no_consumer_traceback(tmp_path, trial, after):
    done, children = ctrl_c_streaming(tmp_path, trial, after)
    assert any("--role consumer" in c for c in children.values()), children
    assert any("serve-lite" in c for c in children.values()) and any("tansu" in c for c in children.values()), children
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    assert done.returncode == 130 and done.stderr.strip().splitlines()[-1] == "interrupted", done.stderr[-2000:]
    deadline = time.monotonic() + 5  # the reapers finish what the lesson's own shutdown did not
    while time.monotonic() < deadline and set(children) & {pid for pid, _ in running_processes()}:
        time.sleep(0.1)
    left = {pid: command for pid, command in running_processes() if pid in children}
    assert not left, f"left behind after Ctrl-C: {left}"


@pytest.mark.parametrize("victim", ["serve-lite", "tansu"])
def test_a_broker_or_server_dying_mid_run_is_named_in_one_error(tmp_path, victim):
    """SIGKILL the Lite server or the broker while consumers write: the lesson names it, no traceback."""
    lesson, _ = start_streaming(tmp_path, "dies")
    children = children_of(lesson.pid)
    mine = [pid for pid, command in children.items() if victim in command and "os.killpg" not in command]  # no reaper
    assert len(mine) == 1, {pid: children[pid][:200] for pid in mine}
    os.kill(mine[0], signal.SIGKILL)
    lesson.wait(timeout=120)
    err = (tmp_path / "lesson.err").read_text()
    assert lesson.returncode == 2 and "Traceback" not in err, err[-3000:]
    name = "the Milvus Lite server" if victim == "serve-lite" else "the Tansu broker"
    assert f"error: {name} (pid {mine[0]}) was killed by SIGKILL while the lesson ran" in err, err[-3000:]
    assert len(err.strip().splitlines()) <= 3, err  # the error and its fix; the consumers stop quietly


def test_a_dead_kafka_bootstrap_fails_fast_in_two_lines(tmp_path):
    started = time.monotonic()
    done = run_lesson_script(
        STREAMING,
        cwd=tmp_path,
        env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "MILVUS_URI": str(tmp_path / "deadbroker.db")},
        unset=("COURSE_MILVUS_URI",),
        timeout=60,
    )
    clean_failure(done, "cannot reach the Kafka broker at 127.0.0.1:1", "docker compose --profile streaming up -d")
    assert time.monotonic() - started < 10 and not done.stdout.strip(), done.stdout


def test_a_silent_kafka_bootstrap_fails_in_seconds(tmp_path):
    with socket.socket() as silent:  # accepts connections, never answers: not a Kafka broker
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        done = run_lesson_script(
            STREAMING,
            cwd=tmp_path,
            env={"KAFKA_BOOTSTRAP_SERVERS": address, "MILVUS_URI": str(tmp_path / "silent.db")},
            unset=("COURSE_MILVUS_URI",),
            timeout=60,
        )
    clean_failure(done, f"the Kafka broker at {address} did not answer")
    assert time.monotonic() - started < 15


def test_the_consumer_process_refuses_to_run_by_hand(tmp_path):
    by_flag = run_lesson_script(STREAMING, "--role", "consumer", cwd=tmp_path, timeout=30)
    clean_failure(by_flag, "unrecognized arguments: --role consumer")
    started = time.monotonic()
    by_module = subprocess.run(
        [sys.executable, "-m", "common.streaming_proofs", "--role", "consumer", "t"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )
    clean_failure(by_module, "the consumer process lesson 4.4 starts itself")
    assert len(by_module.stderr.strip().splitlines()) == 1 and time.monotonic() - started < 15


# --------------------------------------------------------------------------- the machine's limits, the learner's files


def reset_db(db: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "course.curriculum", "reset-db"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MILVUS_URI": str(db)},
    )


def test_reset_db_never_deletes_what_milvus_lite_did_not_make(tmp_path):
    folder = tmp_path / "u.db"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("three years of work")
    (folder / "sub" / "notes.md").write_text("notes")
    done = reset_db(folder, tmp_path)
    clean_failure(done, "is not a Milvus Lite database", "thesis.txt", "nothing removed")
    assert (folder / "thesis.txt").read_text() == "three years of work" and (folder / "sub" / "notes.md").exists()
    single = tmp_path / "f.db"
    single.write_text("mine")
    clean_failure(reset_db(single, tmp_path), "it is a file", "nothing removed")
    assert single.read_text() == "mine"
    clean_failure(with_uri(str(folder), cwd=tmp_path), "is not a Milvus Lite database", "thesis.txt")  # nor opened
    assert sorted(p.name for p in folder.iterdir()) == ["sub", "thesis.txt"]


def test_open_locks_live_beside_the_database_not_in_tmp(tmp_path):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("milvus-course-open-*.lock"))
    db = tmp_path / "locks.db"
    done = with_uri(str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(Path(tempfile.gettempdir()).glob("milvus-course-open-*.lock")) == before
    assert (tmp_path / "locks.db.open.lock").exists()  # kept: unlinking a lock after unlocking races
    assert reset_db(db, tmp_path).returncode == 0 and not db.exists()


def test_a_run_too_big_for_the_memory_is_refused_before_allocating(tmp_path):
    start = time.monotonic()
    done = with_uri(
        str(tmp_path / "m.db"), "step01_basics/04_insert_and_search.py", "--n", "2000000", "--dim", "4096", cwd=tmp_path
    )
    assert time.monotonic() - start < 15  # the child's start-up included; the check itself takes milliseconds
    clean_failure(done, "GiB of memory", "lower --n or --dim")
    assert not (tmp_path / "m.db").exists()  # refused before connecting, too


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs (root only), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"skipped: needs root to mount a small tmpfs (mount said {made.stderr.decode().strip()[:80]})")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_the_rerun_passes_once_space_is_free(small_disk, tmp_path):
    db = small_disk / "course.db"
    for _ in range(2):  # the rerun on a still-full disk says the same
        done = with_uri(str(db), "step01_basics/04_insert_and_search.py", cwd=tmp_path)
        clean_failure(done, "the disk is full (No space left on device)", "df -h")
    subprocess.run(["mount", "-o", "remount,size=400m", str(small_disk)], check=True)  # space freed
    again = with_uri(str(db), "step01_basics/04_insert_and_search.py", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]


def test_an_immutable_file_in_the_database_is_one_line(tmp_path):
    if subprocess.run(["which", "chattr"], capture_output=True).returncode != 0:
        pytest.skip("skipped: needs chattr (e2fsprogs)")
    db = tmp_path / "imm.db"
    code = (
        "import common\nfrom common.connection import connect\nc = connect()\n"
        "c.create_collection('s1_l4_articles', dimension=4)\n"
        "c.insert('s1_l4_articles', [{'id': 1, 'vector': [1, 2, 3, 4]}])\nc.flush('s1_l4_articles')\nc.close()\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=120, env={**os.environ, "MILVUS_URI": str(db)}
    )
    schema = db / "collections" / "s1_l4_articles" / "schema.json"
    if subprocess.run(["chattr", "+i", str(schema)], capture_output=True).returncode != 0:
        pytest.skip("skipped: needs a file system with immutable files (chattr +i) and root")
    try:
        done = with_uri(str(db), "step01_basics/04_insert_and_search.py", "--n", "500", cwd=tmp_path)
        clean_failure(done, "Milvus Lite cannot change its files", "chattr -i")
        clean_failure(reset_db(db, tmp_path), "could not remove all of", "chattr -i")
    finally:
        subprocess.run(["chattr", "-i", str(schema)], check=False)


def test_a_disk_filling_up_mid_backup_keeps_the_old_backup_and_leaves_no_partial(small_disk, tmp_path):
    lesson, backups = "step04_advanced/05_backup_restore.py", small_disk / "backups"
    first = with_uri(str(tmp_path / "b.db"), lesson, "--dir", str(backups), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    manifest = (backups / "s4_l5_catalog" / "manifest.json").read_text()
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * (free - 300_000))  # room for less than one backup
    full = with_uri(str(tmp_path / "b.db"), lesson, "--dir", str(backups), cwd=tmp_path)
    clean_failure(full, "the disk is full (No space left on device)", str(backups / "s4_l5_catalog.partial"))
    assert (backups / "s4_l5_catalog" / "manifest.json").read_text() == manifest  # the old backup is intact
    assert not list(backups.glob("*.partial"))
    (small_disk / "filler").unlink()
    again = with_uri(str(tmp_path / "b.db"), lesson, "--dir", str(backups), cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]


@pytest.mark.parametrize("where", ["file", "proc", "inside-file", "reports-file"])
def test_backup_folder_options_are_checked_before_any_work(where, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    argv, env = {
        "file": (["--dir", str(afile)], {}),
        "proc": (["--dir", "/proc/backups"], {}),
        "inside-file": (["--dir", str(afile / "sub")], {}),
        "reports-file": ([], {"REPORTS_DIR": str(afile)}),
    }[where]
    done = run_lesson_script(
        "step04_advanced/05_backup_restore.py",
        *argv,
        cwd=tmp_path,
        env={"MILVUS_URI": str(tmp_path / "p.db"), **env},
        unset=("COURSE_MILVUS_URI",),
        timeout=120,
    )
    clean_failure(done, "not a folder" if where != "proc" else "/proc is the kernel's")
    assert "== 1. Back up" not in done.stdout and afile.read_text() == "mine"


def test_a_backup_folder_holding_a_learners_files_is_never_replaced(tmp_path):
    backups = tmp_path / "backups"
    (backups / "s4_l5_catalog").mkdir(parents=True)
    (backups / "s4_l5_catalog" / "my_notes.txt").write_text("mine")
    done = with_uri(str(tmp_path / "n.db"), "step04_advanced/05_backup_restore.py", "--dir", str(backups), cwd=tmp_path)
    clean_failure(done, "is not a backup made by this lesson", "my_notes.txt", "nothing removed")
    assert (backups / "s4_l5_catalog" / "my_notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "argv,says", [(["--sizes"], "expected at least one argument"), (["--sizes", "0"], "out of range")]
)
def test_list_options_refuse_empty_lists_and_bad_values(argv, says, tmp_path):
    done = with_uri(str(tmp_path / "s.db"), "step04_advanced/01_performance_patterns.py", *argv, cwd=tmp_path)
    clean_failure(done, says)


def test_one_of_refuses_unknown_names():
    import argparse

    from common import cli

    assert cli.OneOf(["FLAT", "HNSW"])("hnsw") == "HNSW"
    with pytest.raises(argparse.ArgumentTypeError, match="not one of FLAT, HNSW"):
        cli.OneOf(["FLAT", "HNSW"])("DISKANN")


def test_text_search_against_a_silent_listener_fails_before_encoding(tmp_path):
    import socket

    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        done = run_lesson_script(
            "step03_use_cases/01_text_search.py",
            cwd=tmp_path,
            env={"MILVUS_URI": uri, "COURSE_CACHE_DIR": str(tmp_path / "cold-cache")},
            unset=("COURSE_MILVUS_URI",),
            timeout=120,
        )
        seconds = time.monotonic() - start
    clean_failure(done, f"Milvus at {uri} did not answer")
    assert seconds < 15, seconds
    assert not (tmp_path / "cold-cache" / "embeddings").exists() or not any((tmp_path / "cold-cache").rglob("*.npz"))


def test_a_truncated_embedding_cache_is_rebuilt_with_a_note(tmp_path, capsys):
    from common.embeddings import EmbeddingCache, SentenceModel

    import numpy as np

    class Model:  # stands in for SentenceModel.model: sentence-transformers' encode()
        def encode(self, texts, **kwargs):
            return np.array([[len(t), 1.0, 2.0] for t in texts], dtype=np.float32)

    model = SentenceModel(model=Model(), name="fake", dim=3)
    cache = EmbeddingCache(model, tmp_path)
    first = cache.encode(["a", "bb", "ccc"], progress=False)
    cache.path.write_bytes(cache.path.read_bytes()[:-40])  # truncated, as a full disk or a kill leaves it
    capsys.readouterr()
    again = EmbeddingCache(model, tmp_path)
    assert "is damaged" in capsys.readouterr().out
    assert np.array_equal(again.encode(["a", "bb", "ccc"], progress=False), first) and again.misses == 3
    assert EmbeddingCache(model, tmp_path).encode(["a"], progress=False).shape == (1, 3)  # rebuilt and readable


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root`` (by parent pid), with its command line."""
    parents = {}
    for pid, _ in running_processes():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [root]
    commands = dict(running_processes())
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                found[pid] = commands.get(pid, "")
                frontier.append(pid)
    return found


def test_sigkill_of_the_runner_takes_its_lessons_children_with_it(tmp_path):
    runner = subprocess.Popen(
        [sys.executable, "-m", "course.curriculum", "run", "4.4"],
        cwd=REPO_ROOT,
        env={**os.environ, "MILVUS_URI": str(tmp_path / "runnerkill.db")},
        stdout=open(tmp_path / "runner.out", "w"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, below = time.monotonic() + 90, {}
        while time.monotonic() < deadline and not any("--role consumer" in c for c in below.values()):
            time.sleep(0.2)
            below = {**below, **descendants(runner.pid)}
        assert any("_child" in c for c in below.values()), (below, (tmp_path / "runner.out").read_text()[-2000:])
        assert any("--role consumer" in c for c in below.values()) and any("tansu" in c for c in below.values()), below
        runner.kill()
        runner.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and set(below) & {pid for pid, _ in running_processes()}:
            time.sleep(0.1)
        left = {pid: below[pid] for pid, _ in running_processes() if pid in below}
        assert not left, f"left behind 5 s after SIGKILL of the runner: {left}"
    finally:
        if runner.poll() is None:
            runner.kill()


def test_ctrl_c_of_the_runner_never_shows_a_childs_traceback(tmp_path):
    for trial, after in enumerate((2.5, 3.5, 4.5, 6.0)):  # during start-up, insert, index and search
        env = {**os.environ, "MILVUS_URI": str(tmp_path / f"ctrlc{trial}.db"), "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "course.curriculum", "run", "1.4"]
        done = interrupt(command, after=after, cwd=REPO_ROOT, env=env)
        if done.returncode == 0:
            continue  # finished before the key was pressed
        assert done.returncode == 130, (trial, done.returncode, done.stderr[-2000:])
        assert done.stderr.strip() == "interrupted", (trial, done.stderr[-3000:])
