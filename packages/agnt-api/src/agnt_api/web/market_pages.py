"""Pages to sign in and out, find agents, read one, and order a job from it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import JsonValue, ValidationError

from agnt_api.api.deps import get_runtime
from agnt_api.errors import (
    AgentUnpublished,
    Forbidden,
    IdempotencyConflict,
    InputFileNotFound,
    InputFilesNotAccepted,
    InputTooLarge,
    OrderRefused,
    TooManyInputFiles,
    ValidationFailed,
)
from agnt_api.ratelimit import RateAction, client_address, rate_limits_of
from agnt_api.services import buyer, input_files, keys
from agnt_api.services.schemas import ParamsLimits, validate_params
from agnt_api.web import flash
from agnt_api.web.display import described_files, schema_rows
from agnt_api.web.error_pages import wants_html
from agnt_api.web.examples import schema_examples
from agnt_api.web.flash import Flash
from agnt_api.web.order_form import (
    EXTRA_PARAMS_FIELD,
    INPUT_FILES_FIELD,
    OrderField,
    accepts_extra_params,
    chosen_files,
    form_values,
    order_fields,
    read_order_form,
    upload_chunks,
)
from agnt_api.web.paging import previous_links
from agnt_api.web.sessions import (
    CSRF_FIELD,
    CsrfChecked,
    SessionDep,
    SignedIn,
    check_csrf,
    sign_in,
    sign_out,
)
from agnt_api.web.snippets import example_file_name, order_snippets
from agnt_api.web.templating import render
from agnt_models import (
    AGENT_ID_PATTERN,
    Agent,
    AgentSearchPage,
    InputRef,
    JobCreate,
    PricingModel,
    SearchSort,
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 12
AgentIdPath = Annotated[str, Path(pattern=AGENT_ID_PATTERN)]
PROMPT_FIELD = "prompt"
ORDER_KEY_FIELD = "order_key"
_ORDER_KEY = re.compile(r"[0-9a-f]{32}")


def _field_of(loc: Sequence[object]) -> str:
    """The form field an error location names: ``params.top`` -> ``top``, else ``prompt``."""
    parts = [str(part) for part in loc]
    if parts and parts[0] == "params":
        return parts[1] if len(parts) > 1 else "params"
    return parts[0] if parts else "params"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never ``//evil``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


SIGN_IN_REASONS = {
    "session_ended": "Your session ended before the order was placed. Sign in again: "
    "the form comes back as you left it.",
}
"""Why a page sent the browser to sign in (``/signin?reason=``), said above the form."""


@router.get("/signin")
async def signin_page(
    request: Request,
    session: SessionDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2000)] = None,
    reason: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The sign-in form: paste an API key."""
    context = {"next_path": safe_next(next_path), "notice": SIGN_IN_REASONS.get(reason or "")}
    return await render(request, "signin.html", context, session=session)


@router.post("/signin", dependencies=[CsrfChecked])
async def signin_submit(request: Request, session: SessionDep) -> Response:
    """Check the pasted key; on success, a session cookie and a redirect."""
    form = await request.form()
    api_key = form.get("api_key")
    next_value = form.get("next")
    next_path = safe_next(next_value if isinstance(next_value, str) else None)
    redirect = RedirectResponse(next_path, status_code=303)
    limits = rate_limits_of(request)
    wait = (
        None
        if limits is None
        else await limits.retry_after(RateAction.SIGN_INS, client_address(request))
    )
    if wait is not None:
        page = await render(
            request,
            "signin.html",
            {
                "next_path": next_path,
                "error": f"Too many sign-in attempts from your address; "
                f"try again in {wait} seconds.",
            },
            status_code=429,
            session=session,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    if isinstance(api_key, str) and api_key.strip():
        if await sign_in(request, redirect, api_key) is not None:
            return redirect
        error = "That key is unknown or has been revoked."
    else:
        error = "Paste your API key."
    # The key itself is never echoed back into the page.
    return await render(
        request,
        "signin.html",
        {"next_path": next_path, "error": error},
        status_code=401,
        session=session,
    )


@router.post("/signout", dependencies=[CsrfChecked])
async def signout_submit(request: Request) -> Response:
    """End the session."""
    response = RedirectResponse("/signin", status_code=303)
    await sign_out(request, response)
    return response


@router.get("/")
async def marketplace(
    request: Request,
    session: SessionDep,
    _principal: SignedIn,
    q: Annotated[str, Query(max_length=500)] = "",
    tag: Annotated[str | None, Query(max_length=50)] = None,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    trail: Annotated[str, Query(max_length=50_000)] = "",
    sort: Annotated[SearchSort, Query()] = SearchSort.RELEVANCE,
    price: Annotated[PricingModel | Literal[""], Query(alias="pricing")] = "",
) -> Response:
    """Search agents: a search box, sort and price filters, tag chips with counts over all
    matches, result cards, pagination, an empty state."""
    tag = tag.strip().lower() if tag and tag.strip() else None
    pricing = price or None  # the form's "Any price" sends pricing=
    # The page searches with the visitor's principal, so it shares the API's search bucket:
    # a browser (or a script holding a session cookie) cannot search more than a key can.
    limits = rate_limits_of(request)
    wait = (
        None
        if limits is None
        else await limits.retry_after(RateAction.SEARCHES, str(_principal.id))
    )
    if wait is None:
        page = await buyer.search_agents(
            get_runtime(request),
            q,
            tag=tag,
            limit=PAGE_SIZE,
            cursor=cursor,
            sort=sort,
            pricing=pricing,
            facets=True,
        )
    else:
        page = AgentSearchPage(items=[], next_cursor=None)
    chips = [(facet.tag, facet.count) for facet in page.facets or []]
    if tag and tag not in {name for name, _ in chips}:
        chips.insert(0, (tag, 0))
    filters = {
        "q": q,
        "sort": None if sort is SearchSort.RELEVANCE else sort.value,
        "pricing": None if pricing is None else pricing.value,
    }
    previous_cursor, previous_trail, here = (
        previous_links(cursor, trail) if cursor else (None, "", "-")
    )
    response = await render(
        request,
        "marketplace.html",
        {
            "previous_cursor": previous_cursor,
            "previous_trail": previous_trail,
            "trail_here": here,
            "q": q,
            "tag": tag,
            "chips": chips,
            "page": page,
            "cursor": cursor,
            "filters": filters,
            "sort": sort.value,
            "sorts": [s.value for s in SearchSort],
            "pricing": None if pricing is None else pricing.value,
            "pricings": [m.value for m in PricingModel],
            "retry_after": wait,
        },
        status_code=200 if wait is None else 429,
        session=session,
    )
    if wait is not None:
        response.headers["Retry-After"] = str(wait)
    return response


async def _agent_page(
    request: Request,
    agent: Agent,
    *,
    submitted: Mapping[str, str] | None = None,
    errors: dict[str, str] | None = None,
    order_key: str | None = None,
    notice: str | None = None,
    again: tuple[str, list[str]] | None = None,
    status_code: int = 200,
) -> Response:
    """``again``: the earlier job (short id) whose form this refills, and its input files'
    names (a browser cannot attach them again; the page names them)."""
    rt = get_runtime(request)
    stats = await buyer.agent_stats(rt, agent.id)
    owner = await rt.database.run(keys.principal_name, agent.owner_id)
    fields: list[OrderField] = order_fields(agent.input_schema)
    errors = errors or {}
    if submitted is None:
        params: dict[str, JsonValue] = {f.name: f.default for f in fields if f.default is not None}
    else:
        params = read_order_form(fields, submitted, extra_allowed=True)[0]
    base_url = str(request.base_url).rstrip("/")
    return await render(
        request,
        "agent.html",
        {
            "agent": agent,
            "stats": stats,
            "fields": fields,
            "extra_allowed": accepts_extra_params(agent.input_schema),
            "extra_field": EXTRA_PARAMS_FIELD,
            "input_rows": schema_rows(agent.input_schema),
            "output_rows": schema_rows(agent.output_schema),
            "output_files": described_files(agent.output_schema),
            "submitted": submitted,
            "errors": errors,
            "error_links": _error_links(errors, fields),
            "owner": owner,
            "snippets": order_snippets(
                base_url,
                agent.id,
                (submitted or {}).get(PROMPT_FIELD, ""),
                params,
                _snippet_file(agent),
            ),
            "order_key": order_key or uuid.uuid4().hex,
            "prompt_field": PROMPT_FIELD,
            "order_key_field": ORDER_KEY_FIELD,
            "input_files_field": INPUT_FILES_FIELD,
            "notice": notice,
            "again_job": again[0] if again else None,
            "again_inputs": again[1] if again else [],
        },
        status_code=status_code,
    )


def _snippet_file(agent: Agent) -> str | None:
    """The example input file of the API snippets: only for an agent that takes files."""
    rule = agent.input_files
    if rule is None or rule.max == 0:
        return None
    return example_file_name(rule.media_types)


@router.post("/agents/{agent_id}/snippets")
async def snippets_for_form(
    request: Request, _principal: SignedIn, agent_id: AgentIdPath
) -> JSONResponse:
    """The API panel's snippets for the order form as it is now (the page's script asks as
    the buyer types). Read-only: it orders nothing, so it needs no CSRF token."""
    agent = await buyer.get_agent(get_runtime(request), agent_id)
    form = {key: value for key, value in (await request.form()).items() if isinstance(value, str)}
    params = read_order_form(order_fields(agent.input_schema), form, extra_allowed=True)[0]
    base_url = str(request.base_url).rstrip("/")
    shown = order_snippets(
        base_url, agent.id, form.get(PROMPT_FIELD, ""), params, _snippet_file(agent)
    )
    return JSONResponse(
        {snippet.key: snippet.code for snippet in shown}, headers={"Cache-Control": "no-store"}
    )


def _error_links(errors: Mapping[str, str], fields: list[OrderField]) -> list[tuple[str, str, str]]:
    """``(control id, label, message)`` for the error summary, in the form's order."""
    controls = {PROMPT_FIELD: ("prompt", "Prompt")}
    controls |= {f.name: (f.input_id, f.label) for f in fields}
    controls[EXTRA_PARAMS_FIELD] = ("extra-params", "Other parameters")
    links = [(*controls[name], errors[name]) for name in controls if name in errors]
    if "params" in errors:
        links.insert(0, ("order-form", "Parameters", errors["params"]))
    return links


def _order_key_of(values: Mapping[str, str]) -> str | None:
    key = values.get(ORDER_KEY_FIELD, "")
    return key if _ORDER_KEY.fullmatch(key) else None


@router.get("/agents/{agent_id}")
async def agent_page(
    request: Request,
    principal: SignedIn,
    session: SessionDep,
    agent_id: AgentIdPath,
    again: uuid.UUID | None = None,
    example: Annotated[int | None, Query(ge=0, le=1000)] = None,
) -> Response:
    """One agent: description, pricing, schemas, stats, and the order form (refilled with
    what was posted when an order came back with errors or across a sign-in, or with an
    earlier job's prompt and params: ``?again=<job id>``, or with one of the agent's
    example inputs: ``?example=<index>``)."""
    rt = get_runtime(request)
    agent = await buyer.get_agent(rt, agent_id)
    kept = flash.take(request)
    if kept is None and again is not None and session.is_buyer:
        earlier = await buyer.get_job(rt, principal, again)
        values = form_values(
            order_fields(agent.input_schema),
            earlier.params,
            extra_allowed=accepts_extra_params(agent.input_schema),
        )
        values[PROMPT_FIELD] = earlier.prompt
        short = str(earlier.id)[:8]
        notice = f"Filled in from job {short}; change what you like and order."
        inputs = await input_files.list_job_inputs(
            rt, principal, earlier.id, as_executor=False, base_url=str(request.base_url)
        )
        names = [f.name for f in inputs.files]
        if names:
            notice += " Its input files are not attached again: choose them below."
        return await _agent_page(
            request, agent, submitted=values, notice=notice, again=(short, names)
        )
    if kept is None and example is not None:
        examples = schema_examples(agent.input_schema)
        if example >= len(examples):
            return await _agent_page(
                request, agent, notice=f"This agent has no example {example + 1}."
            )
        values = form_values(
            order_fields(agent.input_schema),
            examples[example],
            extra_allowed=accepts_extra_params(agent.input_schema),
        )
        notice = (
            f"Filled in with example {example + 1}; add a prompt, change what you like and order."
        )
        return await _agent_page(request, agent, submitted=values, notice=notice)
    if kept is None:
        return await _agent_page(request, agent)
    return await _agent_page(
        request,
        agent,
        submitted=kept.values,
        errors=kept.errors,
        order_key=_order_key_of(kept.values),
        notice=kept.notice,
    )


def _draft(form: Mapping[str, str]) -> dict[str, str]:
    """What the buyer typed (the form's tokens aside), to put back into the form."""
    return {key: value for key, value in form.items() if key not in (CSRF_FIELD, ORDER_KEY_FIELD)}


async def _checked_params(
    request: Request, agent: Agent, params: dict[str, JsonValue], skip: set[str]
) -> dict[str, str]:
    """Schema errors of the params the form could read, so every error shows in one round
    (fields the form already flagged, ``skip``, are left out of the check)."""
    kept = {name: value for name, value in params.items() if name not in skip}
    limits = ParamsLimits.of(get_runtime(request).settings)
    try:
        await anyio.to_thread.run_sync(validate_params, agent.input_schema, kept, limits)
    except ValidationFailed as exc:
        return {
            name: error.message
            for error in exc.errors or []
            if (name := _field_of(error.loc.split("."))) not in skip
        }
    return {}


@router.post("/agents/{agent_id}/order")
async def order_submit(request: Request, session: SessionDep, agent_id: AgentIdPath) -> Response:
    """Order a job from the form, then post/redirect/get: to the job, or back to the form
    with every error next to its field. A session that ended meanwhile sends the browser to
    sign in and back to the filled form."""
    posted = await request.form()
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    agent_path = f"/agents/{agent_id}"
    if session.principal is None and wants_html(request):
        target = f"/signin?next={quote(agent_path, safe='/')}&reason=session_ended"
        redirect = RedirectResponse(target, status_code=303)
        restored = "Signed in again: your entries are back. Check them and order."
        flash.keep(request, redirect, Flash(agent_path, values=_draft(form), notice=restored))
        return redirect
    await check_csrf(request, session)
    principal = session.principal
    if principal is None or not session.is_buyer:
        role = "no" if principal is None else f"an {principal.role.value}"
        raise Forbidden(f"ordering needs a buyer key; you signed in with {role} key")
    rt = get_runtime(request)
    agent = await buyer.get_agent(rt, agent_id)
    fields = order_fields(agent.input_schema)
    extra_allowed = accepts_extra_params(agent.input_schema)
    params, errors = read_order_form(fields, form, extra_allowed=extra_allowed)
    prompt = form.get(PROMPT_FIELD, "")
    order_key = _order_key_of(form)
    job = None
    uploaded: list[uuid.UUID] = []
    if errors:
        errors.update(await _checked_params(request, agent, params, set(errors)))
    else:
        try:
            inputs = []
            for upload in chosen_files(posted):
                try:
                    stored = await input_files.upload_input_file(
                        rt,
                        principal,
                        upload.filename or "",
                        upload.content_type,
                        upload_chunks(upload),
                        limit=rt.settings.max_input_bytes,
                    )
                finally:
                    await upload.close()  # its spooled temp file goes now, not at GC
                uploaded.append(stored.id)
                inputs.append(InputRef(file_id=stored.id))
            body = JobCreate(agent_id=agent_id, prompt=prompt, params=params, inputs=inputs)
            # The form's one-time key: a double-clicked submit orders one job, not two.
            job, _ = await buyer.order_job(
                rt, principal, body, f"web-{order_key}" if order_key else None
            )
        except (InputTooLarge, TooManyInputFiles, InputFilesNotAccepted, InputFileNotFound) as exc:
            errors = {INPUT_FILES_FIELD: exc.detail or "the input files were not accepted"}
        except ValidationError as exc:
            errors = {_field_of(err["loc"]): str(err["msg"]) for err in exc.errors()}
        except ValidationFailed as exc:
            errors = {_field_of(e.loc.split(".")): e.message for e in exc.errors or []}
            errors = errors or {"params": exc.detail or "the parameters are invalid"}
        except IdempotencyConflict:
            # The page was submitted before with other values (browser back): a fresh key.
            order_key = None
            errors = {
                "params": "This form was already submitted; check the values and order again."
            }
        except (OrderRefused, AgentUnpublished) as exc:
            # The agent's own rules (or its owner) said no: its words, above the form.
            errors = {"params": exc.detail or exc.code.problem_title}
    await posted.close()  # every chosen file's spooled temp file, read or not
    if job is None:
        await input_files.delete_input_files(rt, principal, uploaded)
    if job is not None:
        return RedirectResponse(f"/jobs/{job.id}", status_code=303)
    placed = _placed(errors, fields, extra_allowed)
    order_key = order_key or uuid.uuid4().hex
    back = RedirectResponse(agent_path, status_code=303)
    values = {**_draft(form), ORDER_KEY_FIELD: order_key}
    if flash.keep(request, back, Flash(path=agent_path, values=values, errors=placed)):
        return back
    # Too much text for a cookie: answer with the page itself (a reload would resubmit).
    return await _agent_page(
        request, agent, submitted=form, errors=placed, order_key=order_key, status_code=422
    )


def _placed(
    errors: dict[str, str], fields: list[OrderField], extra_allowed: bool
) -> dict[str, str]:
    """Errors keyed by the form control that shows them; one without a control goes on top
    (or next to the extra params, which is where such a param came from)."""
    controls = {field.name for field in fields} | {
        PROMPT_FIELD,
        EXTRA_PARAMS_FIELD,
        "params",
        INPUT_FILES_FIELD,
    }
    placed = {name: message for name, message in errors.items() if name in controls}
    stray = [f"{name}: {message}" for name, message in errors.items() if name not in controls]
    if stray:
        target = EXTRA_PARAMS_FIELD if extra_allowed else "params"
        placed[target] = "; ".join([*([placed[target]] if target in placed else []), *stray])
    return placed
