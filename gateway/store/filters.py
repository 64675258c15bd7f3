"""SQL WHERE clauses for a parsed FHIR search (the query value is pure; SQL lives here)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from gateway.fhir.search import DateBound, DateOp, SearchQuery


def where_clauses(table: sa.Table, query: SearchQuery) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [table.c.type == query.type]
    if query.ids:
        clauses.append(table.c.id.in_(query.ids))
    if query.patient is not None:
        clauses.append(table.c.patient == query.patient)
    clauses.extend(_date_clause(table.c.date, bound) for bound in query.dates)
    return clauses


def _date_clause(column: sa.Column[str], bound: DateBound) -> ColumnElement[bool]:
    # Index dates are YYYY-MM-DD strings, so string order is date order. A resource without a
    # date never matches a date filter (FHIR: the parameter has no value, so it cannot match).
    if bound.op is DateOp.GE:
        return column >= bound.low
    if bound.op is DateOp.GT:
        return column > bound.high
    if bound.op is DateOp.LE:
        return column <= bound.high
    if bound.op is DateOp.LT:
        return column < bound.low
    return sa.and_(column >= bound.low, column <= bound.high)
