"""Manifest parsing and validation: the demo manifest loads; every mistake is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agnt_executor.demo import manifest_path
from agnt_executor.handlers import CommandHandler, GeminiHandler, PythonHandler
from agnt_executor.manifest import ManifestError, load_manifest, parse_manifest
from agnt_models import AcceptRules, AgentPublish, PricingModel

MINIMAL = """
[[agents]]
id = "shout"
name = "Shout"
handler = { type = "command", argv = ["tr", "a-z", "A-Z"] }
"""


def test_demo_manifest_serves_the_three_demo_agents() -> None:
    loaded = load_manifest(manifest_path())
    assert sorted(loaded.agents) == ["demo-echo", "demo-slow", "demo-wordcount"]
    assert all(isinstance(a.handler, PythonHandler) for a in loaded.agents.values())
    assert loaded.settings.concurrency >= 1


def test_minimal_manifest_gets_defaults() -> None:
    manifest = parse_manifest(MINIMAL)
    agent = manifest.agents[0]
    assert manifest.executor.concurrency == 1
    assert agent.accept.max_prompt_bytes == 100_000
    # The accept policy is published with the agent, so the API refuses what it would.
    assert agent.publish_body() == AgentPublish(name="Shout", accept_rules=AcceptRules())


def test_publish_body_carries_only_the_published_fields() -> None:
    agent = load_manifest(manifest_path()).agents["demo-slow"].spec
    body = agent.publish_body()
    assert body.pricing.model is PricingModel.PER_SECOND
    assert "seconds" in body.input_schema["properties"]  # type: ignore[operator]
    assert set(body.model_dump()) == set(AgentPublish.model_fields)


def test_handler_types_build_their_handlers(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        MINIMAL
        + """
[[agents]]
id = "ask-gemini"
name = "Ask Gemini"
handler = { type = "gemini", model = "gemini-2.5-pro" }
"""
    )
    loaded = load_manifest(path)
    assert isinstance(loaded.agents["shout"].handler, CommandHandler)
    assert isinstance(loaded.agents["ask-gemini"].handler, GeminiHandler)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[agents]\nid=", "not valid TOML"),
        ("", "agents: Field required"),
        ("agents = []", "agents: List should have at least 1 item"),
        (
            '[[agents]]\nid = "Bad Id"\nname = "x"\nhandler = { type = "command", argv = ["x"] }',
            "agents.0.id: String should match pattern",
        ),
        ('[[agents]]\nid = "a1"\nname = "x"', "agents.0.handler: Field required"),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "shell", argv = ["x"] }',
            "agents.0.handler: Input tag 'shell' found using 'type' does not match",
        ),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "command", argv = [] }',
            "agents.0.handler.command.argv: List should have at least 1 item",
        ),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "command", argv = ["x", "{secret}"] }',
            "unknown placeholder {secret}",
        ),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "command", argv = ["x"], stdout_file = "../o" }',
            "agents.0.handler.command.stdout_file",
        ),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "python", callable = "no colon" }',
            "agents.0.handler.python.callable",
        ),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "command", argv = ["x"] }\n'
            '[[agents]]\nid = "a1"\nname = "y"\nhandler = { type = "command", argv = ["y"] }',
            "agent id 'a1' appears twice",
        ),
        (
            '[executor]\nconcurrency = 0\n[[agents]]\nid = "a1"\nname = "x"\n'
            'handler = { type = "command", argv = ["x"] }',
            "executor.concurrency: Input should be greater than or equal to 1",
        ),
        (
            '[[agents]]\nid = "a1"\nname = "x"\nsecret = 1\nhandler = { type = "command", argv = ["x"] }',
            "agents.0.secret: Extra inputs are not permitted",
        ),
    ],
)
def test_invalid_manifest_error_names_the_field(text: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("{", r"\{").replace("[", r"\[")):
        parse_manifest(text)


def test_missing_manifest_file_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "nope.toml")


def test_unimportable_python_callable_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[[agents]]\nid = "a1"\nname = "x"\n'
        'handler = { type = "python", callable = "agnt_executor.demo.agents:nope" }'
    )
    with pytest.raises(ManifestError, match="agent 'a1': cannot import"):
        load_manifest(path)


def test_relative_program_resolves_next_to_the_manifest(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[[agents]]\nid = "a1"\nname = "x"\nhandler = { type = "command", argv = ["./bin/run"] }'
    )
    handler = load_manifest(path).agents["a1"].handler
    assert handler.unavailable_reason() == (
        f"command '{tmp_path / 'bin' / 'run'}' is not installed here (not found or not executable)"
    )
