"""Agent Cards: one per agnt agent, and the marketplace's own card that lists them all.

An agent's card has one skill (the agent), the JSON-RPC interface at ``/a2a/{agent_id}``,
HTTP bearer security (an agnt buyer key) and, since A2A skills carry no input schema, the
agent's JSON Schemas and pricing in the ``job-schema`` extension's params.

The marketplace card (``/.well-known/agent-card.json``) has one skill per agent (the
first ``MARKETPLACE_SKILLS`` in relevance order; the search API has them all) and the
JSON-RPC interface at ``/a2a``, where a message picks its agent with ``agentId`` in the
message's (or the request's) metadata.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Sequence

import agnt_api
from agnt_models import Agent, AgentSummary
from agnt_models.a2a import (
    A2A_PROTOCOL_VERSION,
    AGENT_CARD_PATH,
    INPUT_SCHEMA_EXTENSION,
    JSONRPC_BINDING,
    AgentCapabilities,
    AgentCard,
    AgentExtension,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)

MARKETPLACE_SKILLS = 100
SECURITY_SCHEME = "agntBuyerKey"
INPUT_MODES = ["text/plain", "application/json"]
"""A text part is the prompt, a data part (JSON) the params."""
GENERIC_OUTPUT = "application/octet-stream"
MAX_EXAMPLES = 3


def agent_rpc_url(base_url: str, agent_id: str) -> str:
    """The JSON-RPC endpoint of one agent."""
    return f"{base_url}/a2a/{agent_id}"


def agent_card_url(base_url: str, agent_id: str) -> str:
    """Where an agent's card is served."""
    return f"{agent_rpc_url(base_url, agent_id)}{AGENT_CARD_PATH}"


def _security() -> tuple[dict[str, SecurityScheme], list[SecurityRequirement]]:
    scheme = SecurityScheme(
        http_auth_security_scheme=HTTPAuthSecurityScheme(
            scheme="Bearer",
            bearer_format="agnt API key",
            description="An agnt buyer key: 'Authorization: Bearer agnt_...'",
        )
    )
    requirement = SecurityRequirement(schemes={SECURITY_SCHEME: StringList()})
    return {SECURITY_SCHEME: scheme}, [requirement]


def _provider(base_url: str) -> AgentProvider:
    return AgentProvider(url=base_url, organization="agnt")


def output_modes(agent: Agent) -> list[str]:
    """Media types of the files the agent says it returns (``output_schema.files``)."""
    files = agent.output_schema.get("files")
    modes: list[str] = []
    if isinstance(files, dict):
        for name in files:
            mime = mimetypes.guess_type(name)[0] or GENERIC_OUTPUT
            if mime not in modes:
                modes.append(mime)
    return modes or [GENERIC_OUTPUT]


def input_modes(agent: Agent) -> list[str]:
    """Text (the prompt) and JSON (the params), then the media types of the input files the
    agent takes (file parts): its ``input_files.media_types``, or any type without a list."""
    rule = agent.input_files
    if rule is None or rule.max == 0:
        return list(INPUT_MODES)
    return [*INPUT_MODES, *(rule.media_types or [GENERIC_OUTPUT])]


def skill_examples(agent: Agent) -> list[str]:
    """Example requests: the schema's ``examples`` as JSON params, else its defaults."""
    schema = agent.input_schema
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return [json.dumps(example, sort_keys=True) for example in examples[:MAX_EXAMPLES]]
    properties = schema.get("properties")
    if isinstance(properties, dict):
        defaults = {
            name: spec["default"]
            for name, spec in properties.items()
            if isinstance(spec, dict) and "default" in spec
        }
        if defaults:
            return [json.dumps(defaults, sort_keys=True)]
    return []


def _skill(agent_id: str, name: str, description: str, tags: Sequence[str]) -> AgentSkill:
    return AgentSkill(
        id=agent_id,
        name=name,
        description=description or name,
        # Required and non-empty in v1.0; an untagged agent gets the marketplace's tag.
        tags=list(tags) or ["agnt"],
    )


def agent_card(agent: Agent, base_url: str) -> AgentCard:
    """The A2A card of one agnt agent."""
    schemes, requirements = _security()
    outputs = output_modes(agent)
    inputs = input_modes(agent)
    skill = _skill(agent.id, agent.name, agent.description, agent.tags)
    skill.examples = skill_examples(agent) or None
    skill.input_modes = inputs
    skill.output_modes = outputs
    schema_extension = AgentExtension(
        uri=INPUT_SCHEMA_EXTENSION,
        description=(
            "inputSchema is the JSON Schema of the params (the message's data part); "
            "outputSchema and pricing as on GET /v1/agents/{agent_id}"
        ),
        required=False,
        params={
            "inputSchema": agent.input_schema,
            "outputSchema": agent.output_schema,
            "pricing": agent.pricing.to_json_dict(),
        },
    )
    return AgentCard(
        name=agent.name,
        description=agent.description or agent.name,
        supported_interfaces=[
            AgentInterface(
                url=agent_rpc_url(base_url, agent.id),
                protocol_binding=JSONRPC_BINDING,
                protocol_version=A2A_PROTOCOL_VERSION,
            )
        ],
        provider=_provider(base_url),
        # Agents carry no version of their own: the moment of the last publish stands in.
        version=agent.updated_at.isoformat(),
        documentation_url=f"{base_url}/agents/{agent.id}",
        capabilities=AgentCapabilities(
            streaming=True, push_notifications=False, extensions=[schema_extension]
        ),
        security_schemes=schemes,
        security_requirements=requirements,
        default_input_modes=inputs,
        default_output_modes=outputs,
        skills=[skill],
    )


def marketplace_card(agents: Sequence[AgentSummary], base_url: str) -> AgentCard:
    """The marketplace's card: a skill per agent (each pointing at the agent's own card)."""
    schemes, requirements = _security()
    skills = [
        _skill(
            agent.id,
            agent.name,
            f"{agent.description or agent.name} (card: {agent_card_url(base_url, agent.id)})",
            agent.tags,
        )
        for agent in agents
    ]
    return AgentCard(
        name="agnt marketplace",
        description=(
            "A marketplace of AI agents that run as jobs. Each skill is an agent: call it "
            "at its own card's interface (/a2a/{agent_id}), or here with "
            '{"agentId": "<skill id>"} in the message metadata. '
            f"Search every agent at {base_url}/v1/agents/search?q=..."
        ),
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}/a2a",
                protocol_binding=JSONRPC_BINDING,
                protocol_version=A2A_PROTOCOL_VERSION,
            )
        ],
        provider=_provider(base_url),
        version=agnt_api.__version__,
        documentation_url=f"{base_url}/docs",
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        security_schemes=schemes,
        security_requirements=requirements,
        default_input_modes=INPUT_MODES,
        default_output_modes=[GENERIC_OUTPUT],
        skills=skills,
    )
