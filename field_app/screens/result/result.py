"""The visit's result: resolved, unresolved (a reason from the server's list) or referred
(to which agency), with a note and photos (the camera on a phone, a file on a desktop)."""

from __future__ import annotations

from pathlib import Path

from kivy.app import App
from kivy.properties import ListProperty, NumericProperty, StringProperty
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import Screen
from kivy.utils import platform

from field_app.services.field import NotAllowed


class PhotoPicker(Popup):
    """A file chooser (desktop): the chosen photo goes to `on_pick`."""

    def __init__(self, on_pick, start: str, **kwargs: object) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.on_pick = on_pick
        self.ids.chooser.path = start

    def pick(self) -> None:
        for name in self.ids.chooser.selection:
            self.on_pick(Path(name))
        self.dismiss()


class ResultScreen(Screen):
    case_id = NumericProperty(0)
    outcome = StringProperty("resolved")
    reason_names = ListProperty([])
    photos = ListProperty([])

    def on_pre_enter(self, *args: object) -> None:
        self.photos = []
        self.ids.note.text = ""
        self.ids.referred_to.text = ""
        self.ids.error.text = ""
        self.ids.resolved.state, self.ids.unresolved.state = "down", "normal"
        self.ids.referred.state = "normal"
        self.choose("resolved")

    def choose(self, outcome: str) -> None:
        app = App.get_running_app()
        self.outcome = outcome
        self._choices = app.service.results(self.case_id, outcome)
        self.reason_names = [name for _, name in self._choices]
        self.ids.reason.text = app.tr("choose_reason")

    def add_photo(self) -> None:
        if platform == "android":  # the phone's camera, through plyer
            from plyer import camera  # noqa: PLC0415 (only on a phone)

            target = App.get_running_app().service.data_dir / "camera.jpg"
            camera.take_picture(filename=str(target), on_complete=self._taken)
            return
        self.picker = PhotoPicker(self._picked, start=str(Path.home()))
        self.picker.open()

    def _taken(self, filename: str) -> None:
        self._picked(Path(filename))

    def _picked(self, path: Path) -> None:
        self.photos = [*self.photos, str(path)]

    def save(self) -> None:
        app = App.get_running_app()
        codes = {name: code for code, name in self._choices}
        code = codes.get(self.ids.reason.text)
        try:
            app.service.record_result(
                self.case_id, self.outcome, result_code=code,
                referred_to=self.ids.referred_to.text.strip() or None,
                note=self.ids.note.text.strip() or None,
                photos=[Path(p) for p in self.photos],
            )  # fmt: skip
        except NotAllowed:
            key = "enter_agency" if self.outcome == "referred" else "choose_reason"
            self.ids.error.text = app.tr(key)
            return
        app.show("case", case_id=self.case_id)

    def refresh(self) -> None:
        pass

    def tick(self) -> None:
        pass
