"""`python -m field_app`: the inspectors' app on this machine (a phone-sized window).

    python -m field_app [--server URL] [--data-dir DIR] [--position LAT,LON | walk:LAT,LON]
                        [--size 432x900] [--sync-seconds 15]

The session, the cached cases and every action not yet sent live in DIR (field.db): close
the app offline, open it again, and it goes on where it was.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def parse(argv: list[str]) -> argparse.Namespace:
    summary = __doc__.split("\n\n")[0] if __doc__ else ""
    parser = argparse.ArgumentParser(prog="python -m field_app", description=summary)
    parser.add_argument(
        "--server", default=os.environ.get("DASAN_FIELD_SERVER"),
        help="the dispatch server (default: the last one, or http://127.0.0.1:8000)",
    )  # fmt: skip
    home = os.environ.get("DASAN_FIELD_DATA", str(Path.home() / ".dasan-field"))
    parser.add_argument("--data-dir", type=Path, default=Path(home),
                        help="where the app keeps its data (default ~/.dasan-field)")  # fmt: skip
    parser.add_argument(
        "--position",
        default="37.5729,126.9794",
        help="desktop only: LAT,LON (fixed) or walk:LAT,LON (a simulated walk)",
    )
    parser.add_argument("--size", default="432x900", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--sync-seconds", type=float, default=15.0)
    parser.add_argument("--fix-seconds", type=float, default=30.0)
    parser.add_argument("--quit-after-start", action="store_true",
                        help="print when the first screen has drawn its data, then quit "
                        "(bench/field_app.py times the cold start with it)")  # fmt: skip
    return parser.parse_args(argv)


def make_app(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The app as the command line asks for it (Kivy configured first)."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # the options above are ours, not Kivy's
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")
    (args.data_dir / "kivy").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("KIVY_HOME", str(args.data_dir / "kivy"))
    width, height = (int(part) for part in args.size.lower().split("x"))
    from kivy.config import Config  # noqa: PLC0415 (after KIVY_* are set)

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("kivy", "exit_on_escape", "0")
    Config.set("input", "mouse", "mouse,disable_multitouch")

    from kivy.utils import platform  # noqa: PLC0415

    from field_app.app import FieldApp  # noqa: PLC0415 (Kivy after its configuration)
    from field_app.services.field import FieldService  # noqa: PLC0415
    from field_app.services.positions import PhoneGps, parse_source  # noqa: PLC0415

    position = PhoneGps() if platform == "android" else parse_source(args.position)
    service = FieldService(
        args.data_dir, position=position, sync_seconds=args.sync_seconds,
        fix_seconds=args.fix_seconds,
    )  # fmt: skip
    return FieldApp(service, server_url=args.server)


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    app = make_app(args)
    if args.quit_after_start:
        from kivy.clock import Clock  # noqa: PLC0415

        def drawn(_dt: float) -> bool:
            if not app.first_screen_ready():
                return True
            # One more frame, so what is ready has been drawn, then say so and quit.
            Clock.schedule_once(lambda _: (print("first screen drawn", flush=True), app.stop()))
            return False

        Clock.schedule_interval(drawn, 0)
    app.run()


if __name__ == "__main__":
    main()
