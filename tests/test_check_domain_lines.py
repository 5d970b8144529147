"""`ganhub.testing.check_domain` names the domain once in the line it gives for an error of
the domain's own code (it said "domain 'broken2d': PluginError: domain 'broken2d': its build()
raised ...")."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ganhub.domain import Domain
from ganhub.hookspecs import hookimpl
from ganhub.plugins import Hub
from ganhub.testing import ContractError, check_domain


class Broken(Domain):
    """toy2d's config, and a build() with a bug."""

    name = "broken2d"
    modality = "vector"

    @property
    def config_class(self) -> Any:
        from ganhub_toy2d.config import Toy2dConfig

        return Toy2dConfig

    def build(self, config: Any, hints: Any) -> Any:
        raise RuntimeError("boom")


def test_check_domain_names_a_broken_domain_once(tmp_path: Path) -> None:
    plugin = SimpleNamespace(
        register_domains=hookimpl(lambda register: register("broken2d", Broken()))
    )
    hub = Hub.discover(extra=(("broken", plugin),))
    with pytest.raises(ContractError) as err:
        check_domain("broken2d", ["tricks=[]"], hub=hub, workdir=tmp_path)
    line = str(err.value)
    assert len(line.splitlines()) == 1, line
    assert line.startswith("domain 'broken2d': PluginError: its build() raised RuntimeError: boom")
    assert line.count("broken2d") == 1, line
