"""What the run was made from: git state (through the ``git`` command) and the environment.

``source_code/git/…``: commit id, branch, remotes, dirty flag, author, date and message of HEAD;
``source_code/diff``: the uncommitted changes as a ``.patch`` file.  ``environment/…``: Python
version and executable, platform, command line and working directory.  Nothing here raises: a
missing ``git`` or a folder outside any repository just records nothing.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from typing import Any


def _git(repo: str, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def git_info(start: str) -> dict[str, Any] | None:
    """Git state of the repository containing ``start`` (a folder), or None outside one."""
    if shutil.which("git") is None:
        return None
    top = _git(start, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    repo = top.strip()
    info: dict[str, Any] = {"repository": repo}
    head = _git(repo, "log", "-1", "--format=%H%x00%an%x00%ae%x00%aI%x00%s")
    if head:
        commit, name, email, date, message = (head.rstrip("\n").split("\x00") + [""] * 5)[:5]
        info.update(commit_id=commit, author_name=name, author_email=email, message=message)
        try:
            info["commit_date"] = _dt.datetime.fromisoformat(date)
        except ValueError:
            pass
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    if branch:
        info["branch"] = "Detached HEAD" if branch.strip() == "HEAD" else branch.strip()
    remotes = _git(repo, "remote", "-v")
    if remotes:
        info["remotes"] = sorted({line.split()[1] for line in remotes.splitlines() if len(line.split()) > 1})
    status = _git(repo, "status", "--porcelain")
    info["dirty"] = bool(status and status.strip())
    if info["dirty"] and head:
        diff = _git(repo, "diff", "HEAD")
        if diff:
            info["diff"] = diff
    return info


def write_git(run: Any, found: dict[str, Any] | None) -> None:
    """``source_code/git/…`` and ``source_code/diff`` of a run from :func:`git_info`'s answer."""
    if found is None:
        return
    info = dict(found)  # the answer is shared by the runs of the process
    diff = info.pop("diff", None)
    remotes = info.pop("remotes", None)
    run["source_code/git"] = info
    if remotes:
        run["source_code/git/remotes"].add(remotes)
    if diff:
        from naiad.tracking.files import File

        run["source_code/diff"].upload(File.from_content(diff, extension="patch"))


def record_environment(run: Any) -> None:
    run["environment"] = {
        **_interpreter(),
        "command_line": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "working_directory": os.getcwd(),
    }


@functools.lru_cache(maxsize=1)
def _interpreter() -> dict[str, str]:
    """What does not change while the process lives (``platform.platform()`` reads files and runs
    ``uname``: once)."""
    return {"python": platform.python_version(), "python_implementation": platform.python_implementation(),
            "executable": sys.executable, "platform": platform.platform()}


def installed_distributions() -> str:
    """``name==version`` of every installed distribution, a line each (``source_code/requirements``)."""
    lines = sorted({f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()
                    if d.metadata["Name"]}, key=str.lower)
    return "\n".join(lines) + "\n"


def notebook_path() -> str | None:
    """The notebook file of this kernel: ``NAIAD_NOTEBOOK_PATH``, else Jupyter's ``JPY_SESSION_NAME``."""
    from naiad.config import SETTINGS

    return SETTINGS.notebook_path.get() or None
