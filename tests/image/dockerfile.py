"""Reading the Dockerfile and .dockerignore the way the Docker engine does, for tests
that prove the image without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    name: str  # upper case: FROM, ENV, RUN, ...
    args: str


def instructions(dockerfile: Path) -> list[Instruction]:
    """Instructions in order; comments dropped, backslash continuations joined."""
    result, pending = [], ""
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):  # a comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        name, _, args = text.partition(" ")
        result.append(Instruction(name.upper(), args.strip()))
    return result


def single(found: list[Instruction], name: str) -> Instruction:
    matching = [i for i in found if i.name == name]
    assert len(matching) == 1, f"expected one {name}, found {len(matching)}"
    return matching[0]


def env(found: list[Instruction]) -> dict[str, str]:
    """Every ENV key=value, in order (later ones win)."""
    values: dict[str, str] = {}
    for instruction in found:
        if instruction.name == "ENV":
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                values[key] = value
    return values


def exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form CMD or HEALTHCHECK CMD; fails on the shell form."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


# --- .dockerignore -----------------------------------------------------------------------


def _regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match syntax plus `**` (any number of folders), as the engine reads it."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out.append("[" + ("^" + body[1:] if body[:1] in "!^" else body) + "]")
            i = end
        elif char == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out))


def ignore_rules(dockerignore: Path) -> list[tuple[re.Pattern[str], bool, str]]:
    """(regex, is_exception, cleaned pattern) per line, in order."""
    rules = []
    for line in dockerignore.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if exception else line).lstrip("/")
        rules.append((_regex(pattern), exception, pattern))
    return rules


def ignored(path: str, rules: list[tuple[re.Pattern[str], bool, str]]) -> bool:
    """The last rule matching the path, or one of its parent folders, decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for regex, exception, _ in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            verdict = not exception
    return verdict


def build_context(project: Path, target: Path, dockerignore: Path) -> list[str]:
    """Copy what `docker build` would send (every file of the folder, tracked or not, that
    .dockerignore does not exclude) into target; return the relative paths copied."""
    rules = ignore_rules(dockerignore)
    exceptions = [pattern for _, exception, pattern in rules if exception]
    copied = []
    for folder, subfolders, files in os.walk(project):
        relative_folder = os.path.relpath(folder, project)
        prefix = "" if relative_folder == "." else relative_folder + "/"
        # prune folders that are excluded and that no exception could reach into
        subfolders[:] = [
            name
            for name in subfolders
            if not ignored(prefix + name, rules) or any(p.startswith(prefix + name + "/") for p in exceptions)
        ]
        for name in files:
            relative = prefix + name
            if ignored(relative, rules):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / relative, destination)
            copied.append(relative)
    return sorted(copied)
