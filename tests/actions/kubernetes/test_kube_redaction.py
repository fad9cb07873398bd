"""Env values in Kubernetes objects: a credential is hidden whatever the variable is called."""

from __future__ import annotations

from reconciler.actions.kubeops.redaction import REDACTED, clean


def test_env_values_lose_url_credentials_and_token_shapes_whatever_their_name() -> None:
    container = {
        "env": [
            {"name": "DATABASE_URL", "value": "postgres://app:db-pass-9876@db:5432/app"},
            {"name": "UPSTREAM", "value": "Authorization: Bearer abc.def.ghi"},
            {"name": "HOOK", "value": "https://hooks.slack.com/services/T01/B02/XyZ123"},
            {"name": "GH", "value": "ghp_" + "A1b2C3d4E5" * 4},
            {"name": "DB_PASSWORD", "value": "hunter2"},
            {"name": "LOG_LEVEL", "value": "debug"},
        ]
    }
    assert clean({"containers": [container]}) == {
        "containers": [
            {
                "env": [
                    {"name": "DATABASE_URL", "value": "postgres://***@db:5432/app"},
                    {"name": "UPSTREAM", "value": "Authorization: Bearer ***"},
                    {"name": "HOOK", "value": "https://hooks.slack.com/services/***"},
                    {"name": "GH", "value": "***"},
                    {"name": "DB_PASSWORD", "value": REDACTED},
                    {"name": "LOG_LEVEL", "value": "debug"},
                ]
            }
        ]
    }
