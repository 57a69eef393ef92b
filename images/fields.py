"""Model fields shaped like Glance's columns."""
import json

from django.db import models


class JSONTextField(models.TextField):
    """A dict kept as JSON text in a TEXT column, like Glance's `JSONEncodedDict`.

    Django's JSONField would be jsonb on PostgreSQL and longtext-with-CHECK on MariaDB;
    Glance's `meta_data` is plain TEXT, and the same model must read Glance's own database.
    """

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return {}
        try:
            return json.loads(value)
        except ValueError:
            return {}

    def to_python(self, value):
        if isinstance(value, dict):
            return value
        if not value:
            return {}
        return json.loads(value)

    def get_prep_value(self, value):
        # A string is already JSON text (or a fragment of it, in a `contains` lookup).
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True)

    def value_to_string(self, obj):
        return self.get_prep_value(self.value_from_object(obj))
