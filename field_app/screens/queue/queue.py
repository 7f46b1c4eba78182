"""The queue: my cases as cards, most urgent first, each counting down its deadline."""

from __future__ import annotations

from kivy.app import App
from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen

from field_app.viewmodels.cases import Card
from field_app.viewmodels.i18n import notice_text


class CaseCard(ButtonBehavior, BoxLayout):
    """One case; a tap opens it."""

    case_id = NumericProperty(0)
    ticket = StringProperty("")
    category = StringProperty("")
    badge = StringProperty("")
    colour = ListProperty([0.3, 0.3, 0.3, 1])
    address = StringProperty("")
    distance = StringProperty("")
    countdown = StringProperty("")
    clock_state = StringProperty("none")
    status = StringProperty("")
    priority = StringProperty("normal")
    waiting = NumericProperty(0)

    def show(self, card: Card) -> None:
        self.case_id, self.ticket, self.category = card.case_id, card.ticket, card.category
        self.badge, self.colour, self.address = card.badge, list(card.colour), card.address
        self.distance, self.countdown, self.clock_state = (
            card.distance,
            card.countdown,
            card.clock_state,
        )
        self.status, self.priority, self.waiting = card.status, card.priority, card.waiting

    def on_release(self) -> None:
        App.get_running_app().show("case", case_id=self.case_id)


class QueueScreen(Screen):
    notice_text = StringProperty("")
    empty = BooleanProperty(False)

    def on_pre_enter(self, *args: object) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        service = app.service
        self.ids.duty.state = "down" if service.on_duty else "normal"
        cards = service.cards()
        box = self.ids.cards
        if [w.case_id for w in box.children[::-1]] != [c.case_id for c in cards]:
            box.clear_widgets()
            for _ in cards:
                box.add_widget(CaseCard())
        for widget, card in zip(box.children[::-1], cards, strict=True):
            widget.show(card)
        self.empty = not cards
        notices = service.outbox.notices(unseen_only=True)
        self.notice_text = (
            f"{app.tr('notices')}: {notices[0].ticket or ''} "
            f"{notice_text(app.language, notices[0].code, notices[0].params)}"
            + (f" (+{len(notices) - 1})" if len(notices) > 1 else "")
            if notices else ""
        )  # fmt: skip

    def tick(self) -> None:
        """Every second: the countdowns."""
        self.refresh()

    def toggle_duty(self, on_duty: bool) -> None:
        App.get_running_app().service.set_duty(on_duty)

    def dismiss_notices(self) -> None:
        service = App.get_running_app().service
        service.outbox.seen([n.id for n in service.outbox.notices(unseen_only=True)])
        self.refresh()

    def card(self, ticket: str) -> CaseCard | None:
        """The card of a ticket (for the UI tests)."""
        for widget in self.ids.cards.children:
            if widget.ticket == ticket:
                return widget
        return None
