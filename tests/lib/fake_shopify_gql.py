"""Just enough GraphQL for fake_shopify: read a request's operation and fields, validate a selection
against the fake's schema (`undefinedField` for a field the fake does not model, so the deprecated
`Customer.email` is refused) and return exactly the selected fields, aliases included. No fragments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# type -> field -> type of an object field, or None for a scalar/enum.
SCHEMA: dict[str, dict[str, str | None]] = {
    "Order": {"id": None, "legacyResourceId": None, "name": None, "createdAt": None, "updatedAt": None,
              "processedAt": None, "cancelledAt": None, "test": None, "email": None, "sourceName": None,
              "displayFinancialStatus": None, "currentTotalPriceSet": "MoneyBag", "totalPriceSet": "MoneyBag",
              "customer": "Customer", "lineItems": "LineItemConnection"},
    "LineItemConnection": {"pageInfo": "PageInfo", "nodes": "LineItem", "edges": "LineItemEdge"},
    "LineItemEdge": {"cursor": None, "node": "LineItem"},
    "LineItem": {"id": None, "name": None, "quantity": None, "currentQuantity": None,
                 "discountedTotalSet": "MoneyBag", "product": "Product"},
    "Product": {"id": None, "productType": None, "category": "TaxonomyCategory"},
    "TaxonomyCategory": {"id": None, "name": None, "fullName": None},
    "MoneyBag": {"shopMoney": "MoneyV2", "presentmentMoney": "MoneyV2"},
    "MoneyV2": {"amount": None, "currencyCode": None},
    "Customer": {"id": None, "defaultEmailAddress": "CustomerEmailAddress",
                 "defaultPhoneNumber": "CustomerPhoneNumber"},
    "CustomerEmailAddress": {"emailAddress": None, "marketingState": None},
    "CustomerPhoneNumber": {"phoneNumber": None, "marketingState": None},
    "OrderConnection": {"pageInfo": "PageInfo", "nodes": "Order", "edges": "OrderEdge"},
    "OrderEdge": {"cursor": None, "node": "Order"},
    "PageInfo": {"hasNextPage": None, "hasPreviousPage": None, "startCursor": None, "endCursor": None},
    "BulkOperation": {"id": None, "status": None, "errorCode": None, "objectCount": None, "rootObjectCount": None,
                      "fileSize": None, "url": None, "partialDataUrl": None, "createdAt": None, "completedAt": None,
                      "query": None, "type": None},
    "BulkOperationRunQueryPayload": {"bulkOperation": "BulkOperation", "userErrors": "UserError"},
    "UserError": {"field": None, "message": None},
    "Shop": {"name": None, "myshopifyDomain": None, "currencyCode": None, "ianaTimezone": None},
}




class GqlError(Exception):
    pass


@dataclass
class Field:
    name: str
    alias: str | None
    args: dict[str, str]  # raw tokens
    children: list[Field] | None

    @property
    def key(self) -> str:
        return self.alias or self.name


_TOKEN = re.compile(r'#[^\n]*|"""(?:\\"""|(?!""").)*"""|"(?:[^"\\\n]|\\.)*"|\.\.\.|\$?[A-Za-z_]\w*'
                    r'|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[{}():\[\]!=@]|[\s,]+|.', re.S)


def parse_document(text: str) -> tuple[str, list[Field]]:
    """The type ("query" or "mutation") and top-level fields of the (single) operation in `text`."""
    toks: list[str] = [t for t in _TOKEN.findall(text) if t.strip(", \t\r\n") and not t.startswith("#")]
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        if pos >= len(toks) or (expected is not None and toks[pos] != expected):
            got = toks[pos] if pos < len(toks) else "end of document"
            raise GqlError(f"Parse error on \"{got}\" (expected {expected or 'more'})")
        pos += 1
        return toks[pos - 1]

    def skip_balanced() -> str:
        opener = take()
        closer = {"(": ")", "[": "]", "{": "}"}[opener]
        parts, depth = [opener], 1
        while depth:
            tok = take()
            depth += (tok == opener) - (tok == closer)
            parts.append(tok)
        return " ".join(parts)

    def selection() -> list[Field]:
        take("{")
        fields: list[Field] = []
        while toks[pos:pos + 1] != ["}"]:
            if toks[pos:pos + 1] == ["..."]:
                raise GqlError("fake_shopify: fragments are not supported")
            name, alias = take(), None
            if toks[pos:pos + 1] == [":"]:
                take(":")
                alias, name = name, take()
            args: dict[str, str] = {}
            if toks[pos:pos + 1] == ["("]:
                take("(")
                while toks[pos:pos + 1] != [")"]:
                    arg = take()
                    take(":")
                    args[arg] = skip_balanced() if toks[pos:pos + 1] in (["["], ["{"]) else take()
                take(")")
            children = selection() if toks[pos:pos + 1] == ["{"] else None
            fields.append(Field(name, alias, args, children))
        take("}")
        return fields

    operation = "query"
    if toks[:1] in (["query"], ["mutation"]):
        operation = take()
        if toks[pos:pos + 1] not in (["("], ["{"]):
            take()  # operation name
        if toks[pos:pos + 1] == ["("]:
            skip_balanced()
    fields = selection()
    if pos != len(toks):
        raise GqlError(f"fake_shopify: one operation per document, found more after \"{toks[pos]}\"")
    return operation, fields


def arg(field: Field, name: str, variables: Mapping[str, Any]) -> Any:
    raw = field.args.get(name)
    if raw is None:
        return None
    if raw.startswith("$"):
        return variables.get(raw[1:])
    if raw.startswith('"""'):
        return raw[3:-3].replace('\\"""', '"""').strip()
    if raw.startswith('"'):
        return json.loads(raw)
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    return {"true": True, "false": False, "null": None}.get(raw, raw)


def check(fields: list[Field], type_name: str) -> list[dict[str, Any]]:
    """GraphQL validation errors of a selection on `type_name`."""
    errors: list[dict[str, Any]] = []
    for f in fields:
        known = SCHEMA[type_name]
        if f.name == "__typename":
            continue
        if f.name not in known:
            errors.append({"message": f"Field '{f.name}' doesn't exist on type '{type_name}'",
                           "extensions": {"code": "undefinedField", "typeName": type_name, "fieldName": f.name}})
        elif known[f.name] and f.children is None:
            errors.append({"message": f"Field must have selections (field '{f.name}' returns {known[f.name]} but "
                                      f"has no selections. Did you mean '{f.name} {{ ... }}'?)",
                           "extensions": {"code": "selectionMismatch", "nodeName": f"field '{f.name}'"}})
        elif not known[f.name] and f.children is not None:
            errors.append({"message": f"Selections can't be made on scalars (field '{f.name}')",
                           "extensions": {"code": "selectionMismatch", "nodeName": f"field '{f.name}'"}})
        elif f.children is not None:
            errors.extend(check(f.children, str(known[f.name])))
    return errors


def object_cost(fields: list[Field], type_name: str) -> int:
    """Shopify's requested cost of a selection below one object: 1 per object field, a connection
    2 plus `first` times its node's cost (the fake charges orders' own connection as before)."""
    cost = 0
    for f in fields:
        sub = SCHEMA[type_name].get(f.name)
        if not sub or f.children is None:
            continue
        if sub.endswith("Connection"):
            first = int(f.args.get("first", "0") or 0) if f.args.get("first", "").isdigit() else 0
            node = next((c for c in f.children if c.name in ("nodes", "edges")), None)
            inner = 0
            if node is not None:
                node_type = SCHEMA[sub][node.name] or ""
                inner = object_cost(node.children or [], node_type)
                if node.name == "edges":
                    inner = object_cost(next((c.children or [] for c in node.children or [] if c.name == "node"),
                                             []), "LineItem" if sub == "LineItemConnection" else "Order")
            cost += 2 + first * (1 + inner)
        else:
            cost += 1 + object_cost(f.children, sub)
    return cost


def project(value: Any, fields: list[Field], type_name: str) -> Any:
    """The selected fields of `value` (a dict, list of dicts or None), keyed by alias."""
    if value is None:
        return None
    if isinstance(value, list):
        return [project(v, fields, type_name) for v in value]
    out: dict[str, Any] = {}
    for f in fields:
        if f.name == "__typename":
            out[f.key] = type_name
            continue
        sub = SCHEMA[type_name][f.name]
        v = value.get(f.name)
        first = f.args.get("first", "")
        if sub and sub.endswith("Connection") and isinstance(v, list):  # a nested connection stored as a list
            shown = v[:int(first)] if first.isdigit() else v
            v = {"nodes": shown, "edges": [{"cursor": str(i), "node": n} for i, n in enumerate(shown)],
                 "pageInfo": {"hasNextPage": len(shown) < len(v), "hasPreviousPage": False,
                              "startCursor": None, "endCursor": None}}
        out[f.key] = project(v, f.children or [], sub) if sub else v
    return out
