"""Settings: the language, the sync state (what waits, what was refused and why), signing
out."""

from __future__ import annotations

from kivy.app import App
from kivy.factory import Factory
from kivy.uix.screenmanager import Screen

from field_app.services.field import PendingActions
from field_app.viewmodels.i18n import notice_text


class SettingsScreen(Screen):
    def on_pre_enter(self, *args: object) -> None:
        self.ids.error.text = ""
        self.refresh()

    def refresh(self) -> None:
        app = App.get_running_app()
        service = app.service
        status = service.status
        when = status.last_sync_at
        self.ids.last_sync.text = (app.tr("last_sync", at=when[:19].replace("T", " "))
                                   if when else app.tr("never_synced"))  # fmt: skip
        self.ids.notices.clear_widgets()
        for notice in service.outbox.notices()[:10]:
            self.ids.notices.add_widget(
                Factory.Muted(
                    text=f"{notice.at[11:19]}  {notice.ticket or ''}  "
                    f"{notice_text(app.language, notice.code, notice.params)}"
                )
            )
        self.ids.history.clear_widgets()
        for action in service.outbox.history(limit=12):
            what = action.payload.get("to") or action.kind.value
            self.ids.history.add_widget(
                Factory.Muted(
                    text=f"{action.device_time[11:19]}  #{action.case_id or '-'}  {what}  · "
                    f"{app.tr(action.state.value)}"
                )
            )
        self.ids.account.text = f"{service.username} @ {service.server_url}"

    def tick(self) -> None:
        pass

    def sign_out(self) -> None:
        app = App.get_running_app()
        try:
            app.service.sign_out()
        except PendingActions:
            self.ids.error.text = app.tr("unsent_sign_out", n=app.service.outbox.pending_count())
            return
        app.show("signin")
