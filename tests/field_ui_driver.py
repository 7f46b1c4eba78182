"""Runs the real field app (a real Kivy window: Xvfb in the tests) with a scenario driving it.

    python tests/field_ui_driver.py SCENARIO --report R.json --artifacts DIR [app options...]
        [--ticket T]... [--username U --password P] [--photo FILE]

The scenario is a generator of steps run inside the app's own loop (Kivy's Clock): it
presses buttons through their events, types into fields, waits for what the screens show
and saves a screenshot of each screen. The report says how far it got, what it read on
the screens and the cold start time (process start to the first screen with its data).
Each scenario is a separate process: Kivy has one window per process, as on a phone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STARTED = time.monotonic()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from field_app.__main__ import make_app, parse  # noqa: E402


@dataclass
class Until:
    """Wait until `condition()` holds (or fail after `timeout` s)."""

    condition: Callable[[], Any]
    what: str
    timeout: float = 20.0


def pause(seconds: float) -> Until:
    deadline = time.monotonic() + seconds
    return Until(lambda: time.monotonic() >= deadline, f"{seconds} s", seconds + 5)


Steps = Generator[Until, None, None]


class Driver:
    """What scenarios use: the app, presses, typing, screenshots, the report."""

    def __init__(self, app: Any, options: argparse.Namespace) -> None:
        self.app = app
        self.options = options
        self.artifacts = Path(options.artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.report: dict[str, Any] = {"ok": False, "steps": [], "seen": {}, "shots": []}

    def screen(self, name: str | None = None) -> Any:
        root = self.app.root
        return root.current_screen if name is None else root.get_screen(name)

    def on(self, name: str) -> Until:
        return Until(lambda: self.app.root is not None and self.app.root.current == name,
                     f"the {name} screen")  # fmt: skip

    def press(self, widget: Any) -> None:
        """A tap: the button's own press and release events."""
        widget.dispatch("on_press")
        widget.dispatch("on_release")
        self.step(f"pressed {getattr(widget, 'text', widget)!r}")

    def toggle(self, widget: Any) -> None:
        widget.state = "normal" if widget.state == "down" else "down"
        widget.dispatch("on_release")
        self.step(f"toggled {widget.text!r} to {widget.state}")

    def type(self, field: Any, text: str) -> None:
        field.text = text

    def step(self, what: str) -> None:
        self.report["steps"].append(f"{time.monotonic() - STARTED:7.2f}  {what}")

    def see(self, key: str, value: Any) -> None:
        self.report["seen"][key] = value

    def shoot(self, name: str) -> Until:
        """A screenshot of the whole window (popups included), after the next frame."""
        from kivy.core.window import Window  # noqa: PLC0415

        def taken() -> bool:
            made = Window.screenshot(name=str(self.artifacts / f"{name}.png"))
            if made:
                final = self.artifacts / f"{name}.png"
                Path(made).replace(final)
                self.report["shots"].append(final.name)
            return True

        return Until(taken, f"screenshot {name}")

    def texts(self, widget: Any) -> list[str]:
        """Every label text under a widget (what the screen shows)."""
        found = []
        for child in widget.walk():
            text = getattr(child, "text", None)
            if isinstance(text, str) and text.strip():
                found.append(text)
        return found


def run(scenario: Callable[[Driver], Steps], options: argparse.Namespace) -> int:
    from kivy.clock import Clock  # noqa: PLC0415

    app = make_app(options)
    driver = Driver(app, options)
    state: dict[str, Any] = {"steps": None, "waiting": None}

    def finish(ok: bool, error: str | None = None) -> None:
        driver.report["ok"] = ok
        if error:
            driver.report["error"] = error
        Path(options.report).write_text(json.dumps(driver.report, ensure_ascii=False, indent=1))
        app.stop()

    def tick(_dt: float) -> bool:
        if state["steps"] is None:
            state["steps"] = scenario(driver)
        waiting: tuple[Until, float] | None = state["waiting"]
        try:
            if waiting is not None:
                until, deadline = waiting
                if until.condition():
                    state["waiting"] = None
                elif time.monotonic() > deadline:
                    driver.shoot("failure").condition()
                    finish(False, f"timed out waiting for {until.what}")
                    return False
                else:
                    return True
            until = next(state["steps"])
            state["waiting"] = (until, time.monotonic() + until.timeout)
        except StopIteration:
            finish(True)
            return False
        except Exception:
            driver.shoot("failure").condition()
            finish(False, traceback.format_exc())
            return False
        return True

    Clock.schedule_interval(tick, 0.05)
    app.run()
    return 0 if driver.report["ok"] else 1


# --- scenarios ------------------------------------------------------------------------------


def sign_in_and_resolve(d: Driver) -> Steps:
    """Sign in, go on duty, open the case, accept, arrive, resolve with a photo; every
    screen photographed; then the settings in English."""
    yield d.on("signin")
    screen = d.screen("signin")
    d.type(screen.ids.server, d.options.server)
    d.type(screen.ids.username, d.options.username)
    d.type(screen.ids.password, d.options.password)
    yield d.shoot("01-sign-in")
    d.press(screen.ids.sign_in)
    yield d.on("queue")
    ticket = d.options.ticket[0]
    queue = d.screen("queue")
    yield Until(lambda: queue.card(ticket) is not None, f"the card of {ticket}")
    d.see("cold_start_s", round(time.monotonic() - STARTED, 2))
    card = queue.card(ticket)
    d.see("card", {"category": card.category, "countdown": card.countdown,
                   "status": card.status, "distance": card.distance})  # fmt: skip
    d.toggle(queue.ids.duty)
    yield pause(0.5)
    yield d.shoot("02-queue")
    d.press(card)
    yield d.on("case")
    case = d.screen("case")
    yield Until(lambda: "accepted" in case.action_buttons(), "the accept button")
    d.see("case_texts", d.texts(case))
    yield d.shoot("03-case")
    d.press(case.action_buttons()["accepted"])
    yield Until(lambda: "on_site" in case.action_buttons(), "the arrived button")
    d.see("after_accept", case.ids.status.text)
    d.press(case.action_buttons()["on_site"])
    yield Until(lambda: "result" in case.action_buttons(), "the result button")
    d.press(case.action_buttons()["result"])
    yield d.on("result")
    result = d.screen("result")
    reasons = list(result.ids.reason.values)
    d.see("resolved_reasons", reasons)
    result.ids.reason.text = reasons[0]
    d.type(result.ids.note, "과태료 부과, 차주에게 이동 요청")
    d.press(result.ids.add_photo)
    yield Until(lambda: getattr(result, "picker", None) is not None, "the photo picker")
    picker = result.picker
    picker.ids.chooser.path = str(Path(d.options.photo).parent)
    picker.ids.chooser.selection = [d.options.photo]
    yield pause(0.5)
    yield d.shoot("04-photo-picker")
    d.press(picker.ids.choose)
    yield Until(lambda: len(result.photos) == 1, "the photo chosen")
    yield pause(0.3)
    yield d.shoot("05-result")
    d.press(result.ids.save)
    yield d.on("case")
    yield Until(lambda: d.app.service.outbox.pending_count() == 0, "everything sent", 30)
    final = d.screen("case")
    yield Until(lambda: any("처리 완료" in text for text in d.texts(final.ids.timeline)),
                "the result on the timeline (the case read again)")  # fmt: skip
    yield pause(0.5)
    d.see("final_status", final.ids.status.text)
    d.see("final_actions", sorted(final.action_buttons()))
    d.see("final_timeline", d.texts(final.ids.timeline))
    yield d.shoot("06-case-resolved")
    d.press(d.screen("case").ids.back)
    yield d.on("queue")
    d.press(d.screen("queue").ids.settings)
    yield d.on("settings")
    settings = d.screen("settings")
    d.press(settings.ids.english)
    yield pause(0.5)
    d.see("settings_texts", d.texts(settings))
    yield d.shoot("07-settings-en")


def load_queue(d: Driver) -> Steps:
    """Sign in and wait until the queue has the tickets (then the app closes)."""
    yield d.on("signin")
    screen = d.screen("signin")
    d.type(screen.ids.server, d.options.server)
    d.type(screen.ids.username, d.options.username)
    d.type(screen.ids.password, d.options.password)
    d.press(screen.ids.sign_in)
    yield d.on("queue")
    queue = d.screen("queue")
    for ticket in d.options.ticket:
        yield Until(lambda t=ticket: queue.card(t) is not None, f"the card of {ticket}")
    yield Until(lambda: all(d.app.service.cases.case(c.case_id) for c in d.app.service.cards()),
                "every case cached")  # fmt: skip


def work_offline(d: Driver) -> Steps:
    """With no network: the session and the cases come from the phone; accept, arrive and
    record an unresolved result on the first ticket, accept the second; the badge counts."""
    yield d.on("queue")  # no sign-in: the session survived the restart
    queue = d.screen("queue")
    for ticket in d.options.ticket:
        yield Until(lambda t=ticket: queue.card(t) is not None, f"the cached card of {ticket}")
    d.see("cold_start_s", round(time.monotonic() - STARTED, 2))
    first, second = d.options.ticket[:2]
    d.press(queue.card(first))
    yield d.on("case")
    case = d.screen("case")
    yield Until(lambda: "accepted" in case.action_buttons(), "the accept button")
    d.press(case.action_buttons()["accepted"])
    yield Until(lambda: "on_site" in case.action_buttons(), "the arrived button")
    d.press(case.action_buttons()["on_site"])
    yield Until(lambda: "result" in case.action_buttons(), "the result button")
    d.press(case.action_buttons()["result"])
    yield d.on("result")
    result = d.screen("result")
    d.press(result.ids.unresolved)
    yield Until(lambda: result.outcome == "unresolved", "the unresolved outcome")
    d.see("unresolved_reasons", list(result.ids.reason.values))
    result.ids.reason.text = result.ids.reason.values[0]
    yield pause(0.3)
    yield d.shoot("11-offline-result")
    d.press(result.ids.save)
    yield d.on("case")
    yield pause(0.3)
    d.see("offline_case_status", d.screen("case").ids.status.text)
    yield d.shoot("12-offline-case")
    d.press(d.screen("case").ids.back)
    yield d.on("queue")
    d.press(queue.card(second))
    yield d.on("case")
    yield Until(lambda: "accepted" in d.screen("case").action_buttons(), "the accept button")
    d.press(d.screen("case").action_buttons()["accepted"])
    d.press(d.screen("case").ids.back)
    yield d.on("queue")
    yield pause(0.5)
    d.see("badge", d.app.sync_text)
    d.see("pending", d.app.service.outbox.pending_count())
    yield d.shoot("13-offline-queue")


def come_back_online(d: Driver) -> Steps:
    """The network is back: everything waiting is sent; a refused action shows its notice."""
    yield d.on("queue")
    d.see("cold_start_s", round(time.monotonic() - STARTED, 2))
    yield Until(lambda: d.app.service.outbox.pending_count() == 0, "everything sent", 30)
    yield Until(lambda: bool(d.screen("queue").notice_text), "the notice", 10)
    yield pause(0.5)
    d.see("badge", d.app.sync_text)
    d.see("notice", d.screen("queue").notice_text)
    yield d.shoot("14-back-online")


SCENARIOS = {f.__name__: f for f in (sign_in_and_resolve, load_queue, work_offline,
                                     come_back_online)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--report", required=True)
    parser.add_argument("--artifacts", required=True)
    parser.add_argument("--ticket", action="append", default=[])
    parser.add_argument("--username", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--photo", default="")
    own, rest = parser.parse_known_args()
    options = parse(rest)
    for name, value in vars(own).items():
        setattr(options, name, value)
    return run(SCENARIOS[own.scenario], options)


if __name__ == "__main__":
    sys.exit(main())
