"""The member operations of fake_mailchimp (GET/PATCH/PUT member, GET/POST tags, GET members,
POST /lists/{id} batch subscribe), shared by direct HTTP requests and /batches operations. Each
returns (status, data) or raises Problem; the caller holds the lock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fake_mailchimp_data import (
    COMPLIANCE,
    SETTABLE,
    Audience,
    MailchimpState,
    Member,
    Problem,
    invalid,
    member_key,
    now_iso,
    subscriber_hash,
)


class MemberOps(MailchimpState):
    def audience(self, list_id: str) -> Audience:
        a = self.audiences.get(list_id)
        if a is None:
            raise Problem(404)
        return a

    def _check_member_failure(self, key: str) -> None:
        entry = self._member_failures.get(key)
        if entry is None:
            return
        problem, left = entry
        if left is not None:
            if left <= 0:
                return
            self._member_failures[key] = (problem, left - 1)
        self.member_failures_served += 1
        raise problem

    def member_json(self, a: Audience, m: Member) -> dict[str, Any]:
        h = subscriber_hash(m.email)
        merge = {f["tag"]: m.merge_fields.get(f["tag"], "") for f in a.merge_fields}
        full = f"{merge.get('FNAME', '')} {merge.get('LNAME', '')}".strip()
        return {"id": h, "email_address": m.email, "unique_email_id": h[:10], "contact_id": h, "full_name": full,
                "web_id": m.web_id, "email_type": "html", "status": m.status, "merge_fields": merge,
                "vip": False, "last_changed": m.last_changed, "source": "API - Generic",
                "tags_count": len(m.tags), "tags": [{"id": a.tag_ids.get(t, 0), "name": t} for t in sorted(m.tags)],
                "list_id": a.id}

    def _merge_values(self, a: Audience, values: Any) -> dict[str, Any]:
        if not isinstance(values, dict):
            raise invalid([{"field": "merge_fields", "message": "Schema describes object, "
                            f"{type(values).__name__} found instead"}])
        fields, out, errors = a.field_by_tag(), {}, []
        for key, value in values.items():
            f = fields.get(str(key).upper())
            if f is None:
                errors.append({"field": f"merge_fields.{key}",
                               "message": f"Merge field \"{key}\" does not exist on this audience."})
            elif f["type"] == "number" and not _is_number(value):
                errors.append({"field": f"merge_fields.{key}", "message": "Please enter a number"})
            else:
                out[f["tag"]] = value
        if errors:
            raise invalid(errors)
        return out

    def _status_value(self, body: Mapping[str, Any], key: str) -> str:
        value = body[key]
        if value not in SETTABLE:
            raise invalid([{"field": key, "message": "Value must be one of: " + ", ".join(SETTABLE)}])
        return str(value)

    def _check_transition(self, m: Member, new: str) -> None:
        old = m.status
        if old != new and ((new == "subscribed" and old in ("unsubscribed", "cleaned"))
                           or (new == "pending" and old == "cleaned")):
            self.consent_violations.append((m.email, old, new))
            raise Problem(400, "Member In Compliance State", COMPLIANCE.format(email=m.email))

    def _set_status(self, m: Member, new: str) -> None:
        if m.status != new:
            self.status_changes.append((m.email, m.status, new))
            m.status = new

    def get_member(self, list_id: str, slot: str) -> tuple[int, Any]:
        a = self.audience(list_id)
        m = a.members.get(member_key(slot))
        if m is None:
            raise Problem(404)
        return 200, self.member_json(a, m)

    def list_members(self, list_id: str, query: Mapping[str, str]) -> tuple[int, Any]:
        a = self.audience(list_id)
        count, offset = min(int(query.get("count", 10)), 1000), int(query.get("offset", 0))
        wanted = query.get("status")
        chosen = [m for m in a.members.values() if wanted is None or m.status == wanted]
        return 200, {"members": [self.member_json(a, m) for m in chosen[offset:offset + count]], "list_id": a.id,
                     "total_items": len(chosen)}

    def patch_member(self, list_id: str, slot: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        a, key = self.audience(list_id), member_key(slot)
        self._check_member_failure(key)
        m = a.members.get(key)
        if m is None:
            raise Problem(404)
        merge = self._merge_values(a, body["merge_fields"]) if "merge_fields" in body else {}
        if "status" in body:
            self.statuses_sent.append((m.email, "PATCH", str(body["status"])))
            new = self._status_value(body, "status")
            self._check_transition(m, new)
            self._set_status(m, new)
        m.merge_fields.update(merge)
        m.last_changed = now_iso()
        return 200, self.member_json(a, m)

    def put_member(self, list_id: str, slot: str, body: Mapping[str, Any], method: str = "PUT") -> tuple[int, Any]:
        a, key = self.audience(list_id), member_key(slot)
        self._check_member_failure(key)
        email = body.get("email_address")
        if not isinstance(email, str) or not email:
            raise invalid([{"field": "email_address", "message": "This value should not be blank."}])
        if "@" not in email:
            raise Problem(400, "Invalid Resource", "Please provide a valid email address.")
        if subscriber_hash(email) != key:
            raise Problem(400, "Invalid Resource",
                          f"The email address \"{email}\" does not match the subscriber hash in the request path.")
        m = a.members.get(key)
        if "status" in body:
            self.statuses_sent.append((email, method, str(body["status"])))
        merge = self._merge_values(a, body["merge_fields"]) if "merge_fields" in body else {}
        if m is None or m.status == "archived":  # an archived contact comes back like a new one
            if "status_if_new" not in body:
                raise invalid([{"field": "status_if_new", "message": "This value should not be blank."}])
            new = self._status_value(body, "status_if_new")
            if m is None:
                self._web_ids += 1
                m = a.members[key] = Member(email, new, set(), {}, self._web_ids)
                self.status_changes.append((email, None, new))
            else:
                self._set_status(m, new)
            self.members_created.append((email, new))
        elif "status" in body:
            new = self._status_value(body, "status")
            self._check_transition(m, new)
            self._set_status(m, new)
        m.merge_fields.update(merge)
        m.last_changed = now_iso()
        return 200, self.member_json(a, m)

    def update_tags(self, list_id: str, slot: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        a, key = self.audience(list_id), member_key(slot)
        self._check_member_failure(key)
        m = a.members.get(key)
        if m is None:
            raise Problem(404)
        tags, errors = body.get("tags"), []
        if not isinstance(tags, list):
            raise invalid([{"field": "tags", "message": "This value should not be blank."}])
        for i, t in enumerate(tags):
            if not isinstance(t, dict) or not isinstance(t.get("name"), str) or not t["name"].strip():
                errors.append({"field": f"tags.item:{i}.name", "message": "This value should not be blank."})
            elif t.get("status") not in ("active", "inactive"):
                errors.append({"field": f"tags.item:{i}.status", "message": "Value must be one of: active, inactive"})
        if "is_syncing" in body and not isinstance(body["is_syncing"], bool):
            errors.append({"field": "is_syncing", "message": "Schema describes boolean, "
                           f"{type(body['is_syncing']).__name__} found instead"})
        if errors:
            raise invalid(errors)
        for t in tags:
            if t["status"] == "active":
                m.tags.add(t["name"])
                self._tag_id(a, t["name"])
            else:
                m.tags.discard(t["name"])
        self.tag_updates += 1
        return 204, None

    def archive_member(self, list_id: str, slot: str) -> tuple[int, Any]:
        """DELETE /lists/{id}/members/{hash}: the member is archived (204)."""
        a, key = self.audience(list_id), member_key(slot)
        self._check_member_failure(key)
        m = a.members.get(key)
        if m is None or m.status == "archived":
            raise Problem(404)
        self._set_status(m, "archived")
        return 204, None

    def get_tags(self, list_id: str, slot: str) -> tuple[int, Any]:
        a = self.audience(list_id)
        m = a.members.get(member_key(slot))
        if m is None:
            raise Problem(404)
        tags = [{"id": a.tag_ids.get(t, 0), "name": t, "date_added": m.last_changed} for t in sorted(m.tags)]
        return 200, {"tags": tags, "total_items": len(tags)}

    def batch_subscribe(self, list_id: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        """POST /lists/{id}: up to 500 members; HTTP 200 with per-member `errors` (docs/platforms.md §4.2)."""
        a = self.audience(list_id)
        items = body.get("members")
        if not isinstance(items, list) or len(items) > 500:
            raise invalid([{"field": "members", "message": "Provide between 1 and 500 members."}])
        update = bool(body.get("update_existing", False))
        new: list[Any] = []
        updated: list[Any] = []
        errors: list[dict[str, str]] = []
        for item in items:
            if not isinstance(item, dict):
                errors.append({"email_address": "", "error": "Schema describes object", "error_code": "ERROR_GENERIC"})
                continue
            email = str(item.get("email_address", ""))
            try:
                key = subscriber_hash(email)
                if "@" not in email:
                    raise Problem(400, "Invalid Resource", f"{email} looks fake or invalid, please enter a real "
                                  "email address.")
                existing = a.members.get(key)
                if existing is not None and existing.status != "archived" and not update:
                    errors.append({"email_address": email, "error": f"{email} is already a list member, do you "
                                   "want to update? please provide update_existing:true in the request body",
                                   "error_code": "ERROR_CONTACT_EXISTS"})
                    continue
                fields = {k: v for k, v in item.items() if k in ("email_address", "merge_fields")}
                created = existing is None or existing.status == "archived"
                if "status" in item:  # `status` is what this endpoint takes, for new and existing members alike
                    fields["status_if_new" if created else "status"] = item["status"]
                    if created:
                        self.statuses_sent.append((email, "POST", str(item["status"])))
                _, data = self.put_member(list_id, key, fields, "POST")
                (new if created else updated).append(data)
            except Problem as p:
                field_name = p.errors[0]["field"] if p.errors else ""
                errors.append({"email_address": email, "error": p.detail, "error_code": "ERROR_GENERIC",
                               "field": field_name, "field_message": p.errors[0]["message"] if p.errors else ""})
        return 200, {"new_members": new, "updated_members": updated, "errors": errors, "total_created": len(new),
                     "total_updated": len(updated), "error_count": len(errors)}


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float) or value == "":
        return True
    try:
        float(str(value))
    except ValueError:
        return False
    return True
