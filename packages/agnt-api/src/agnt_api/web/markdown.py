"""Markdown that agents' owners write (descriptions), rendered safely for the pages.

markdown-it-py in its CommonMark mode with raw HTML off: ``<script>`` and every other tag
stays text, and its link validation refuses ``javascript:``, ``vbscript:`` and ``data:``
(other than images) URLs. Links open as plain links: ``rel="nofollow ugc noopener"``.
Images are not loaded from elsewhere (the page's CSP allows only this site), so an image
becomes its alt text as a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

MAX_MARKDOWN_CHARS = 20_000
"""Descriptions past this are cut before rendering (a page stays small)."""


def _link_open(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    tokens[idx].attrSet("rel", "nofollow ugc noopener")
    return renderer.renderToken(tokens, idx, options, env)


def _image(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env) or "image"
    src = escapeHtml(str(token.attrGet("src") or ""))
    return f'<a href="{src}" rel="nofollow ugc noopener">{escapeHtml(alt)}</a>'


def _heading(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    # A description sits under the page's h1 and h2: its own headings start at h3.
    level = min(int(tokens[idx].tag[1]) + 2, 6)
    tokens[idx].tag = f"h{level}"
    return renderer.renderToken(tokens, idx, options, env)


def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable("table").enable("strikethrough")
    parser.add_render_rule("link_open", _link_open)
    parser.add_render_rule("image", _image)
    parser.add_render_rule("heading_open", _heading)
    parser.add_render_rule("heading_close", _heading)
    return parser


_PARSER = _parser()


def render_markdown(text: Any) -> Markup:
    """``text`` as safe HTML (no raw HTML passes through); empty for an empty text."""
    source = str(text or "")[:MAX_MARKDOWN_CHARS]
    # markdown-it escapes every text and attribute it renders, and html=False keeps raw
    # HTML as text: the result is safe to put into the page as it is.
    return Markup(_PARSER.render(source))


def plain_text(text: Any, limit: int = 200) -> str:
    """The words of a Markdown text without its markup, for a card's one-line summary."""
    tokens = _PARSER.parse(str(text or "")[:MAX_MARKDOWN_CHARS])
    words: list[str] = []
    for token in tokens:
        if token.type == "inline" and token.children:
            words.extend(
                child.content for child in token.children if child.type in ("text", "code_inline")
            )
            words.append(" ")
    joined = " ".join("".join(words).split())
    return joined if len(joined) <= limit else joined[: limit - 1].rstrip() + "…"
