"""Batches of fake_mailchimp: validation of a POST /batches body, the batch resource, and the
gzipped tar of results behind response_body_url (docs/platforms.md §4.6)."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from typing import Any

from fake_mailchimp_data import Problem, invalid

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass
class Operation:
    method: str
    path: str
    operation_id: str | None
    body: str | None
    params: dict[str, Any]


@dataclass
class Batch:
    id: str
    operations: list[Operation]
    submitted_at: str
    signature: str
    status: str = "pending"
    polls: int = 0
    completed_at: str = ""
    response_body_url: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    archive: bytes = b""

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    def resource(self) -> dict[str, Any]:
        done = self.finished
        return {"id": self.id, "status": self.status, "total_operations": len(self.operations),
                "finished_operations": len(self.results) if done else 0,
                "errored_operations": sum(r["status_code"] >= 400 for r in self.results) if done else 0,
                "submitted_at": self.submitted_at, "completed_at": self.completed_at,
                "response_body_url": self.response_body_url,
                "_links": [{"rel": "self", "href": f"/3.0/batches/{self.id}", "method": "GET"}]}


def parse_operations(body: Any) -> list[Operation]:
    """The operations of a POST /batches body, or a 400 problem naming each bad field."""
    if not isinstance(body, dict) or not isinstance(body.get("operations"), list):
        raise invalid([{"field": "operations", "message": "Schema describes array, "
                        f"{type(body.get('operations') if isinstance(body, dict) else body).__name__} found instead"}])
    errors: list[dict[str, str]] = []
    ops: list[Operation] = []
    for i, op in enumerate(body["operations"]):
        where = f"operations.item:{i}"
        if not isinstance(op, dict):
            errors.append({"field": where, "message": f"Schema describes object, {type(op).__name__} found instead"})
            continue
        method, path = op.get("method"), op.get("path")
        if method not in METHODS:
            errors.append({"field": f"{where}.method", "message": "Value must be one of: " + ", ".join(METHODS)})
        if not isinstance(path, str) or not path:
            errors.append({"field": f"{where}.path", "message": "This value should not be blank."})
        for key, kind in (("body", str), ("operation_id", str), ("params", dict)):
            if key in op and op[key] is not None and not isinstance(op[key], kind):
                want = "string" if kind is str else "object"
                errors.append({"field": f"{where}.{key}",
                               "message": f"Schema describes {want}, {_json_type(op[key])} found instead"})
        if not errors:
            ops.append(Operation(str(method), str(path), op.get("operation_id"), op.get("body"),
                                 dict(op.get("params") or {})))
    if errors:
        raise invalid(errors)
    return ops


def result(op: Operation, status: int, data: Any, problem: Problem | None, instance: str) -> dict[str, Any]:
    if problem is not None:
        response = json.dumps(problem.body(instance))
    else:
        response = "" if status == 204 or data is None else json.dumps(data)
    return {"status_code": status, "operation_id": op.operation_id, "response": response}


def build_archive(batch_id: str, results: list[dict[str, Any]], per_file: int) -> bytes:
    """A .tar.gz with a directory entry and one JSON array file per `per_file` results."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=1) as tar:
        folder = tarfile.TarInfo(batch_id)
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for n, start in enumerate(range(0, max(len(results), 1), per_file)):
            data = json.dumps(results[start:start + per_file]).encode()
            info = tarfile.TarInfo(f"{batch_id}/{n:04d}-{batch_id}.json")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"
