"""Reading the docs as a test does: a README section, and the code blocks of one language."""

from __future__ import annotations

import re


def section(text: str, title: str) -> str:
    """The `## title` section of a Markdown text, up to the next `## ` heading."""
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def blocks(text: str, language: str) -> list[str]:
    """The fenced code blocks of `language` in a Markdown text."""
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)
