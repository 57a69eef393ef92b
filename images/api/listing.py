"""`GET /v2/images`: filters, sorting and marker paging as Glance parses them (image-api.md §4.1)."""
import csv
from types import SimpleNamespace
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, Value
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime

from images.exceptions import Invalid
from images.models import ImageProperty, ImageTag
from images.selectors import OrEmpty

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")
# Nullable sort keys compare through a stand-in value, so that keyset paging (which
# compares the marker's values) is well defined where a column is NULL.
NULL_STANDIN = {"name": "", "container_format": "", "disk_format": "",
                "size": Value(-1), "updated_at": F("created_at")}
EXACT_FILTERS = ("name", "id", "status", "container_format", "disk_format")
TIME_OPS = {"gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte", "eq": "exact", "neq": "neq"}
NOT_FILTERS = {"limit", "marker", "sort_key", "sort_dir", "sort", "visibility",
               "member_status"}


def parse_limit(params):
    """The page size asked for, at most Glance's api_limit_max; limit_param_default if none."""
    raw = params.get("limit")
    if raw is None:
        return settings.LIMIT_PARAM_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        raise Invalid("limit param must be an integer") from None
    if limit < 0:
        raise Invalid("limit param must be positive")
    return min(limit, settings.API_LIMIT_MAX)


def parse_sort(params):
    """[(key, 'asc'|'desc'), ...] with created_at and id appended as tie-breakers."""
    keys, dirs = params.getlist("sort_key"), params.getlist("sort_dir")
    if "sort" in params:
        if keys or dirs:
            raise Invalid("The 'sort' parameter cannot be combined with sort_key/sort_dir")
        order = []
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            order.append((key, direction or "desc"))
    else:
        keys = keys or ["created_at"]
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise Invalid("Number of sort dirs does not match the number of sort keys")
        dirs = dirs * len(keys) if len(dirs) == 1 else dirs or ["desc"] * len(keys)
        order = list(zip(keys, dirs))
    for key, direction in order:
        if key not in SORT_KEYS:
            raise Invalid(f"Invalid sort key: {key}. It should be one of: "
                          f"{', '.join(SORT_KEYS)}")
        if direction not in ("asc", "desc"):
            raise Invalid(f"Invalid sort direction: {direction}")
    seen = [key for key, _ in order]
    for tie in ("created_at", "id"):
        if tie not in seen:
            order.append((tie, order[-1][1] if order else "desc"))
    return order


def _in_values(raw):
    """`in:a,b,"c,d"` → ['a', 'b', 'c,d']; a plain value → [value]."""
    if not raw.startswith("in:"):
        operator = raw.split(":", 1)[0] if ":" in raw else None
        if operator in TIME_OPS:
            raise Invalid(f"Unable to filter by operator {operator}")
        return [raw]
    try:
        return next(csv.reader([raw[3:]], skipinitialspace=True))
    except (csv.Error, StopIteration):
        raise Invalid(f"Invalid filter value {raw}") from None


def _bool(name, raw):
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise Invalid(f"Invalid value '{raw}' for {name}: use true or false")


def _time_filter(name, raw):
    op, sep, value = raw.partition(":")
    if not sep or op not in TIME_OPS:
        op, value = "eq", raw
    moment = parse_datetime(value.replace("Z", "+00:00"))
    if moment is None:
        raise Invalid(f"Invalid time format for {name}: {value}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt_timezone.utc)
    if op == "neq":
        return ~Q(**{name: moment})
    return Q(**{f"{name}__{TIME_OPS[op]}": moment})


def apply_filters(queryset, params):
    if "changes-since" in params:
        raise Invalid("The changes-since filter is no longer available on v2.")
    conditions = Q()
    for name in EXACT_FILTERS:
        if name in params:
            values = _in_values(params[name])
            conditions &= Q(**{f"{name}__in": values})
    for name in ("created_at", "updated_at"):
        if name in params:
            conditions &= _time_filter(name, params[name])
    for name, lookup in (("size_min", "size__gte"), ("size_max", "size__lte")):
        if name in params:
            try:
                value = int(params[name])
            except ValueError:
                raise Invalid(f"{name} must be an integer") from None
            if not 0 <= value < 2**63:
                raise Invalid(f"{name} must be between 0 and 2^63 - 1")
            conditions &= Q(**{lookup: value})
    for name in ("owner", "checksum", "os_hash_value"):
        if name in params:
            conditions &= Q(**{name: params[name]})
    if "protected" in params:
        conditions &= Q(protected=_bool("protected", params["protected"]))
    conditions &= Q(os_hidden=_bool("os_hidden", params.get("os_hidden", "false")))
    queryset = queryset.filter(conditions)
    # EXISTS rather than IN: SQLite then walks the sort order's index and probes the tag's
    # or property's index for each image, instead of sorting every image that has it.
    for tag in params.getlist("tag"):
        queryset = queryset.filter(Exists(ImageTag.objects.filter(
            value=tag, image_id=OuterRef("pk"))))
    known = set(EXACT_FILTERS) | {"created_at", "updated_at", "size_min", "size_max", "owner",
                                  "checksum", "os_hash_value", "protected", "os_hidden", "tag"}
    for name, value in params.items():
        if name not in known and name not in NOT_FILTERS:
            queryset = queryset.filter(Exists(ImageProperty.objects.filter(
                name=name, value=value, image_id=OuterRef("pk"))))
    return queryset


def _sort_expression(key):
    if key not in NULL_STANDIN:
        return F(key)
    standin = NULL_STANDIN[key]
    return OrEmpty(F(key)) if standin == "" else Coalesce(F(key), standin)


def order_and_page(queryset, order, *, marker_id, limit, fields=None):
    """Apply the order and the keyset condition after the marker image; slice a page.

    With `fields`, the rows come as namespaces of those fields instead of model instances
    (a page of 1,000 images spent a third of its time building them).

    The marker is looked up in `queryset`, the caller's listing: an image the caller cannot
    list is answered as a missing one (400), as Glance does, so that neither its existence
    nor its sort position shows.
    """
    annotations = {f"sort_{key}": _sort_expression(key) for key, _ in order}
    queryset = queryset.annotate(**annotations)
    queryset = queryset.order_by(*[(F(f"sort_{key}").asc() if d == "asc"
                                    else F(f"sort_{key}").desc()) for key, d in order])
    if marker_id is not None:
        marker = queryset.filter(pk=marker_id).values(*annotations).first()
        if marker is None:
            raise Invalid(f"marker {marker_id} could not be found.")
        after = Q()
        for i, (key, direction) in enumerate(order):
            step = Q(**{f"sort_{k}": marker[f"sort_{k}"] for k, _ in order[:i]})
            op = "gt" if direction == "asc" else "lt"
            step &= Q(**{f"sort_{key}__{op}": marker[f"sort_{key}"]})
            after |= step
        # The OR above alone makes the database read every row before the marker; bounding
        # the first key as well lets it start an index range scan at the marker.
        first, direction = order[0]
        bound = Q(**{f"sort_{first}__{'gte' if direction == 'asc' else 'lte'}":
                     marker[f"sort_{first}"]})
        queryset = queryset.filter(bound & after)
    if fields is not None:
        return [SimpleNamespace(**row) for row in queryset.values(*fields)[:limit]]
    return list(queryset[:limit])
