"""The dumpdata format of backups: Django's JSON Lines, but with times kept to the microsecond.

Django's own JSON encoder cuts datetimes to milliseconds (ECMA-262), so a dumpdata -> loaddata round trip moves
every `created_at`, `confirmed_at` and audit timestamp; exports that carry `confirmed_at` would then differ.
JSON Lines is also read one line at a time on restore, not as one document in memory.
"""

import datetime
from typing import Any

from django.core.serializers import jsonl
from django.core.serializers.json import DjangoJSONEncoder

FORMAT = "irlabel-jsonl"  # registered by labeling.services.backups; the file suffix loaddata recognises


class ExactEncoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime | datetime.time):
            return o.isoformat()  # all six digits of microseconds; the deserializer parses them back exactly
        return super().default(o)


class Serializer(jsonl.Serializer):
    def _init_options(self) -> None:
        super()._init_options()
        self.json_kwargs["cls"] = ExactEncoder


Deserializer = jsonl.Deserializer
