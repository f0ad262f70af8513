"""What is indexed for each graph, block and documentation page, and the hash of that text.

An entry is keyed by ``(kind, source_id)``: a graph by ``owner/graph id`` (its
active version; archived graphs are not indexed), a block by its id, a page by
its path under the docs directory. The hash of the indexed text tells the
coverage job a stale entry from an up-to-date one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fleet.engine.blocks.registry import BlockRegistry
from fleet.settings import Settings
from fleet.store.models import Graph

KINDS = ("graph", "block", "doc")
TITLE_CHARS = 300
_HEADING = re.compile(r"^#\s+(.+)$", re.MULTILINE)


def text_hash(title: str, body: str) -> str:
    """The hash an entry keeps of the text it indexed."""
    return hashlib.sha256(f"{title}\n\x00{body}".encode()).hexdigest()


@dataclass(frozen=True)
class Source:
    """One thing to index."""

    kind: str
    source_id: str
    title: str
    body: str
    user_id: str | None = None  # graphs are their owner's; blocks and docs everyone's
    updated_at: datetime | None = None

    @property
    def text_hash(self) -> str:
        """The hash of the indexed text."""
        return text_hash(self.title, self.body)

    def row(self, now: datetime) -> dict[str, Any]:
        """Column values of the entry."""
        return {"kind": self.kind, "source_id": self.source_id, "user_id": self.user_id,
                "title": self.title[:TITLE_CHARS], "body": self.body,
                "text_hash": self.text_hash, "source_updated_at": self.updated_at,
                "indexed_at": now}


def graph_source_id(user_id: str, graph_id: str) -> str:
    """The source id of a user's graph."""
    return f"{user_id}/{graph_id}"


def graph_source(graph: Graph) -> Source:
    """A graph's entry: its name, id, description, the blocks it uses and its inputs."""
    definition = graph.definition if isinstance(graph.definition, dict) else {}
    raw_nodes = definition.get("nodes")
    nodes: list[Any] = raw_nodes if isinstance(raw_nodes, list) else []
    blocks = sorted({str(n.get("block")) for n in nodes if isinstance(n, dict)
                     and n.get("block")})
    inputs = definition.get("inputs") if isinstance(definition.get("inputs"), dict) else {}
    body = "\n".join(part for part in (
        graph.id, graph.description or "",
        "blocks: " + " ".join(blocks) if blocks else "",
        "inputs: " + " ".join(str(k) for k in inputs) if inputs else "") if part)
    return Source("graph", graph_source_id(graph.user_id, graph.id), graph.name or graph.id,
                  body, user_id=graph.user_id, updated_at=graph.updated_at)


def block_sources(registry: BlockRegistry) -> list[Source]:
    """One entry per registered block: its id, description and pins."""
    out = []
    for block_id in registry.ids():
        block = registry.get(block_id)
        d = block.describe()
        lines = [block.description]
        lines += [f"input {n}: {p['type']} {p['description']}" for n, p in d["inputs"].items()]
        lines += [f"output {n}: {p['type']} {p['description']}"
                  for n, p in d["outputs"].items()]
        lines += [f"credential {n}: {' '.join(c['kinds'])} {c['description']}"
                  for n, c in d["credentials"].items()]
        out.append(Source("block", block_id, block_id, "\n".join(lines)))
    return out


def docs_dir(settings: Settings) -> Path:
    """Where the documentation pages are: the setting, else the project's own ``docs/``."""
    if settings.search_docs_dir:
        return Path(settings.search_docs_dir)
    return Path(__file__).resolve().parents[2] / "docs"


def doc_sources(directory: Path) -> Iterator[Source]:
    """One entry per Markdown page under ``directory`` (title: its first heading)."""
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*.md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        heading = _HEADING.search(text)
        title = heading.group(1).strip() if heading else path.stem
        modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        yield Source("doc", path.relative_to(directory).as_posix(), title, text,
                     updated_at=modified)
