"""The command line, run in-process as a user would type it."""

from __future__ import annotations

import csv
import io

from typer.testing import CliRunner

from labelwise.cli import app

runner = CliRunner()


def invoke(*args: str, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


def exported(project) -> dict[str, str]:
    """path -> label of the CSV export."""
    out = project.parent / f"out-{len(list(project.parent.glob('out-*')))}.csv"
    invoke("export", project, "--format", "csv", "--out", out)
    text = out.read_text()
    return {r["path"]: r["label"] for r in csv.DictReader(io.StringIO(text))}
