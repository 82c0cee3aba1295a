"""``souverain plan`` and ``report`` answer the bad input of :mod:`tests.support.malformed`
that needs no cluster with one line on stderr and exit code 1 (2 for wrong arguments),
never a traceback; a bad file is refused before any cluster is looked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from souverain.cli import main
from tests.support.malformed import CLI_ROWS, Command, Malformed


def run(row: Malformed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The exit code and stderr of the row's command, with no cluster to be found."""
    assert isinstance(row.given, Command)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    file = tmp_path / "objects.yaml"
    if isinstance(row.given.file, bytes):
        file.write_bytes(row.given.file)
    elif row.given.file is not None:
        file.write_text(row.given.file)
    args = [arg.replace("{file}", str(file)) for arg in row.given.args]
    try:
        code = main(args)
    except SystemExit as exit:
        code = int(exit.code or 0)
    return code, row.says.replace("{file}", str(file))


@pytest.mark.parametrize("row", CLI_ROWS, ids=[f"{r.entry}: {r.name}" for r in CLI_ROWS])
def test_bad_input_gets_one_line_and_an_exit_code(
    row: Malformed,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, says = run(row, tmp_path, monkeypatch)
    out, err = capsys.readouterr()
    assert code == row.answer, err
    assert "Traceback" not in err
    assert out == ""
    lines = err.splitlines()
    if code == 2:  # argparse: the usage, then the error
        assert lines[-1].startswith(f"souverain {row.given.args[0]}: error: "), err
    else:
        assert len(lines) == 1, err
        assert lines[0].startswith("souverain: "), err
    assert says in lines[-1]


def test_the_help_of_plan_and_report_gives_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for command in ("plan", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "Exit codes: 0 done; 1 the input or the cluster cannot be used" in text
        assert "2 wrong arguments" in text
