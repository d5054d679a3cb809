"""Progress: plain lines (no carriage returns) off a terminal, a tqdm bar on one."""
import io

from tqdm import tqdm

from unisegdiff_pipeline import console


def test_a_log_gets_one_line_per_tenth_and_the_last():
    out = io.StringIO()
    bar = console.LineProgress(95, "predicting", "image", stream=out)
    for _ in range(95):
        bar.update()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 10 and lines[0] == "predicting: 10/95 image(s)" and lines[-1] == "predicting: 95/95 image(s)"


def test_a_terminal_gets_a_bar_and_a_pipe_gets_lines(monkeypatch):
    monkeypatch.setattr(console, "on_terminal", lambda stream=None: False)
    assert isinstance(console.progress(5, "x"), console.LineProgress)
    assert isinstance(console.progress(5, "x", enabled=False), tqdm)  # silent
    monkeypatch.setattr(console, "on_terminal", lambda stream=None: True)
    assert isinstance(console.progress(5, "x"), tqdm)
