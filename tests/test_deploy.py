"""The deployment files agree with the product: every DASAN_* setting they pass exists, and
the compose file has the parts docs/deploy.md describes. (`docker compose config` itself
needs Docker's compose plug-in, which these machines do not have: see docs/deploy.md.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from dispatch_server.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def settings_named(text: str) -> set[str]:
    return set(re.findall(r"\bDASAN_[A-Z0-9_]+\b", text))


def test_every_dasan_setting_the_deployment_names_exists() -> None:
    known = {f"DASAN_{name.upper()}" for name in Settings.model_fields}
    for path in [COMPOSE, ROOT / "deploy" / "env.example", *(ROOT / "deploy").rglob("*.conf"),
                 ROOT / "docs" / "deploy.md", ROOT / "docs" / "scaling.md"]:  # fmt: skip
        unknown = settings_named(path.read_text()) - known
        assert not unknown, f"{path.relative_to(ROOT)} names settings that do not exist: {unknown}"


def test_the_compose_file_has_its_parts() -> None:
    services = compose()["services"]
    assert {"db", "migrate", "api", "worker", "proxy"} <= set(services)
    assert services["db"]["image"].startswith("postgis/postgis:")
    assert services["migrate"]["command"] == ["dasan", "db", "upgrade"]
    for name in ("api", "worker"):
        after = services[name]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully"
        assert after["db"]["condition"] == "service_healthy"
    assert "replicas" in services["api"]["deploy"]
    assert "/healthz" in " ".join(services["api"]["healthcheck"]["test"])
    assert all("healthcheck" in services[name] for name in ("db", "api", "proxy"))
    # The worker runs the sweep and the outbox; the APIs do not run them too.
    api = services["api"]["environment"]
    assert api["DASAN_SLA_SWEEP_IN_SERVE"] == api["DASAN_OUTBOX_IN_SERVE"] == "false"
    # Every file the compose file mounts from the repository is there.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and "${" not in source:
                assert (ROOT / source).exists(), source
