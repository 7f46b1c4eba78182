"""The field app in a real Kivy window (Xvfb) against a real field_server: signed in, driven by
its own events through a case's life, and through a tunnel. Screenshots of every screen go
to tests/artifacts/field_app/.

Each scenario is one run of the app (tests/field_ui_driver.py), so restarts are real ones:
the offline test closes the app with its actions unsent and opens it again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fieldapp import PASSWORD, Inspector, Server, assigned_case, new_inspector
from tests.netcut import NetCut
from tests.test_photos import jpeg

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts" / "field_app"
DRIVER = ROOT / "tests" / "field_ui_driver.py"


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """A virtual screen of our own (Xvfb, installed by the set-up)."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: run `bash scripts/system-deps.sh` (or `make setup`)"
    for number in range(90, 140):
        taken = (Path(f"/tmp/.X11-unix/X{number}"), Path(f"/tmp/.X{number}-lock"))
        if not any(path.exists() for path in taken):
            break
    process = subprocess.Popen(
        [xvfb, f":{number}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert process.poll() is None and time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    yield f":{number}"
    process.terminate()
    process.wait(timeout=10)


def drive(
    display: str, scenario: str, *, server_url: str, data: Path, tmp: Path, **options: Any
) -> dict[str, Any]:
    """One run of the app with a scenario; its report (the test fails on a failed run)."""
    report = tmp / f"{scenario}.json"
    args = [sys.executable, str(DRIVER), scenario, "--report", str(report),
            "--artifacts", str(ARTIFACTS), "--server", server_url, "--data-dir", str(data),
            "--sync-seconds", "1", "--fix-seconds", "5"]  # fmt: skip
    for name, value in options.items():
        for item in value if isinstance(value, list) else [value]:
            args += [f"--{name}", str(item)]
    env = {**os.environ, "DISPLAY": display, "KIVY_NO_CONSOLELOG": "1"}
    run = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert report.exists(), f"no report; the app said:\n{run.stdout}\n{run.stderr}"
    result = json.loads(report.read_text())
    assert result["ok"], f"{result.get('error')}\nsteps:\n" + "\n".join(result["steps"])
    return dict(result)


def test_an_inspector_works_a_case_through_the_app(
    display: str, field_server: Server, field_inspector: Inspector, tmp_path: Path
) -> None:
    case = assigned_case(field_server, field_inspector, description="소화전 앞 흰색 승용차 주차")
    photo = tmp_path / "현장사진.jpg"
    photo.write_bytes(jpeg(colour="teal"))
    report = drive(
        display, "sign_in_and_resolve", server_url=field_server.base, data=tmp_path / "phone",
        tmp=tmp_path, ticket=case["ticket"], username=field_inspector.username, password=PASSWORD,
        photo=photo,
    )  # fmt: skip
    seen = report["seen"]
    # What the screens showed, in Korean.
    assert seen["card"]["category"] == "불법 주정차" and seen["card"]["status"] == "배정됨"
    assert "남음" in seen["card"]["countdown"]
    assert (
        "+82******5678" in seen["case_texts"] and "소화전 앞 흰색 승용차 주차" in seen["case_texts"]
    )
    assert seen["after_accept"].startswith("수락함")
    assert seen["resolved_reasons"] and seen["final_status"] == "처리 완료"
    assert seen["final_actions"] == []  # nothing more to do on it
    reason = seen["resolved_reasons"][0]  # the code's name, not the code
    assert [line.split("   ", 1)[1] for line in seen["final_timeline"]][-3:] == [
        "수락", "현장 도착", f"처리 완료 · {reason} · 과태료 부과, 차주에게 이동 요청"
    ]  # fmt: skip
    assert "Settings" in seen["settings_texts"] and "Sign out" in seen["settings_texts"]
    # What the server got: each move once, in order, with the note, and the photo.
    events = field_server.timeline(case)
    assert [e["type"] for e in events] == [
        "received",
        "assigned",
        "accepted",
        "on_site",
        "resolved",
    ]
    assert events[-1]["payload"]["note"] == "과태료 부과, 차주에게 이동 요청"
    assert len(field_server.photos(case)) == 1
    on_duty = field_server.sql("SELECT on_duty FROM inspector WHERE id = :i", i=field_inspector.id)
    assert on_duty == [(True,)]
    for name in ("01-sign-in", "02-queue", "03-case", "04-photo-picker", "05-result",
                 "06-case-resolved", "07-settings-en"):  # fmt: skip
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, name


def test_actions_made_in_a_tunnel_reach_the_server_once_in_order(
    display: str,
    field_server: Server,
    field_net: NetCut,
    field_inspector: Inspector,
    tmp_path: Path,
) -> None:
    first = assigned_case(field_server, field_inspector, category="street_lamp")
    second = assigned_case(field_server, field_inspector)
    phone = tmp_path / "phone"
    common = {"server_url": field_net.url, "data": phone, "tmp": tmp_path,
              "ticket": [first["ticket"], second["ticket"]]}  # fmt: skip
    drive(display, "load_queue", username=field_inspector.username, password=PASSWORD, **common)
    field_net.cut()  # into the tunnel
    offline = drive(display, "work_offline", **common)
    assert offline["seen"]["pending"] == 4  # accepted, on site, unresolved; accepted
    assert "4건 전송 대기" in offline["seen"]["badge"]
    assert offline["seen"]["offline_case_status"].startswith("처리 불가")
    # Meanwhile the office gives the second case to someone else.
    other = new_inspector(field_server)
    field_server.move(second, to="assigned", inspector_id=other.id, reason="closer")
    assert [e["type"] for e in field_server.timeline(first)] == ["received", "assigned"]
    field_net.restore()  # out of the tunnel: the app is opened again
    online = drive(display, "come_back_online", **common)
    assert "모두 전송됨" in online["seen"]["badge"]
    assert "더 이상 내 민원이 아닙니다" in online["seen"]["notice"]  # in the app's language
    moves = [e["type"] for e in field_server.timeline(first)]
    assert moves == ["received", "assigned", "accepted", "on_site", "unresolved"]
    unresolved = field_server.timeline(first)[-1]
    # The reason chosen from the server's list for this outcome and category.
    outcome = field_server.sql("SELECT outcome FROM result_code WHERE code = :c",
                         c=unresolved["payload"]["result_code"])  # fmt: skip
    assert outcome == [("unresolved",)]
    # The arrival counts from when it happened in the tunnel, not from the sync.
    on_site = field_server.timeline(first)[-2]
    assert on_site["payload"]["device_time"] < on_site["payload"]["received_at"]
    assert "accepted" not in [e["type"] for e in field_server.timeline(second)]  # dropped, not sent
    for name in ("11-offline-result", "12-offline-case", "13-offline-queue", "14-back-online"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000, name
