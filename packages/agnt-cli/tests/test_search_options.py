"""``agnt search --sort/--pricing`` offer exactly the API's values (kept in the CLI so that
``--help`` does not import the models)."""

from __future__ import annotations

from agnt_cli.commands.agents import Pricing, Sort
from agnt_models import PricingModel, SearchSort


def test_sort_and_pricing_choices_are_the_models_values() -> None:
    assert [choice.value for choice in Sort] == [choice.value for choice in SearchSort]
    assert [choice.value for choice in Pricing] == [choice.value for choice in PricingModel]
