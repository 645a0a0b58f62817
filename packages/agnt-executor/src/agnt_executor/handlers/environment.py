"""What a handler's child process may see of the executor's environment: an allow-list.

A child gets a minimal base (``PATH``, ``HOME``, ``LANG``/``LANGUAGE``/``LC_*``, ``TMPDIR``,
``TZ``), the job's own ``AGNT_*`` variables (``AGNT_JOB_ID``, ``AGNT_AGENT_ID``, ``AGNT_PARAMS_JSON``,
``AGNT_OUTPUT_DIR``, ``AGNT_WORK_DIR``, ``AGNT_INPUT_DIR``), and what the manifest names:

- ``env = {NAME = "value"}``: literal values;
- ``pass_env = ["NAME", ...]``: copied from the executor's environment when set there;
- ``secrets = ["NAME", ...]``: copied like ``pass_env`` (or, when ``env`` also sets NAME,
  that literal value), and their values are masked (``***``) in every result file and
  failure reason sent to the buyer.

Nothing else reaches it: not the executor's ``AGNT_API_KEY`` (naming it in ``pass_env`` or
``secrets`` is refused when the manifest loads), not ``AGNT_API_URL``, not whatever else the
executor happens to run with.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Self

from pydantic import BaseModel, Field, StringConstraints, model_validator

EXECUTOR_KEY_ENV = "AGNT_API_KEY"
"""The executor's own key: never passed to a handler."""

BASE_ENV_NAMES: tuple[str, ...] = ("PATH", "HOME", "LANG", "LANGUAGE", "TMPDIR", "TZ")
BASE_ENV_PREFIXES: tuple[str, ...] = ("LC_",)

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
"""A portable environment variable name."""


class SecretSettings(BaseModel):
    """The manifest's ``secrets``: values masked in everything the buyer gets."""

    secrets: list[EnvName] = Field(
        default_factory=list,
        description="Passed from the executor's environment (or env); masked (***) for the buyer.",
    )

    @model_validator(mode="after")
    def _executor_key_is_no_secret(self) -> Self:
        _refuse_executor_key("secrets", self.secrets)
        return self

    def literal_env(self) -> Mapping[str, str]:
        """Values the manifest sets itself (none here)."""
        return {}

    def secret_values(self, environ: Mapping[str, str] | None = None) -> list[str]:
        """The secrets' values: the manifest's literal, else the executor's environment."""
        source = os.environ if environ is None else environ
        literal = self.literal_env()
        values = (literal.get(name) or source.get(name) for name in self.secrets)
        return [value for value in values if value]


class EnvironmentSettings(SecretSettings):
    """The manifest fields that choose a child's environment (command and gemini)."""

    env: dict[EnvName, str] = Field(
        default_factory=dict, description="Variables set to these literal values."
    )
    pass_env: list[EnvName] = Field(
        default_factory=list, description="Variables copied from the executor's environment."
    )

    @model_validator(mode="after")
    def _executor_key_is_not_passed(self) -> Self:
        _refuse_executor_key("pass_env", self.pass_env)
        both = sorted(set(self.env) & set(self.pass_env))
        if both:
            raise ValueError(f"{', '.join(both)}: named in both env and pass_env; keep one")
        return self

    def literal_env(self) -> Mapping[str, str]:
        """The manifest's ``env``."""
        return self.env


def _refuse_executor_key(field: str, names: Iterable[str]) -> None:
    if EXECUTOR_KEY_ENV in names:
        raise ValueError(
            f"{field} names {EXECUTOR_KEY_ENV}: the executor's API key never reaches a handler; "
            'give the handler a key of its own under another name (secrets = ["MY_AGENT_KEY"])'
        )


def base_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables every child gets from ``environ``: path, home, locale, temp dir, zone."""
    return {
        name: value
        for name, value in environ.items()
        if name in BASE_ENV_NAMES or name.startswith(BASE_ENV_PREFIXES)
    }


def child_environment(
    settings: EnvironmentSettings,
    job_variables: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A child's whole environment: base, manifest ``env``/``pass_env``/``secrets``, job vars.

    ``environ`` defaults to the executor's environment now. A passed name that is not set
    there is left out. The job's own variables come last, so nothing overrides them.
    """
    source = os.environ if environ is None else environ
    passed = {
        name: source[name]
        for name in (*settings.pass_env, *settings.secrets)
        if name in source and name != EXECUTOR_KEY_ENV
    }
    return {**base_environment(source), **passed, **settings.env, **job_variables}


def missing_variables(
    settings: SecretSettings, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The ``pass_env`` and ``secrets`` names set neither in ``environ`` nor in ``env``."""
    source = os.environ if environ is None else environ
    names = (*getattr(settings, "pass_env", ()), *settings.secrets)
    return [name for name in names if name not in source and name not in settings.literal_env()]
