"""Open311 on a real `dasan serve`, as a third-party app meets it: a key made with the CLI,
the round trip (services, a definition, a post, the request read back in JSON and XML),
and schemathesis generating requests from the published OpenAPI of /open311/v2 (valid and
not): never a 5xx, every refusal in the spec's format."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import JONGNO
from tests.test_server import free_port, running_server

pytestmark = pytest.mark.server

BASE = "/open311/v2"
EXAMPLES_PER_OPERATION = 60
# Half the generated posts start from a real service at a point in Seoul with the answer its
# definition requires, so the rest of what is generated reaches intake itself.
ANCHORS = {
    "street_lamp": ("problem", "off"), "illegal_parking": ("vehicle_type", "car"),
    "vehicle_idling": ("vehicle_type", "van"), "garbage_uncollected": ("waste_kind", "food"),
    "illegal_dumping": ("waste_kind", "bulky"), "road_damage": ("size", "small"),
    "facility_damage": ("facility", "sign"),
}  # fmt: skip
# What a generated post keeps besides the anchor (each may be anything the schema allows).
POST_FIELDS = {
    "description", "email", "phone", "first_name", "last_name", "media_url", "device_id",
    "account_id", "address_string", "address_id", "jurisdiction_id", "media",
}  # fmt: skip
anchors = st.fixed_dictionaries(
    {
        "service": st.sampled_from(sorted(ANCHORS)),
        "lat": st.floats(37.45, 37.68),
        "long": st.floats(126.80, 127.15),
    }
)


DASAN = str(Path(sys.executable).with_name("dasan"))


def make_key(env: dict[str, str], name: str) -> str:
    """A new api_key of the database `env` names, made with the CLI as staff make one."""
    made = subprocess.run(
        [DASAN, "open311", "keys", "create", name, "--requests-per-minute", "1000000"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("o311_"), made.stdout
    return key


class Served:
    """The server's base URL, an api_key of its database and requests posted with it."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.key = key
        self.tickets: list[str] = []
        self.tokens: list[str] = []

    def post(self, service: str, **fields: Any) -> httpx.Response:
        code, answer = ANCHORS[service]
        data = {"api_key": self.key, "service_code": service, f"attribute[{code}]": answer,
                **fields}  # fmt: skip
        return httpx.post(f"{self.url}{BASE}/requests.json", data=data, timeout=15)


@pytest.fixture(scope="module")
def served(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    env = {
        **os.environ,
        "DASAN_DATABASE_URL": make_database("open311"),
        "DASAN_PORT": str(free_port()),
        # Generated reads come without a key: the address's limit must not be what answers.
        "DASAN_PUBLIC_READS_PER_MINUTE": "100000",
        "DASAN_MEDIA_DIR": str(tmp_path_factory.mktemp("media")),
    }
    key = make_key(env, "fuzz app")
    with running_server(env, tmp_path_factory.mktemp("open311") / "serve.log") as url:
        served = Served(url, key)
        for i, service in enumerate(sorted(ANCHORS)):
            answer = served.post(service, lat=JONGNO["lat"] + 0.001 * i, long=JONGNO["lon"])
            assert answer.status_code == 200, answer.text
            served.tickets.append(answer.json()[0]["service_request_id"])
            served.tokens.append(answer.json()[0]["token"])
        yield served


def test_a_third_party_client_round_trip(served: Served) -> None:
    with httpx.Client(base_url=served.url + BASE, timeout=10) as app:
        services = app.get("/services.json").json()
        lamp = next(s for s in services if s["service_code"] == "street_lamp")
        assert lamp["metadata"] is True
        definition = app.get("/services/street_lamp.xml")
        tree = ET.fromstring(definition.content)
        keys = [v.text for v in tree.iterfind("attributes/attribute/values/value/key")]
        assert "off" in keys
        posted = app.post(
            "/requests.xml",
            data={"api_key": served.key, "service_code": "street_lamp", "lat": JONGNO["lat"],
                  "long": JONGNO["lon"], "attribute[problem]": "off",
                  "description": "가로등이 꺼져 있어요", "phone": "010-5555-0101"},
        )  # fmt: skip
        assert posted.status_code == 200, posted.text
        answer = ET.fromstring(posted.content).find("request")
        assert answer is not None
        ticket = answer.findtext("service_request_id")
        token = answer.findtext("token")
        as_json = app.get(f"/requests/{ticket}.json").json()[0]
        as_xml = ET.fromstring(app.get(f"/requests/{ticket}.xml").content).find("request")
        assert as_xml is not None
        assert as_json["status"] == as_xml.findtext("status") == "open"
        assert as_json["service_code"] == as_xml.findtext("service_code") == "street_lamp"
        assert as_json["requested_datetime"] == as_xml.findtext("requested_datetime")
        assert app.get(f"/tokens/{token}.json").json()[0]["service_request_id"] == ticket
        assert b"5555" not in app.get(f"/requests.json?service_request_id={ticket}").content


def _spec_error(response: Any) -> None:
    """A 4xx body is the spec's error list, in the format of the path."""
    if urlsplit(str(response.request.url)).path.endswith(".xml"):
        tree = ET.fromstring(response.content)
        assert tree.tag == "errors" and tree.find("error/description") is not None
        return
    body = response.json()
    assert isinstance(body, list) and body, body
    assert all(set(e) == {"code", "description"} for e in body), body


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/open311/v2/discovery.{fmt}", "GET"),
        ("/open311/v2/services.{fmt}", "GET"),
        ("/open311/v2/services/{service_code}.{fmt}", "GET"),
        ("/open311/v2/requests.{fmt}", "GET"),
        ("/open311/v2/requests.{fmt}", "POST"),
        ("/open311/v2/requests/{service_request_id}.{fmt}", "GET"),
        ("/open311/v2/tokens/{token}.{fmt}", "GET"),
    ],
)
def test_generated_requests_never_get_a_server_error(
    served: Served, path: str, method: str
) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operation = schema[path][method]
    failures: list[str] = []
    statuses: dict[int, int] = {}

    examples = EXAMPLES_PER_OPERATION * (3 if method == "POST" else 1)

    @settings(
        max_examples=examples, deadline=None, derandomize=True, database=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(
        case=operation.as_strategy(), keyed=st.sampled_from([True, True, True, False]),
        anchor=st.none() | anchors,
        fmt=st.sampled_from(["json", "xml", "json", "xml", "as generated"]),
        real=st.integers(1, 1000), keep=st.sets(st.sampled_from(sorted(POST_FIELDS))),
    )  # fmt: skip
    def run(
        case: Any, keyed: bool, anchor: dict[str, Any] | None, fmt: str, real: int,
        keep: set[str],
    ) -> None:  # fmt: skip
        # Mostly real formats, services, ids and tokens (else only 404s are tested), with
        # generated ones now and then.
        path_parameters = case.path_parameters or {}
        if "fmt" in path_parameters and fmt != "as generated":
            path_parameters["fmt"] = fmt
        if real % 5:
            for name, known in (("service_code", sorted(ANCHORS)), ("token", served.tokens),
                                ("service_request_id", served.tickets)):  # fmt: skip
                if name in path_parameters:
                    path_parameters[name] = known[real % len(known)]
        if keyed or anchor is not None:
            if isinstance(case.body, dict):
                case.body["api_key"] = served.key
            else:
                case.query = {**(case.query or {}), "api_key": served.key}
        if anchor is not None and isinstance(case.body, dict):
            code, answer = ANCHORS[anchor["service"]]
            case.body = {k: v for k, v in case.body.items() if k in keep or k == "api_key"}
            case.body.update(
                {"service_code": anchor["service"], "lat": anchor["lat"],
                 "long": anchor["long"], f"attribute[{code}]": answer}
            )  # fmt: skip
        response = case.call(base_url=served.url, timeout=15)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        try:
            assert response.status_code < 500, response.text[:300]
            if 400 <= response.status_code < 500:
                _spec_error(response)
        except Exception as exc:  # collected: one report with every failure
            failures.append(f"{case.as_curl_command()}\n  -> {response.status_code} {exc!r}"[:800])

    run()
    print(f"{method} {path}: statuses {sorted(statuses.items())}")
    assert not failures, "\n".join(failures[:5])
    # The generation reached past the checks: some requests were answered, some refused.
    assert statuses.get(200, 0) > 0 and sum(statuses.values()) >= EXAMPLES_PER_OPERATION // 2


def test_a_server_that_queues_posts_makes_them_cases_a_moment_later(
    make_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {
        **os.environ,
        "DASAN_DATABASE_URL": make_database("open311_queue"),
        "DASAN_PORT": str(free_port()),
        "DASAN_OPEN311_DEFER": "always",
        "DASAN_MEDIA_DIR": str(tmp_path_factory.mktemp("media")),
    }
    served = Served("", make_key(env, "queue app"))
    with running_server(env, tmp_path_factory.mktemp("open311q") / "serve.log") as url:
        served.url = url
        tokens = []
        for i, service in enumerate(sorted(ANCHORS) * 3):
            answer = served.post(service, lat=JONGNO["lat"] + 0.0005 * i, long=JONGNO["lon"])
            assert answer.status_code == 200, answer.text
            (posted,) = answer.json()
            assert "service_request_id" not in posted, posted
            tokens.append(posted["token"])
        tickets: dict[str, str] = {}
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=url + BASE, timeout=10) as app:
            while len(tickets) < len(tokens) and time.monotonic() < deadline:
                for token in set(tokens) - set(tickets):
                    (state,) = app.get(f"/tokens/{token}.json").json()
                    if "service_request_id" in state:
                        tickets[token] = state["service_request_id"]
                time.sleep(0.1)
            assert len(tickets) == len(tokens), f"{len(tickets)} of {len(tokens)} made cases"
            assert len(set(tickets.values())) == len(tokens)
            for ticket in tickets.values():
                (read,) = app.get(f"/requests/{ticket}.json").json()
                assert read["status"] == "open" and read["service_request_id"] == ticket
        shown = subprocess.run(
            [DASAN, "open311", "queue"], env=env, capture_output=True, text=True, timeout=60,
            check=True,
        )  # fmt: skip
        assert "waiting: 0" in shown.stdout and "failed: 0" in shown.stdout, shown.stdout
