"""The Kivy app: five thin screens around a FieldService (field_app/services/field.py).

The logic runs on worker threads (sync, live stream, position fixes); what they change
reaches the screens only through `_service_changed`, on the UI thread (@mainthread).
"""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.clock import Clock, mainthread
from kivy.core.text import LabelBase
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import BooleanProperty, NumericProperty, StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from field_app.fonts import hangul_font
from field_app.screens.case.case import CaseScreen
from field_app.screens.queue.queue import QueueScreen
from field_app.screens.result.result import ResultScreen
from field_app.screens.settings.settings import SettingsScreen
from field_app.screens.signin.signin import SignInScreen
from field_app.services.field import FieldService
from field_app.viewmodels.i18n import t

SCREENS = Path(__file__).parent / "screens"
KV_FILES = ("common.kv", "signin/signin.kv", "queue/queue.kv", "case/case.kv",
            "result/result.kv", "settings/settings.kv")  # fmt: skip


class FieldApp(App):
    """The inspectors' app."""

    language = StringProperty("ko")
    pending = NumericProperty(0)
    online = BooleanProperty(False)
    sync_text = StringProperty("")

    def __init__(self, service: FieldService, *, server_url: str | None = None) -> None:
        super().__init__()
        self.service = service
        self.title = "Dasan Field"
        if server_url and not service.signed_in:
            service.store.set(server_url=server_url)

    def build(self) -> ScreenManager:
        # Every widget's default font, replaced by one with Hangul (Roboto has none).
        regular, bold = hangul_font()
        LabelBase.register("Roboto", regular, fn_bold=bold)
        Window.clearcolor = (1, 1, 1, 1)
        for name in KV_FILES:
            Builder.load_file(str(SCREENS / name))
        self.language = self.service.language
        manager = ScreenManager(transition=NoTransition())
        for screen in (SignInScreen(name="signin"), QueueScreen(name="queue"),
                       CaseScreen(name="case"), ResultScreen(name="result"),
                       SettingsScreen(name="settings")):  # fmt: skip
            manager.add_widget(screen)
        self.service.listeners.append(self._service_changed)
        Clock.schedule_interval(self._tick, 1.0)
        return manager

    def on_start(self) -> None:
        self._refresh_status()
        self.show("queue" if self.service.restore() else "signin")

    def on_stop(self) -> None:
        self.service.close()

    def tr(self, key: str, language: str | None = None, **values: object) -> str:
        """A word in the app's language (kv passes `app.language` to stay bound to it)."""
        return t(language or self.language, key, **values)

    def set_language(self, language: str) -> None:
        self.service.set_language(language)
        self.language = language
        self._refresh_status()
        self.root.current_screen.refresh()

    def show(self, name: str, **properties: object) -> None:
        screen = self.root.get_screen(name)
        for key, value in properties.items():
            setattr(screen, key, value)
        if self.root.current == name:
            screen.on_pre_enter()
        self.root.current = name

    @mainthread
    def _service_changed(self) -> None:
        self._refresh_status()
        if self.root is not None:
            self.root.current_screen.refresh()

    def _refresh_status(self) -> None:
        status = self.service.status
        self.pending, self.online = status.pending, status.online
        if status.sign_in_needed:
            self.sync_text = self.tr("sign_in_again")
        elif not status.online and status.last_sync_at is None and not status.pending:
            self.sync_text = self.tr("offline")
        else:
            waiting = (
                self.tr("waiting", n=status.pending) if status.pending else self.tr("all_sent")
            )
            where = self.tr("online") if status.online else self.tr("offline")
            self.sync_text = f"{waiting} · {where}"

    def first_screen_ready(self) -> bool:
        """The first screen shows its data: the sign-in form, or the queue with its cards
        (from the phone's cache: no network needed)."""
        if self.root is None:
            return False
        screen = self.root.current_screen
        if self.root.current == "signin":
            return True
        return self.root.current == "queue" and bool(screen.ids.cards.children or screen.empty)

    def _tick(self, _dt: float) -> None:
        if self.root is not None:
            self.root.current_screen.tick()
