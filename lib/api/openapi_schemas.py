"""The schemas the OpenAPI document is made of: records (from the feature schema),
predictions (from lib.model.inference), errors, metrics and jobs. Facts come from the
code's own objects (windows, bounds, patterns, statuses), never from copies."""

from __future__ import annotations

from typing import Any, get_args

from lib.model.confidence import CONFIDENCE_NAMES
from lib.model.schema import FeatureSchema, FeatureSpec
from lib.registry.base import VERSION_NAME
from lib.retraining.jobs import JOB_ID, JobStatus

ERROR = {"$ref": "#/components/schemas/Error"}
NUMBER_OR_NULL = {"type": ["number", "null"]}


def _feature(spec: FeatureSpec, policy: str) -> dict[str, Any]:
    if spec.is_numeric:
        schema: dict[str, Any] = {
            "type": ["number", "null"] if spec.nullable else "number",
            "minimum": spec.hard_range[0],
            "maximum": spec.hard_range[1],
            "description": "training range {:g} to {:g}; outside it a warning is returned".format(*spec.training_range),
        }
    elif policy == "reject":
        schema = {"enum": [*spec.categories, *([None] if spec.nullable else [])]}
    else:
        schema = {
            "type": ["string", "null"] if spec.nullable else "string",
            "examples": spec.categories,
            "description": "known: " + ", ".join(spec.categories) + "; any other value is scored with a warning",
        }
    if spec.label or spec.description or spec.unit:  # the config's words first
        words = ". ".join(w for w in (spec.title if spec.label or spec.unit else None, spec.description) if w)
        schema["description"] = f"{words}. {schema['description']}" if "description" in schema else words
        if spec.label:
            schema["title"] = spec.label
    schema["x-default"] = spec.default
    return schema


def record_schema(schema: FeatureSchema) -> dict[str, Any]:
    return {
        "type": "object",
        "required": schema.names,
        "properties": {spec.name: _feature(spec, schema.unknown_categories) for spec in schema.features},
        "additionalProperties": True,
        "description": "Other fields (an id, the target) are ignored, with a warning when unknown.",
    }


def error_responses(*codes: int) -> dict[str, Any]:
    texts = {
        400: "Malformed request",
        401: "No admin token",
        403: "Wrong admin token, not allowed from here, or sent by a page of another site",
        404: "Not found",
        405: "Method not allowed",
        413: "Body too large",
        415: "Body is not JSON (or not UTF-8, or compressed)",
        429: "Too many wrong admin tokens from this client: see Retry-After",
        409: "Conflict: a job is already running, the version is already served, or nothing to roll back to",
        422: "Invalid input: every bad field (or every problem of an uploaded file) is named",
        500: "A registry file cannot be read",
        503: "No model loaded, or the registry or the monitoring store cannot be reached",
    }
    return {
        str(code): {"description": texts[code], "content": {"application/json": {"schema": ERROR}}} for code in codes
    }


def path_parameter(name: str, pattern: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": pattern}}


JOB_ID_PATTERN = JOB_ID.pattern
VERSION_PATTERN = VERSION_NAME.pattern


def json_content(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


# What each Prediction field is, for callers; every field of lib.model.inference.Prediction
# must be here (prediction_schema() refuses to build a document that misses one).
PREDICTION_PROPERTIES: dict[str, dict[str, Any]] = {
    "label": {"type": "string"},
    "predicted_positive": {"type": "boolean"},
    "probability": {"type": "number", "minimum": 0, "maximum": 1},
    "threshold": {"type": "number"},
    "confidence": {"enum": list(CONFIDENCE_NAMES)},
    "confidence_accuracy": NUMBER_OR_NULL,
    "quality_score": {"type": "number", "minimum": 0, "maximum": 1},
    "warnings": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
    "reasons": {"type": "array", "items": {"type": "object"}},
    "model_version": {"type": "string"},
    "latency_ms": {"type": "number"},
    "prediction_id": {
        "type": "string",
        "pattern": "^p[0-9a-f]{16}$",
        "description": "Names this prediction when its real outcome is reported (logged with it).",
    },
}
OPTIONAL_PREDICTION_FIELDS = ("predicted_positive", "confidence_accuracy", "latency_ms")


def prediction_schema() -> dict[str, Any]:
    """The Prediction object, field for field as lib.model.inference defines it."""
    from lib.model.inference import PREDICTION_FIELDS  # imported when the document is built, not at start

    if list(PREDICTION_PROPERTIES) != list(PREDICTION_FIELDS):
        raise RuntimeError(f"the OpenAPI Prediction lists {list(PREDICTION_PROPERTIES)}, the code {PREDICTION_FIELDS}")
    return {
        "type": "object",
        "required": [name for name in PREDICTION_FIELDS if name not in OPTIONAL_PREDICTION_FIELDS],
        "properties": PREDICTION_PROPERTIES,
    }


_SUMMARY = {
    "requests": {"type": "integer"},
    "errors": {"type": "integer"},
    "error_rate": {"type": "number"},
    "throughput_rps": {"type": "number"},
    "latency_ms": {
        "type": "object",
        "properties": {q: {"type": ["number", "null"]} for q in ("p50", "p95", "p99")},
    },
}
SYSTEM_METRICS = {
    "type": "object",
    "required": ["window", "requests", "errors", "error_rate", "throughput_rps", "latency_ms", "by_source", "series"],
    "properties": {
        "window": {"type": "string"},
        "window_seconds": {"type": "integer"},
        **_SUMMARY,
        "by_source": {"type": "object", "additionalProperties": {"type": "object", "properties": _SUMMARY}},
        "by_version": {"type": "object", "additionalProperties": {"type": "object", "properties": _SUMMARY}},
        "by_replica": {"type": "object", "additionalProperties": {"type": "object", "properties": _SUMMARY}},
        "series_step_seconds": {"type": "integer"},
        "series": {"type": "array", "items": {"type": "object"}},
    },
}


JOB = {
    "type": "object",
    "required": ["job"],
    "properties": {
        "job": {
            "type": "object",
            "required": ["id", "status", "progress"],
            "properties": {
                "id": {"type": "string"},
                "status": {"enum": list(get_args(JobStatus))},
                "progress": {"type": "number", "minimum": 0, "maximum": 1},
                "step": {"type": "string"},
                "log": {"type": "array", "items": {"type": "string"}},
                "result": {"type": "object"},
                "error": {"type": "string"},
            },
        }
    },
}
SWITCH_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {"reason": {"type": "string"}},
    "additionalProperties": False,
}
PROMOTE_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string"},
        "from_version": {
            "type": "string",
            "description": "promote only if this version is still the served one (409 otherwise): two "
            "promotions from the same version cannot both win",
        },
        "gate": {
            "enum": ["none", "live"],
            "description": "live: promote only if this version, in shadow, is not worse than the served one "
            "on the same labelled live predictions (PROMOTION_METRIC, PROMOTION_TOLERANCE); 409 otherwise",
        },
    },
    "additionalProperties": False,
}


def components() -> dict[str, Any]:
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Problem": {
                "type": "object",
                "required": ["field", "code", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error", "details"],
                "properties": {"error": {"type": "string"}, "details": {"type": "array"}},
            },
            "Health": {
                "type": "object",
                "required": ["status", "model_loaded"],
                "properties": {
                    "status": {"enum": ["ok", "degraded", "unavailable"]},
                    "model_loaded": {"type": "boolean"},
                    "model_version": {"type": ["string", "null"]},
                    "uptime_s": {"type": "number"},
                    "reason": {"type": "string"},
                    "checks": {"type": "object"},
                },
            },
        },
    }
