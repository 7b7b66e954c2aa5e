"""The test session's dbt parses kept for the next session (conftest.py): stable database names, claimed
with a lock, and the saved parses copied back at exit, the newest kept."""

import os
import time

import conftest


def test_two_claims_while_the_first_is_held_get_different_tokens(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SAVED_PARSES_DIR", tmp_path)
    held = len(conftest._token_locks)
    try:
        first = conftest._claim_process_token()
        second = conftest._claim_process_token()
        assert first.endswith("_0") and second.endswith("_1"), (first, second)
        assert first.split("_")[0] == second.split("_")[0]  # the same checkout
        # the first lock released (its process ended): the next claim gets its number back
        os.close(conftest._token_locks.pop(held))
        assert conftest._claim_process_token() == first
    finally:
        while len(conftest._token_locks) > held:
            os.close(conftest._token_locks.pop())


def test_only_this_sessions_parses_go_back_and_the_newest_are_kept(tmp_path, monkeypatch):
    saved = tmp_path / "saved"
    saved.mkdir()
    monkeypatch.setattr(conftest, "SAVED_PARSES_DIR", saved)
    monkeypatch.setattr(conftest, "SAVED_PARSES_KEEP", 3)
    started = time.time()
    for n in range(2):  # kept by earlier sessions, older than this one
        old = saved / f"partial_parse-old{n}.msgpack"
        old.write_bytes(b"old")
        os.utime(old, (started - 100 + n, started - 100 + n))

    home = tmp_path / "home" / "dbt"
    conftest._copy_saved_parses(saved, home)
    assert sorted(p.name for p in home.iterdir()) == ["partial_parse-old0.msgpack", "partial_parse-old1.msgpack"]
    assert (home / "partial_parse-old0.msgpack").stat().st_mtime == started - 100  # the time kept
    for n in range(2):  # saved in this session
        (home / f"partial_parse-new{n}.msgpack").write_bytes(b"new")
    (home / "partial_parse.msgpack").write_bytes(b"latest run")  # not per connection: stays behind
    stale = home / "partial_parse-stale.msgpack"  # in the home before this session started: stays behind
    stale.write_bytes(b"stale")
    os.utime(stale, (started - 50, started - 50))

    conftest._keep_saved_parses(home, started)
    assert sorted(p.name for p in saved.iterdir()) == [
        "partial_parse-new0.msgpack", "partial_parse-new1.msgpack", "partial_parse-old1.msgpack"]
