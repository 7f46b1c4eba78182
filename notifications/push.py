"""The push channel: FCM HTTP v1 through firebase-admin, to inspectors' registered phones.

Credentials come from a service-account file (`DASAN_FCM_CREDENTIALS`). `DASAN_FCM_ENDPOINT`
points the sends elsewhere than Google (a relay, or the tests' local FCM on 127.0.0.1):
firebase-admin keeps the send URL on its messaging service, which is set per app here.

A token FCM calls UNREGISTERED (the app was removed) or INVALID_ARGUMENT (not a token) is
returned in `unregistered`; the worker deletes those devices.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import firebase_admin
from firebase_admin import credentials, messaging

from notifications.sms import GatewayError

_apps = itertools.count(1)
GONE = (messaging.UnregisteredError, firebase_admin.exceptions.InvalidArgumentError)


@dataclass
class PushResult:
    ids: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def sent(self) -> bool:
        return bool(self.ids)

    @property
    def retryable(self) -> bool:
        return bool(self.errors)

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None


class FcmPush:
    """Sends a notification to every token of a recipient in one `send_each_async`."""

    def __init__(self, credentials_file: Path, *, project_id: str = "", endpoint: str = "") -> None:
        options = {"projectId": project_id} if project_id else {}
        self.app = firebase_admin.initialize_app(
            credentials.Certificate(str(credentials_file)), options, name=f"dasan-{next(_apps)}"
        )
        if endpoint:
            service = messaging._get_messaging_service(self.app)
            service._fcm_url = endpoint.format(project_id=service._project_id)

    async def send(
        self, tokens: list[str], title: str, body: str, data: dict[str, str]
    ) -> PushResult:
        messages = [
            messaging.Message(
                fid=token,  # firebase-admin 7.7 names the registration token "fid"
                notification=messaging.Notification(title=title, body=body),
                data=data,
                android=messaging.AndroidConfig(priority="high"),
            )
            for token in tokens
        ]
        try:
            batch = await messaging.send_each_async(messages, app=self.app)
        except firebase_admin.exceptions.FirebaseError as error:
            raise GatewayError(f"FCM: {error}") from None
        result = PushResult()
        for token, response in zip(tokens, batch.responses, strict=True):
            if response.success:
                result.ids.append(response.message_id)
            elif isinstance(response.exception, GONE):
                result.unregistered.append(token)
            else:
                result.errors.append(f"FCM: {response.exception}")
        return result

    async def aclose(self) -> None:
        # delete_app closes the service's async HTTP client with asyncio.run, which cannot
        # run inside this loop: close it here first, then delete the app off the loop.
        service = messaging._get_messaging_service(self.app)
        await service._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self.app)
