"""The multi-process server, end to end: a real master, real workers, real loopback HTTP."""

from __future__ import annotations

import os
import re
import signal
import threading
from datetime import datetime
from pathlib import Path

from tests.server.workers_support import Load, WorkerServer, get, no_children_left
from tests.support import pid_alive, port_accepts, wait_for


def lines_of(server: WorkerServer, pid: int) -> list[str]:
    return [line["event"] for line in server.record.lines() if line["pid"] == pid]


def sockets_of(pid: int) -> set[str]:
    """The sockets (by inode) a process holds open."""
    links = (os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
    return {link for link in links if link.startswith("socket:")}


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()


def online_pid(server: WorkerServer, worker_id: int, other_than: int | None = None) -> int | None:
    for line in server.record.of("on_worker_online"):
        if line["worker"]["worker_id"] == worker_id and line["worker"]["pid"] != other_than:
            return line["worker"]["pid"]
    return None


def exit_of(server: WorkerServer, pid: int) -> dict | None:
    for line in server.record.of("on_worker_exit"):
        if line["worker"]["pid"] == pid:
            return line["worker"]
    return None


def answered_by(server: WorkerServer, pid: int) -> bool:
    status, body = get(server.port, "/hello")
    return status == 200 and body["pid"] == pid


def test_two_workers_share_the_load_and_build_their_own_services(tmp_path: Path) -> None:
    pid_file = tmp_path / "run" / "fw.pid"
    stats = tmp_path / "stats.json"
    with WorkerServer(tmp_path, 2, "--pid-file", str(pid_file),
                      env={"FW_TEST_STATS": str(stats)}) as server:
        server.wait_serving()
        workers = server.wait_workers(2)

        answers = [get(server.port, "/hello") for _ in range(200)]

        assert {status for status, _ in answers} == {200}
        assert {body["pid"] for _, body in answers} == set(workers)
        assert {body["worker_id"] for _, body in answers} == {1, 2}
        built_in = [line["pid"] for line in server.record.of("greeter_built")]
        assert set(built_in) <= set(workers) and server.pid not in built_in
        assert pid_file.read_text().strip() == str(server.pid)
        assert cmdline(server.pid) == "fw: master workers-test"
        assert sorted(cmdline(pid) for pid in workers) == [
            "fw: worker 1 workers-test", "fw: worker 2 workers-test"]

        first, second = (sockets_of(pid) for pid in workers)
        shared = sockets_of(server.pid) & first
        assert len(shared) == 1, "a worker shares only the listening socket with the master"
        assert first & second == shared, "a worker holds none of its sibling's pipe ends"

        master_events = lines_of(server, server.pid)
        assert master_events[:2] == ["on_server_bootstrap", "on_server_main_bootstrap"]
        assert "on_server_main_bootstrap_done" in master_events
        for pid in workers:
            assert lines_of(server, pid)[:4] == [
                "on_server_bootstrap", "on_server_worker_bootstrap", "on_server_bootstrap_done",
                "on_server_worker_bootstrap_done"]
        order = [(line["pid"], line["event"]) for line in server.record.lines()]
        main_done = order.index((server.pid, "on_server_main_bootstrap_done"))
        assert all(order.index((pid, "on_server_worker_bootstrap_done")) < main_done
                   for pid in workers)
        ids = {line["pid"]: line["worker_id"] for line in server.record.of("on_server_bootstrap")}
        assert ids[server.pid] is None and sorted(ids[pid] for pid in workers) == [1, 2]

        figures = wait_for(lambda: (s := server.stats()) and sum(
            w["requests_served"] for w in s["stats"]) >= 200 and s, message="worker stats")
        assert sorted(w["pid"] for w in figures["stats"]) == sorted(workers)
        assert all(w["rss"] > 0 and w["uptime"] > 0 for w in figures["stats"])
        assert [(w["worker_id"], w["state"], w["restarts"]) for w in figures["workers"]] == [
            (1, "serving", 0), (2, "serving", 0)]

        assert server.stop() == 0
    assert not pid_file.exists()
    assert no_children_left(workers)


def test_a_killed_worker_is_replaced_under_its_worker_id(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2) as server:
        server.wait_serving()
        server.wait_workers(2)
        victim = online_pid(server, 1)

        os.kill(victim, signal.SIGKILL)

        exited = wait_for(lambda: exit_of(server, victim), message="on_worker_exit")
        assert exited == {"worker_id": 1, "pid": victim, "exit_code": None,
                          "signal": signal.SIGKILL, "will_restart": True}
        replacement = wait_for(lambda: online_pid(server, 1, other_than=victim),
                               message="a replacement worker 1")
        wait_for(lambda: answered_by(server, replacement), message="the replacement answering")
        server.wait_workers(2)


def test_requests_wait_in_the_backlog_while_the_only_worker_restarts(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 1) as server:
        server.wait_serving()
        [victim] = server.wait_workers(1)

        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: not pid_alive(victim), message="the worker's death")

        status, body = get(server.port, "/hello")
        assert status == 200 and body["pid"] != victim and body["worker_id"] == 1


def backoffs(output: str, worker_id: int) -> list[tuple[float, float]]:
    """Each death of worker ``worker_id`` logged with a backoff: the delay the log announced,
    and the seconds until the slot's next worker was booting, by the log's timestamps."""
    line = re.compile(rf"^(\S+ \S+) \w+ framework\.server: worker {worker_id} \(pid \d+\) "
                      r"(?:booting|exited .* replaced in ([\d.]+) s \(backoff\))$", re.M)
    found: list[tuple[float, float]] = []
    died: tuple[float, float] | None = None
    for match in line.finditer(output):
        at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        if match[2] is not None:
            died = (float(match[2]), at)
        elif died is not None:
            found.append((died[0], at - died[1]))
            died = None
    return found


def test_a_worker_failing_its_bootstrap_backs_off_then_stops_the_master(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2, env={"FW_TEST_FAIL_BOOT": "1"}) as server:
        code = server.wait_exit(30)
        output = server.output()
        forked = {line["pid"] for line in server.record.of("on_server_worker_bootstrap")}
    assert code != 0
    assert "RuntimeError: database unreachable" in output
    gave_up = re.search(r"worker (\d+) failed to boot 5 times in a row", output)
    assert gave_up is not None, output
    assert "exited (3) while booting (failure 1 of 5 in a row)" in output
    waits = backoffs(output, int(gave_up[1]))  # the slot that stopped the master
    assert [delay for delay, _ in waits] == [0.1, 0.2, 0.4, 0.8]
    assert all(waited >= delay - 0.005 for delay, waited in waits), waits
    assert len(forked) >= 5
    assert no_children_left(sorted(forked))


def test_a_master_listener_failing_its_bootstrap_stops_start_up(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2, env={"FW_TEST_FAIL_MAIN": "1"}) as server:
        code = server.wait_exit(15)
        output = server.output()
    assert code == 1
    assert "RuntimeError: scheduler misconfigured" in output
    assert not server.record.of("on_server_worker_bootstrap")


def test_forking_while_the_master_runs_a_thread_is_logged(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2, env={"FW_TEST_MASTER_THREAD": "1"}) as server:
        server.wait_serving()
        server.wait_workers(2)
        warnings = server.output().count("while the master runs other threads (scheduler)")
    assert warnings == 1


def test_a_worker_whose_loop_blocks_past_worker_timeout_is_replaced(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 1, worker_timeout=2) as server:
        server.wait_serving()
        [blocked] = server.wait_workers(1)
        client = threading.Thread(target=lambda: _ignore_errors(server.port, "/block?seconds=60"),
                                  daemon=True)
        client.start()
        wait_for(lambda: server.record.of("block_started"), message="the blocking request")

        exited = wait_for(lambda: exit_of(server, blocked), message="the blocked worker's exit")
        assert exited["signal"] == signal.SIGKILL and exited["will_restart"]
        replacement = wait_for(lambda: online_pid(server, 1, other_than=blocked),
                               message="a replacement worker")
        assert answered_by(server, replacement)
        client.join(15)


def test_max_requests_recycles_a_worker_without_failing_a_request(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 1, max_requests=20) as server:
        server.wait_serving()
        [first] = server.wait_workers(1)
        answers: list[tuple[int, dict]] = []

        def recycled() -> bool:
            answers.append(get(server.port, "/hello"))
            return answers[-1][1]["pid"] != first

        wait_for(recycled, timeout=20, message="a recycled worker")
        assert {status for status, _ in answers} == {200}
        assert len(answers) > 20
        exited = wait_for(lambda: exit_of(server, first), message="the old worker's exit")
        assert exited["exit_code"] == 0 and exited["will_restart"]
        assert online_pid(server, 1, other_than=first) == answers[-1][1]["pid"]


def test_max_memory_mb_recycles_a_worker_gracefully(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 1, max_memory_mb=1) as server:
        server.wait_serving()
        first = wait_for(lambda: online_pid(server, 1), message="the first worker")
        exited = wait_for(lambda: exit_of(server, first), message="the big worker's exit")
        assert exited["exit_code"] == 0 and exited["will_restart"]
        assert "asks to be replaced: max_memory_mb" in server.output()
        assert online_pid(server, 1, other_than=first) is not None


def test_sigterm_lets_the_request_in_flight_finish_then_shuts_down_in_order(
        tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2) as server:
        server.wait_serving()
        workers = server.wait_workers(2)
        result: list[tuple[int, dict]] = []
        client = threading.Thread(target=lambda: result.append(
            get(server.port, "/slow?seconds=1.5")))
        client.start()
        [started] = wait_for(lambda: server.record.of("slow_started"), message="slow request")

        server.signal(signal.SIGTERM)

        assert server.wait_exit(15) == 0
        client.join(15)
        assert result and result[0][0] == 200
        assert not port_accepts(server.port)
        order = [(line["pid"], line["event"]) for line in server.record.lines()]
        for pid in workers:
            assert order.index((pid, "on_server_shutdown")) < order.index(
                (pid, "on_server_worker_shutdown"))
        assert order.index((started["pid"], "slow_finished")) < order.index(
            (started["pid"], "on_server_shutdown"))
        last_worker_line = max(order.index((pid, "on_server_worker_shutdown")) for pid in workers)
        assert order[last_worker_line + 1:][-2:] == [
            (server.pid, "on_server_shutdown"), (server.pid, "on_server_main_shutdown")]
        assert no_children_left(workers)


def test_a_request_longer_than_the_graceful_timeout_does_not_hold_the_master(
        tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 1, graceful_shutdown_timeout=1) as server:
        server.wait_serving()
        workers = server.wait_workers(1)
        _start_endless_request(server)

        server.signal(signal.SIGTERM)

        assert server.wait_exit(timeout=1 + 1) == 0
        assert no_children_left(workers)
        assert server.record.of("on_server_main_shutdown")


def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2, graceful_shutdown_timeout=60) as server:
        server.wait_serving()
        workers = server.wait_workers(2)
        _start_endless_request(server)

        server.signal(signal.SIGTERM)
        wait_for(lambda: "SIGTERM: stopping gracefully" in server.output(), message="stopping")
        server.signal(signal.SIGTERM)

        assert server.wait_exit(15) == 1
        assert "second SIGTERM: stopping at once" in server.output()
        assert no_children_left(workers)


def test_sighup_replaces_every_worker_without_failing_a_request(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2) as server:
        server.wait_serving()
        old = server.wait_workers(2)
        with Load(server.port) as load:
            wait_for(lambda: load.ok >= 20, message="steady load")

            server.signal(signal.SIGHUP)

            def replaced() -> list[int] | None:
                new = server.wait_workers(2)
                return new if not set(new) & set(old) else None
            new = wait_for(replaced, timeout=20, message="every worker replaced")
            served = load.ok
            wait_for(lambda: load.ok >= served + 20, message="load on the new workers")
        assert load.failures == []
        assert set(load.pids[-10:]) <= set(new)
        assert all(exit_of(server, pid)["will_restart"] for pid in old)


def test_sigttin_and_sigttou_change_the_worker_count(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2) as server:
        server.wait_serving()
        server.wait_workers(2)

        server.signal(signal.SIGTTIN)
        workers = server.wait_workers(3)
        third = online_pid(server, 3)
        assert third is not None
        listening = sockets_of(server.pid) & sockets_of(third)
        assert len(listening) == 1
        assert all(sockets_of(pid) & sockets_of(third) == listening
                   for pid in workers if pid != third)

        server.signal(signal.SIGTTOU)
        server.wait_workers(2)
        assert exit_of(server, third)["will_restart"] is False

        server.signal(signal.SIGTTOU)
        [last] = server.wait_workers(1)
        server.signal(signal.SIGTTOU)
        wait_for(lambda: "SIGTTOU ignored" in server.output(), message="SIGTTOU ignored")
        assert server.wait_workers(1) == [last]
        assert answered_by(server, last)


def test_every_worker_exits_when_the_master_is_killed(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, 2) as server:
        server.wait_serving()
        workers = server.wait_workers(2)

        os.kill(server.pid, signal.SIGKILL)

        server.wait_exit(5)
        wait_for(lambda: no_children_left(workers), timeout=2.0, message="workers to exit")


def test_reuse_port_and_auto_worker_count(tmp_path: Path) -> None:
    with WorkerServer(tmp_path, "auto", reuse_port="true") as server:
        server.wait_serving()
        workers = server.wait_workers(os.cpu_count() or 1)
        answers = {get(server.port, "/hello")[1]["pid"] for _ in range(100)}
        assert answers <= set(workers) and answers
        assert server.stop() == 0


def _start_endless_request(server: WorkerServer) -> None:
    """A request of a minute in a thread, returning once a worker has started it."""
    threading.Thread(target=lambda: _ignore_errors(server.port, "/slow?seconds=60"),
                     daemon=True).start()
    wait_for(lambda: server.record.of("slow_started"), message="slow request")


def _ignore_errors(port: int, path: str) -> None:
    try:
        get(port, path, timeout=90)
    except OSError:
        pass
