"""One case: what, where, the deadline, the next moves, photos and the timeline."""

from __future__ import annotations

import io
import threading

from kivy.app import App
from kivy.clock import mainthread
from kivy.core.image import Image as CoreImage
from kivy.factory import Factory
from kivy.properties import ListProperty, NumericProperty, StringProperty
from kivy.uix.image import Image
from kivy.uix.screenmanager import Screen

from field_app.viewmodels.cases import ACTION_LABELS


class CaseScreen(Screen):
    case_id = NumericProperty(0)
    colour = ListProperty([0.3, 0.3, 0.3, 1])
    clock_state = StringProperty("none")

    def on_pre_enter(self, *args: object) -> None:
        # None: whatever the case shows, build its buttons and photos anew.
        self._shown_actions: list[str] | None = None
        self._shown_photos: list[int] | None = None
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        state = app.service.case(self.case_id)
        if state is None:  # taken from me meanwhile
            app.show("queue")
            return
        self.colour, self.clock_state = list(state.colour), state.clock_state
        self.ids.title.text = f"{state.category}  {state.ticket}"
        waiting = f"  · {app.tr('waiting', n=state.waiting)}" if state.waiting else ""
        self.ids.status.text = state.status_text + waiting
        self.ids.countdown.text = state.countdown
        self.ids.description.text = state.description
        self.ids.address.text = state.address
        self.ids.whereabouts.text = state.whereabouts
        self.ids.phone.text = state.phone or "-"
        if state.actions != self._shown_actions:
            self._shown_actions = list(state.actions)
            self.ids.actions.clear_widgets()
            for move in state.actions:
                button = Factory.BigButton(text=app.tr(ACTION_LABELS[move]))
                button.move = move
                button.bind(on_release=lambda b: self.act(b.move))
                self.ids.actions.add_widget(button)
        self.ids.timeline.clear_widgets()
        for when, what in state.timeline:
            self.ids.timeline.add_widget(Factory.Body(text=f"{when}   {what}", font_size="15sp"))
        photo_ids = [p["id"] for p in state.photos]
        if photo_ids != self._shown_photos:
            self._shown_photos = photo_ids
            self.ids.photos.clear_widgets()
            for photo in state.photos:
                threading.Thread(target=self._load, args=(photo["thumbnail_url"],),
                                 daemon=True).start()  # fmt: skip

    def _load(self, url: str) -> None:
        data = App.get_running_app().service.photo_bytes(url)
        if data is not None:
            self._show_photo(data)

    @mainthread
    def _show_photo(self, data: bytes) -> None:
        texture = CoreImage(io.BytesIO(data), ext="jpg").texture
        self.ids.photos.add_widget(Image(texture=texture, size_hint_x=None, width=140))

    def tick(self) -> None:
        state = App.get_running_app().service.case(self.case_id)
        if state is not None:
            self.ids.countdown.text, self.clock_state = state.countdown, state.clock_state

    def act(self, move: str) -> None:
        app = App.get_running_app()
        if move == "result":
            app.show("result", case_id=self.case_id)
            return
        app.service.move(self.case_id, move)
        self.refresh()

    def action_buttons(self) -> dict[str, object]:
        """The move buttons shown, by move (for the UI tests)."""
        return {button.move: button for button in self.ids.actions.children}
