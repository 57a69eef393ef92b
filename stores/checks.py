"""System check: every configured store can be built from its options (names the bad one)."""
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register("stores")
def check_stores(app_configs=None, **kwargs):
    from stores.registry import build

    errors = []
    if settings.DEFAULT_STORE not in settings.STORES:
        errors.append(checks.Error(f"DEFAULT_STORE '{settings.DEFAULT_STORE}' is not in STORES",
                                   id="stores.E001"))
    for name, spec in settings.STORES.items():
        try:
            store = build(name, spec)
        except (ImproperlyConfigured, TypeError, ValueError, ImportError) as exc:
            errors.append(checks.Error(f"Store '{name}': {exc}", id="stores.E002"))
            continue
        if store.max_object_size is not None and store.max_object_size < settings.IMAGE_SIZE_CAP:
            errors.append(checks.Warning(
                f"Store '{name}' takes objects of at most {store.max_object_size} bytes, less "
                f"than the image size cap of {settings.IMAGE_SIZE_CAP} bytes",
                hint="raise the store's chunk_size, or lower image_size_cap",
                id="stores.W001"))
    return errors
