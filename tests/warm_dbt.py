"""One long-lived dbt process per test process (``dbt_runner.run_dbt``): dbt's programmatic runner
(``dbtRunner``, dbt's documented Python API) invoked once per request, so that a run does not pay again
for starting Python and importing dbt and its adapter (about 2.5 s of CPU a run; a ``dbt run`` of one
model: 5.1-5.3 s as a new process, 2.2-2.6 s here).

The process imports dbt and nothing of this project. dbt imports, as plugins, the modules on
``sys.path`` whose names start with ``dbt_`` (``dbt.plugins.manager``): from this folder that would be
``dbt_runner``, which imports Dagster's dbt integration, and that leaves dbt's global flags in a
state the invocation then fails on ("'Namespace' object has no attribute 'PARTIAL_PARSE_FILE_DIFF'").
So this file's folder is taken off ``sys.path`` first (and this file's name does not start with
``dbt_``).

Protocol: one JSON request a line on stdin, ``{"args": [...], "env": {...}}`` (``env``: the whole
environment of the run, which replaces this process's); one JSON answer a line on the file descriptor
given as the only argument, ``{"ok": bool, "output": str, "error": str}``: ``output`` is dbt's
info, warning and error messages, one a line, as its console shows them; ``error`` the exception dbt
ended with, if any. dbt's own console output goes to this process's stdout (the caller discards it).
"""

import json
import os
import sys
import traceback
from pathlib import Path

# this file's folder (sys.path[0] for a script): not searched for dbt plugins (above)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

SHOWN_LEVELS = ("info", "warn", "error")


def serve(answers) -> None:
    """Answer every request on stdin until it closes."""
    from dbt.cli.main import dbtRunner

    for line in sys.stdin:
        request = json.loads(line)
        os.environ.clear()
        os.environ.update(request["env"])
        messages: list[str] = []

        def keep(event) -> None:
            if event.info.level in SHOWN_LEVELS:
                messages.append(event.info.msg)

        try:
            result = dbtRunner(callbacks=[keep]).invoke(request["args"])
            ok = bool(result.success)
            error = "" if result.exception is None else "".join(
                traceback.format_exception(result.exception))
        except BaseException:  # an answer for every request: the caller fails the test with it
            ok, error = False, traceback.format_exc()
        answers.write(json.dumps({"ok": ok, "output": "\n".join(messages), "error": error}) + "\n")
        answers.flush()


if __name__ == "__main__":
    with os.fdopen(int(sys.argv[1]), "w") as answers:
        serve(answers)
