"""Every settings key is documented in .env-example, and the defaults work with no .env."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest
from mlops_common.settings import project_root, reset_settings_cache
from pydantic_settings import BaseSettings

PACKAGES = (
    "mlops_common",
    "data_pipeline",
    "training_pipeline",
    "prediction_log",
    "batch_scoring",
    "online_service",
    "monitoring_pipeline",
)


def _settings_classes() -> list[type[BaseSettings]]:
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if module.name.rsplit(".", 1)[-1] == "settings":
                importlib.import_module(module.name)
    found: list[type[BaseSettings]] = []
    stack = list(BaseSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES:
            found.append(cls)
    return found


def _env_keys(cls: type[BaseSettings]) -> list[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper() for name in cls.model_fields]


def test_every_settings_key_is_in_env_example() -> None:
    example = (project_root() / ".env-example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    classes = _settings_classes()
    assert len(classes) >= 6
    missing = sorted({key for cls in classes for key in _env_keys(cls)} - documented)
    assert missing == [], f"add these keys with a comment to .env-example: {missing}"


def test_every_key_in_env_example_has_a_comment() -> None:
    key_line = re.compile(r"^#?\s*[A-Z][A-Z0-9_]+=")
    lines = (project_root() / ".env-example").read_text().splitlines()
    for index, line in enumerate(lines):
        if key_line.match(line):
            previous = lines[index - 1] if index else ""
            described = previous.startswith("#") and not key_line.match(previous)
            assert described, f".env-example line {index + 1} ({line}) needs a comment above it"


@pytest.mark.parametrize("cls", _settings_classes(), ids=lambda c: c.__name__)
def test_defaults_load_without_any_environment(
    cls: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in _env_keys(cls):
        monkeypatch.delenv(key, raising=False)
    reset_settings_cache()
    cls(_env_file=None)  # type: ignore[call-arg]
