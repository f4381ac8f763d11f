"""Reading the site's playbooks: each file validated, compiled and checked against the site."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from gateway.config.schema import schema_problems
from gateway.config.site import SiteConfig
from gateway.config.yamlfile import LineIndex, load_yaml
from gateway.errors import ConfigError, ConfigReferenceError, ConfigSchemaError, Problem
from gateway.playbook.check import check_playbook
from gateway.playbook.definition import Playbook, _compile
from gateway.playbook.fit import fit_to_site
from gateway.playbook.schema import PlaybookModel


def load_playbook(path: Path) -> tuple[Playbook, LineIndex]:
    data, lines = load_yaml(path)
    if not isinstance(data, dict):
        raise ConfigSchemaError([Problem(str(path), "", "a playbook must be a mapping")])
    try:
        model = PlaybookModel.model_validate(data)
    except ValidationError as exc:
        raise schema_problems(exc, path, lines) from None
    return _compile(model, path), lines


def load_playbooks(directory: Path, site: SiteConfig,
                   warnings: list[Problem] | None = None) -> dict[str, Playbook]:
    """Every ``*.yaml`` in the folder, fitted to the site (``gateway.playbook.fit``: what it
    has no actuator for becomes a prompt to do by hand, each said in ``warnings``) and checked
    against it; all problems at once."""
    if not directory.is_dir():
        raise ConfigReferenceError([Problem(str(site.file), "playbooks",
                                            f"playbook folder {directory} does not exist")])
    problems: list[Problem] = []
    worst: type[ConfigError] = ConfigReferenceError
    playbooks: dict[str, Playbook] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            playbook, lines = load_playbook(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            if exc.exit_code < worst.exit_code:
                worst = type(exc)
            continue
        if playbook.id in playbooks:
            problems.append(Problem(str(path), "id", f"playbook id {playbook.id!r} is also used "
                                    f"by {playbooks[playbook.id].file}", lines.line(("id",))))
            continue
        playbook, fitted = fit_to_site(playbook, site, lines)
        if warnings is not None:
            warnings.extend(fitted)
        problems.extend(check_playbook(playbook, lines, site))
        playbooks[playbook.id] = playbook
    if not playbooks and not problems:
        problems.append(Problem(str(directory), "", "no playbooks (*.yaml) found"))
    if problems:
        raise worst(problems)
    return playbooks
