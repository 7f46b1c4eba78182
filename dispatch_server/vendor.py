"""Front-end libraries from the npm registry (package-lock.json, `npm ci` in the set-up),
served by this server under /static/vendor/<name>/: no CDN at run time."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from dispatch_server.config import PROJECT_ROOT

NODE_MODULES = PROJECT_ROOT / "node_modules"
# URL name -> folder in node_modules.
LIBRARIES = {
    "swagger-ui": "swagger-ui-dist",
    "leaflet": "leaflet/dist",
    "markercluster": "leaflet.markercluster/dist",
    "chart": "chart.js/dist",
}


def url(name: str) -> str:
    """Where a library's files are served."""
    return f"/static/vendor/{name}"


def installed(name: str, file: str) -> bool:
    return (NODE_MODULES / LIBRARIES[name] / file).is_file()


def mount(app: FastAPI) -> None:
    """Every library's folder (they are public files: nothing in them is a secret)."""
    for name, folder in LIBRARIES.items():
        app.mount(url(name), StaticFiles(directory=NODE_MODULES / folder, check_dir=False), name)
