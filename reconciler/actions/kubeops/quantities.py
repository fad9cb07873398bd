"""Kubernetes resource quantities (``250m``, ``1.5``, ``512Mi``, ``20Gi``) as numbers and back.

Parsing is the official client's (``kubernetes.utils.parse_quantity``); formatting rounds up to
what people write: CPU in whole cores or millicores, memory in Mi (Gi when exact), storage in
whole Gi.
"""

from __future__ import annotations

import math
from decimal import Decimal

from reconciler.errors import PermanentError

MI = 2**20
GI = 2**30


def parse(text: object, what: str) -> Decimal:
    """A quantity's value (cores, bytes); a PermanentError naming ``what`` if it is not one."""
    from kubernetes.utils import parse_quantity  # the client loads when an action runs

    try:
        return Decimal(parse_quantity(text))
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise PermanentError(f"{what}: {text!r} is not a Kubernetes quantity") from exc


def format_cpu(cores: Decimal) -> str:
    millis = math.ceil(cores * 1000)
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(size: Decimal) -> str:
    mebibytes = math.ceil(size / MI)
    return f"{mebibytes // 1024}Gi" if mebibytes % 1024 == 0 else f"{mebibytes}Mi"


def format_storage(size: Decimal) -> str:
    if size < GI:
        return format_memory(size)
    return f"{math.ceil(size / GI)}Gi"


def format_as(resource: str, value: Decimal) -> str:
    return format_cpu(value) if resource == "cpu" else format_memory(value)
