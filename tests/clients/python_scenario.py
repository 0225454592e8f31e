"""A whole session through a Python client generated from openapi/openapi.json.

Run by .ci/client: it generates the client with openapi-python-client, starts the server and
calls this with the base URL and the first superuser's credentials. Every call goes through
the generated, typed functions and models; a failure raises.
"""

import sys
import uuid

from ai_message_client import AuthenticatedClient, Client
from ai_message_client.api.admin import get_user_roles, list_users
from ai_message_client.api.auth import get_me, login, logout, refresh_token, register
from ai_message_client.api.conversations import list_conversations
from ai_message_client.api.messages import (
    get_unread_count,
    list_received_messages,
    list_sent_messages,
    send_message,
)
from ai_message_client.api.reports import (
    comment_report,
    create_report,
    get_report,
    list_all_reports,
    list_my_reports,
    resolve_report,
)
from ai_message_client.api.service import health
from ai_message_client.models import (
    AuthResponse,
    Conversation,
    ErrorBody,
    LoginRequest,
    LogoutRequest,
    Message,
    MessageCreateRequest,
    RefreshRequest,
    RegisterRequest,
    Report,
    ReportCommentRequest,
    ReportCreateRequest,
    ReportResolveRequest,
    Token,
    UnreadCount,
    User,
)


def expect(value, kind, what):
    if not isinstance(value, kind):
        raise AssertionError(f"{what}: expected {kind.__name__}, got {value!r}")
    return value


def main(base_url: str, admin_name: str, admin_password: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    assert health.sync(client=anonymous).status == "healthy"

    suffix = uuid.uuid4().hex[:8]
    names = {}
    for who in ("alice", "bob"):
        name = f"{who}-{suffix}"
        user = register.sync(
            client=anonymous,
            body=RegisterRequest(
                username=name, email=f"{name}@example.com", password=f"{name}-password"
            ),
        )
        expect(user, User, f"register {who}")
        assert user.full_name is None
        names[who] = (name, user.id)

    def sign_in(name: str, password: str) -> AuthResponse:
        return expect(
            login.sync(client=anonymous, body=LoginRequest(username=name, password=password)),
            AuthResponse,
            f"login {name}",
        )

    alice_name, alice_id = names["alice"]
    bob_name, bob_id = names["bob"]
    alice_session = sign_in(alice_name, f"{alice_name}-password")
    assert alice_session.token_type == "bearer" and alice_session.expires_in > 0
    alice = AuthenticatedClient(base_url=base_url, token=alice_session.access_token)
    me = expect(get_me.sync(client=alice), User, "me")
    assert me.username == alice_name

    sent = expect(
        send_message.sync(
            client=alice, body=MessageCreateRequest(recipient_id=bob_id, content="Hello Bob")
        ),
        Message,
        "send",
    )
    assert sent.conversation_id == f"conv_{min(alice_id, bob_id)}_{max(alice_id, bob_id)}"
    listed = list_sent_messages.sync(client=alice, limit=20)
    assert [m.id for m in listed] == [sent.id], listed

    bob_session = sign_in(bob_name, f"{bob_name}-password")
    bob = AuthenticatedClient(base_url=base_url, token=bob_session.access_token)
    unread = expect(get_unread_count.sync(client=bob), UnreadCount, "unread")
    assert unread.unread_count == 1
    received = list_received_messages.sync(client=bob, limit=20)
    assert [m.content for m in received] == ["Hello Bob"]
    reply = expect(
        send_message.sync(
            client=bob,
            body=MessageCreateRequest(recipient_id=alice_id, content="Hi Alice", parent_id=sent.id),
        ),
        Message,
        "reply",
    )
    assert reply.parent_id == sent.id and reply.conversation_id == sent.conversation_id
    conversations = list_conversations.sync(client=alice)
    expect(conversations[0], Conversation, "conversation")
    assert conversations[0].last_message == "Hi Alice"
    assert conversations[0].other_user_name == bob_name

    rotated = expect(
        refresh_token.sync(
            client=anonymous, body=RefreshRequest(refresh_token=alice_session.refresh_token)
        ),
        Token,
        "refresh",
    )
    assert rotated.refresh_token != alice_session.refresh_token
    alice = AuthenticatedClient(base_url=base_url, token=rotated.access_token)
    logout.sync(client=alice, body=LogoutRequest())
    refused = get_me.sync_detailed(client=alice)
    assert refused.status_code == 401, refused
    expect(refused.parsed, ErrorBody, "401 body")
    assert refused.parsed.detail == "Could not validate credentials"

    admin_session = sign_in(admin_name, admin_password)
    admin = AuthenticatedClient(base_url=base_url, token=admin_session.access_token)
    users = list_users.sync(client=admin, limit=500)
    assert {alice_name, bob_name} <= {u.username for u in users}
    assert get_user_roles.sync(client=admin, id=bob_id) == []

    # A facility report, filed by Bob, answered and resolved by the superuser.
    filed = expect(
        create_report.sync(
            client=bob,
            body=ReportCreateRequest(title="Lift on level 3", content="Stuck between floors"),
        ),
        Report,
        "create report",
    )
    assert filed.status == "open" and filed.reporter_username == bob_name
    assert [r.id for r in list_my_reports.sync(client=bob, status_filter="open")] == [filed.id]
    assert filed.id in [r.id for r in list_all_reports.sync(client=admin)]
    answered = expect(
        comment_report.sync(
            client=admin,
            id=filed.id,
            body=ReportCommentRequest(comment="Technician on Monday", status="in_progress"),
        ),
        Report,
        "comment report",
    )
    assert answered.status == "in_progress"
    resolved = expect(
        resolve_report.sync(client=admin, id=filed.id, body=ReportResolveRequest(comment="Fixed")),
        Report,
        "resolve report",
    )
    assert resolved.status == "resolved" and resolved.resolver_username == admin_name
    seen = expect(get_report.sync(client=bob, id=filed.id), Report, "get report")
    assert seen.comment == "Fixed" and seen.resolved_at is not None
    print("client scenario: 1 passed, 0 failed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
