"""Rendering a report: the Jinja templates, markdown escaping, plots embedded in HTML.

Shared by the run report and the sweep report, which each compute a context of words
and figures and hand it here to become `report.md` and a self-contained `report.html`.
"""

import base64
from pathlib import Path
from typing import Any

import jinja2

from bench.disk import write_whole
from bench.layout import RunFolder

TEMPLATES = Path(__file__).parent / "templates"


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


MD_ESCAPES = str.maketrans({"\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|",
                            "*": "\\*", "_": "\\_", "`": "\\`", "[": "\\[", "]": "\\]",
                            "\n": " "})  # fmt: skip


def md_escape(text: Any) -> str:
    """Data shown in markdown renders as itself: no table breaks, no HTML, no emphasis."""
    return str(text).translate(MD_ESCAPES)


def environment() -> jinja2.Environment:
    """Autoescape for the HTML template (names and reasons are data, not markup)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md_escape
    return env


def write_reports(
    folder: Path, template: str, context: dict[str, Any], plots: list[tuple[str, Path]]
) -> tuple[Path, Path]:
    """Render `<template>.md.j2` and `.html.j2` into `folder/report.md` and `report.html`.

    `plots` are (caption, png path); markdown links them, HTML embeds them.
    """
    env = environment()
    run = RunFolder(folder)
    md_path, html_path = run.report("md"), run.report("html")
    md_plots = [(caption, path.relative_to(folder).as_posix()) for caption, path in plots]
    # each written aside and renamed: a full disk leaves the old file or none, never half
    write_whole(md_path, env.get_template(f"{template}.md.j2").render(**context, plots=md_plots))
    html_plots = [(caption, data_uri(path)) for caption, path in plots]
    write_whole(
        html_path, env.get_template(f"{template}.html.j2").render(**context, plots=html_plots)
    )
    return md_path, html_path
