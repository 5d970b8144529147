"""Text a run writes is UTF-8 whatever the machine's locale: a run name or class name outside
the locale's characters (a cluster node with LANG=C) failed mid-checkpoint, and a file written
under one locale was misread under another."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
from ganhub.engine.checkpoint import read_texts, write_text_atomic
folder = Path(sys.argv[1])
write_text_atomic(folder / "config.yaml", "name: caf\\u00e9 \\u20ac\\n")
print(read_texts(folder, ["config.yaml"])["config.yaml"] == "name: caf\\u00e9 \\u20ac\\n")
"""


def test_config_texts_are_utf8_under_an_ascii_locale(tmp_path: Path) -> None:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0",
           "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": "utf-8"}  # fmt: skip
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True"
    assert (tmp_path / "config.yaml").read_bytes() == "name: café €\n".encode()
