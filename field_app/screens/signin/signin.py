"""Sign in: the server, the inspector's account and password (kept: a restart needs none)."""

from __future__ import annotations

import threading

from kivy.app import App
from kivy.clock import mainthread
from kivy.properties import BooleanProperty
from kivy.uix.screenmanager import Screen

from field_app.services.api import Offline, Refused, SignInNeeded


class SignInScreen(Screen):
    busy = BooleanProperty(False)

    def on_pre_enter(self, *args: object) -> None:
        app = App.get_running_app()
        self.ids.server.text = self.ids.server.text or app.service.server_url
        self.ids.username.text = self.ids.username.text or app.service.username

    def sign_in(self) -> None:
        app = App.get_running_app()
        server, username = self.ids.server.text.strip(), self.ids.username.text.strip()
        password = self.ids.password.text
        if not (server and username and password):
            self.ids.error.text = app.tr("username") + " / " + app.tr("password")
            return
        self.busy, self.ids.error.text = True, ""
        threading.Thread(target=self._sign_in, args=(server, username, password),
                         daemon=True).start()  # fmt: skip

    def _sign_in(self, server: str, username: str, password: str) -> None:
        app = App.get_running_app()
        try:
            app.service.sign_in(server, username, password)
        except SignInNeeded:
            self._done(app.tr("wrong_password"))
        except Offline as error:
            self._done(app.tr("cannot_connect") + f" ({error})")
        except Refused as error:
            self._done(error.message)
        else:
            self._done(None)

    @mainthread
    def _done(self, error: str | None) -> None:
        self.busy = False
        self.ids.password.text = ""
        if error is not None:
            self.ids.error.text = error
            return
        App.get_running_app().show("queue")

    def refresh(self) -> None:
        pass

    def tick(self) -> None:
        pass
