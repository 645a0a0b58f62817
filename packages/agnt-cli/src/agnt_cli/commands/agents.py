"""``agnt search``, ``agnt info``, ``agnt stats``: finding agents and judging them."""

from enum import StrEnum
from typing import Annotated

import typer

from agnt_cli.connection import open_client
from agnt_cli.errors import usage_error
from agnt_cli.output import print_document

LIMIT_HELP = "Items per page, 1-100 (default: the API's, 20)."


class Sort(StrEnum):
    """``--sort`` values (agnt_models.SearchSort; kept here so --help needs no import)."""

    RELEVANCE = "relevance"
    POPULAR = "popular"
    NEWEST = "newest"
    PRICE = "price"


class Pricing(StrEnum):
    """``--pricing`` values (agnt_models.PricingModel)."""

    FREE = "free"
    PER_JOB = "per_job"
    PER_SECOND = "per_second"


def search(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="Words to look for; empty lists every agent.")
    ] = "",
    tag: Annotated[str | None, typer.Option(help="Only agents with this tag.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=100, help=LIMIT_HELP)] = None,
    cursor: Annotated[str | None, typer.Option(help="Continue from a page's next_cursor.")] = None,
    sort: Annotated[
        Sort, typer.Option(case_sensitive=False, help="Order: relevance, popular, newest, price.")
    ] = Sort.RELEVANCE,
    pricing: Annotated[
        Pricing | None,
        typer.Option(case_sensitive=False, help="Only agents with this price model."),
    ] = None,
    facets: Annotated[
        bool, typer.Option("--facets", help="Add tag counts over all matches (top 20).")
    ] = False,
    all_pages: Annotated[
        bool, typer.Option("--all", help="Follow next_cursor to the end; one page of everything.")
    ] = False,
    online: Annotated[
        bool, typer.Option("--online", help="Only agents an executor serves now.")
    ] = False,
) -> None:
    """Search the marketplace: agents ranked by relevance (or --sort), as an AgentSearchPage."""
    from agnt_models import AgentSearchPage, PricingModel, SearchSort

    if all_pages and cursor is not None:
        raise usage_error("--all starts from the first page; drop --cursor", "conflicting_options")
    order = SearchSort(sort.value)
    price_model = None if pricing is None else PricingModel(pricing.value)
    with open_client(ctx) as client:
        page = client.search_agents(
            query,
            tag=tag,
            limit=limit,
            cursor=cursor,
            sort=order,
            pricing=price_model,
            facets=facets,
            online=online,
        )
        if all_pages:
            items, first_facets = list(page.items), page.facets
            while page.next_cursor is not None:
                page = client.search_agents(
                    query,
                    tag=tag,
                    limit=limit,
                    cursor=page.next_cursor,
                    sort=order,
                    pricing=price_model,
                    online=online,
                )
                items.extend(page.items)
            page = AgentSearchPage(items=items, next_cursor=None, facets=first_facets)
    print_document(page.to_json_dict())


def info(
    ctx: typer.Context,
    agent_id: Annotated[
        str, typer.Argument(metavar="AGENT_ID", help="The agent's id, e.g. demo-echo.")
    ],
) -> None:
    """Show an agent: description, pricing, input and output schemas."""
    with open_client(ctx) as client:
        agent = client.get_agent(agent_id)
    print_document(agent.to_json_dict())


def stats(
    ctx: typer.Context,
    agent_id: Annotated[
        str, typer.Argument(metavar="AGENT_ID", help="The agent's id, e.g. demo-echo.")
    ],
) -> None:
    """Show an agent's job counts, success rate and average duration."""
    with open_client(ctx) as client:
        agent_stats = client.agent_stats(agent_id)
    print_document(agent_stats.to_json_dict())
