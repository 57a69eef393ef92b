"""`GET /v1/images/detail`: the filters, sorting and marker paging glanceclient v1 sends
(`glanceclient/v1/images.py`, `_build_params`)."""
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db.models import BigIntegerField, F, Prefetch, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from images.api.v1 import access
from images.exceptions import Invalid
from images.models import Image, ImageProperty

SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")
# Nullable sort keys compare through a stand-in, so that paging after a marker whose value
# is NULL is well defined on every database.
STANDIN = {"name": Value(""), "container_format": Value(""), "disk_format": Value(""),
           "size": Value(-1, output_field=BigIntegerField()), "updated_at": F("created_at")}
EXACT_FILTERS = ("name", "status", "container_format", "disk_format")


def _int(params, name, default=None):
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} param must be an integer") from None
    if value < 0:
        raise Invalid(f"{name} param must be positive")
    return value


def _is_public(params):
    raw = params.get("is_public")
    if raw is None:
        return True
    if raw.lower() == "none":
        return None
    if raw.lower() in ("true", "1", "yes", "on"):
        return True
    if raw.lower() in ("false", "0", "no", "off"):
        return False
    raise Invalid(f"Invalid value '{raw}' for is_public: True, False or None")


def image_list(params, caller):
    """The page of images `params` asks for, properties prefetched."""
    if "changes-since" in params:
        since = parse_datetime(params["changes-since"])
        if since is None:
            raise Invalid(f"Unable to filter on changes-since: '{params['changes-since']}'")
        if timezone.is_naive(since):
            since = timezone.make_aware(since, dt_timezone.utc)
        # Glance v1: changes-since includes the images deleted since then.
        queryset = Image.all_objects.filter(updated_at__gt=since)
    else:
        queryset = Image.objects.all()
    queryset = queryset.filter(access.listed(caller, _is_public(params)))
    for name in EXACT_FILTERS:
        if name in params:
            queryset = queryset.filter(**{name: params[name]})
    size_min, size_max = _int(params, "size_min"), _int(params, "size_max")
    if size_min is not None:
        queryset = queryset.filter(size__gte=size_min)
    if size_max is not None:
        queryset = queryset.filter(size__lte=size_max)
    for key, value in params.items():
        if key.startswith("property-"):
            matching = ImageProperty.objects.filter(name=key[len("property-"):], value=value)
            queryset = queryset.filter(id__in=matching.values("image_id"))

    sort_key = params.get("sort_key", "created_at")
    sort_dir = params.get("sort_dir", "desc")
    if sort_key not in SORT_KEYS:
        raise Invalid(f"Unsupported sort_key: {sort_key}. Supported: {', '.join(SORT_KEYS)}")
    if sort_dir not in ("asc", "desc"):
        raise Invalid(f"Unsupported sort_dir: {sort_dir}. Supported: asc, desc")
    queryset = queryset.annotate(sort_value=Coalesce(F(sort_key), STANDIN[sort_key])
                                 if sort_key in STANDIN else F(sort_key))
    sign = "-" if sort_dir == "desc" else ""
    queryset = queryset.order_by(f"{sign}sort_value", f"{sign}id")

    if "marker" in params:
        marker = queryset.filter(pk=params["marker"]).values("sort_value", "id").first()
        if marker is None:
            raise Invalid("Invalid marker. Image could not be found.")
        after = "lt" if sort_dir == "desc" else "gt"
        queryset = queryset.filter(
            Q(**{f"sort_value__{after}": marker["sort_value"]})
            | Q(sort_value=marker["sort_value"], **{f"id__{after}": marker["id"]}))

    # Glance's limit_param_default and api_limit_max (glanceclient always sends limit=20).
    limit = min(_int(params, "limit", settings.LIMIT_PARAM_DEFAULT), settings.API_LIMIT_MAX)
    live = Prefetch("properties", queryset=ImageProperty.objects.all(), to_attr="live_properties")
    return list(queryset.prefetch_related(live)[:limit])
