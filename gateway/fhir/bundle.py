"""searchset Bundles assembled from stored bytes by concatenation: entries are never re-parsed."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

import orjson

from gateway.fhir.search import SearchQuery
from gateway.store.fhir_store import SearchPage


def page_links(
    base: str, query: SearchQuery, params: Sequence[tuple[str, str]], total: int
) -> list[tuple[str, str]]:
    """self / next / previous links; paging parameters replaced, the others kept as sent."""
    kept = [(k, v) for k, v in params if k not in ("_count", "_offset")]

    def url(offset: int) -> str:
        query_string = urlencode([*kept, ("_count", str(query.count)), ("_offset", str(offset))])
        return f"{base}/fhir/{query.type}?{query_string}"

    links = [("self", url(query.offset))]
    if query.count and query.offset + query.count < total:
        links.append(("next", url(query.offset + query.count)))
    if query.offset > 0:
        links.append(("previous", url(max(0, query.offset - query.count))))
    return links


def searchset(base: str, page: SearchPage, links: Sequence[tuple[str, str]]) -> bytes:
    """A Bundle of type searchset; each entry's resource is the stored bytes, inserted verbatim."""
    head = orjson.dumps(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": page.total,
            "link": [{"relation": rel, "url": url} for rel, url in links],
        }
    )
    entries = b",".join(
        b'{"fullUrl":'
        + orjson.dumps(f"{base}/fhir/{row.type}/{row.id}")
        + b',"resource":'
        + row.body
        + b',"search":{"mode":"match"}}'
        for row in page.rows
    )
    return head[:-1] + b',"entry":[' + entries + b"]}"
