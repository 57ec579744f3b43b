#!/usr/bin/env python3
"""The variables of every Ansible role, from its defaults/main.yml, as Markdown.

    scripts/role-variables.py            print the tables
    scripts/role-variables.py --check    exit 1 unless docs/deployment.md holds them,
                                         every variable is prefixed with its role's
                                         name and has a comment

Each variable's documentation is the comment block above it in defaults/main.yml; a
variable without a default is written there as a commented `# name:` line (required).
docs/deployment.md carries the output between the markers
`<!-- role-variables:begin -->` and `<!-- role-variables:end -->`.
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
ROLES = ROOT / "ansible" / "roles"
DOC = ROOT / "docs" / "deployment.md"
ORDER = ["common", "postgresql", "redis", "backend", "loadbalancer", "web"]
BEGIN, END = "<!-- role-variables:begin -->", "<!-- role-variables:end -->"


def variables(role):
    """(name, default or None when required, doc) for each variable of the role.

    A variable's doc is the comment block above it; variables listed one after the other
    without a blank line share the comment above the first."""
    path = ROLES / role / "defaults" / "main.yml"
    values = yaml.safe_load(path.read_text()) or {}
    out, comment, shared = [], [], ""
    for line in path.read_text().splitlines():
        required = re.match(r"^# (\w+):\s*$", line)
        top = re.match(r"^(\w+):", line)
        if required or top:
            name = (required or top).group(1)
            own = " ".join(comment)
            default = None if required else flow(values[name])
            out.append((name, default, own or ("(see the row above)" if shared else "")))
            comment, shared = [], own or shared
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        elif not line.strip():
            comment, shared = [], ""
    return out


def flow(value):
    """A default value on one line (YAML flow style)."""
    if isinstance(value, str):
        return value if value.strip() == value and value else json.dumps(value)
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def escape(text):
    """Text for a Markdown table cell."""
    return text.replace("|", "\\|")


def markdown():
    parts = []
    for role in ORDER:
        parts.append(f"#### `{role}`\n\n| variable | default | what |\n|---|---|---|")
        for name, default, doc in variables(role):
            shown = "**required**" if default is None else "`" + escape(default) + "`"
            parts.append(f"| `{name}` | {shown} | {escape(doc)} |")
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def check():
    problems = []
    for role in ORDER:
        for name, _default, doc in variables(role):
            if not name.startswith(role + "_"):
                problems.append(f"{role}: {name} is not prefixed with {role}_")
            if not doc:
                problems.append(f"{role}: {name} has no comment")
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        problems.append(f"{DOC}: no {BEGIN} ... {END} section")
    else:
        current = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
        if current != markdown().strip():
            problems.append(f"{DOC}: role variables out of date (scripts/role-variables.py > paste)")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    if sys.argv[1:] == ["--write"]:
        text = DOC.read_text()
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        DOC.write_text(head + BEGIN + "\n" + markdown() + END + tail)
        sys.exit(0)
    sys.stdout.write(markdown())
