"""The README's quick start is what CI runs."""
import re

from conftest import REPO


def quick_start_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```\n(.+?)\n```", section)


def test_readme_opens_with_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "anix demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert quick_start_commands()[1] in ci.splitlines()
