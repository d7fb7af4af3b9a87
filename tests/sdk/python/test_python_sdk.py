"""ZITADEL's official Python SDK (zitadel-client) against a real userd, unchanged: it sends
Connect JSON to /zitadel.user.v2.UserService/<Method> and raises ApiError on failures."""
import base64
import uuid

import pytest
import zitadel_client as zitadel
from zitadel_client.exceptions import ApiError
from zitadel_client.models import (
    UserServiceAddHumanUserRequest,
    UserServiceCreateUserRequest,
    UserServiceDeactivateUserRequest,
    UserServiceDeleteUserMetadataRequest,
    UserServiceDeleteUserRequest,
    UserServiceGetUserByIDRequest,
    UserServiceListAuthenticationMethodTypesRequest,
    UserServiceInUserIDQuery,
    UserServiceListQuery,
    UserServiceListUserMetadataRequest,
    UserServiceListUsersRequest,
    UserServiceLockUserRequest,
    UserServiceMachine,
    UserServiceMetadata,
    UserServiceMetadataKeyFilter,
    UserServiceMetadataSearchFilter,
    UserServiceOrganization,
    UserServicePaginationRequest,
    UserServicePassword,
    UserServiceReactivateUserRequest,
    UserServiceSearchQuery,
    UserServiceSetHumanEmail,
    UserServiceSetHumanProfile,
    UserServiceSetUserMetadataRequest,
    UserServiceTextFilterMethod,
    UserServiceType,
    UserServiceTypeQuery,
    UserServiceUnlockUserRequest,
    UserServiceHuman,
    UserServicePasswordResetRequest,
    UserServiceProfile,
    UserServiceRemovePhoneRequest,
    UserServiceResendEmailCodeRequest,
    UserServiceResendPhoneCodeRequest,
    UserServiceSendEmailCodeRequest,
    UserServiceSetEmailRequest,
    UserServiceSetPasswordRequest,
    UserServiceSetPhoneRequest,
    UserServiceUpdateHumanUserRequest,
    UserServiceUpdateUserRequest,
    UserServiceVerifyEmailRequest,
    UserServiceVerifyPhoneRequest,
    UserServiceAddPersonalAccessTokenRequest,
    UserServiceIDFilter,
    UserServiceListPersonalAccessTokensRequest,
    UserServicePersonalAccessTokensSearchFilter,
    UserServiceRemovePersonalAccessTokenRequest,
    UserServiceAddKeyRequest,
    UserServiceAddSecretRequest,
    UserServiceKeysSearchFilter,
    UserServiceListKeysRequest,
    UserServiceRemoveKeyRequest,
    UserServiceRemoveSecretRequest,
    UserServiceUserFieldName,
    UserServiceHumanMFAInitSkippedRequest,
    UserServiceListAuthenticationFactorsRequest,
)
import datetime


def client(userd, *roles):
    return zitadel.Zitadel.with_access_token(userd.url, userd.token(*(roles or ("IAM_OWNER",))))


def add_user(users, password=True):
    name = "minnie-" + uuid.uuid4().hex[:8]
    request = UserServiceAddHumanUserRequest(
        username=name,
        organization=UserServiceOrganization(org_id="org-a"),
        profile=UserServiceSetHumanProfile(given_name="Minnie", family_name="Mouse"),
        email=UserServiceSetHumanEmail(email=f"{name}@example.com", is_verified=False),
        password=UserServicePassword(password="Secr3t!pass", change_required=False) if password else None,
    )
    return users.add_human_user(request).user_id


def state_of(users, user_id):
    return users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id)).user.state


def test_lifecycle(userd):
    users = client(userd).users
    user_id = add_user(users)
    got = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id))
    assert got.user.user_id == user_id
    assert got.user.human.profile.given_name == "Minnie"
    assert got.details.resource_owner == "org-a"
    assert str(state_of(users, user_id)).endswith("USER_STATE_ACTIVE")

    sequence = int(got.details.sequence)
    for call, request, state in [
        (users.deactivate_user, UserServiceDeactivateUserRequest, "USER_STATE_INACTIVE"),
        (users.reactivate_user, UserServiceReactivateUserRequest, "USER_STATE_ACTIVE"),
        (users.lock_user, UserServiceLockUserRequest, "USER_STATE_LOCKED"),
        (users.unlock_user, UserServiceUnlockUserRequest, "USER_STATE_ACTIVE"),
    ]:
        response = call(request(user_id=user_id))
        sequence += 1
        assert int(response.details.sequence) == sequence
        assert str(state_of(users, user_id)).endswith(state)

    listed = users.list_users(UserServiceListUsersRequest(
        query=UserServiceListQuery(limit=10),
        queries=[UserServiceSearchQuery(in_user_ids_query=UserServiceInUserIDQuery(user_ids=[user_id]))]))
    assert int(listed.details.total_result) == 1
    assert listed.result[0].user_id == user_id

    users.delete_user(UserServiceDeleteUserRequest(user_id=user_id))
    with pytest.raises(ApiError) as e:
        state_of(users, user_id)
    assert e.value.code == 404


def test_initial_rule(userd):
    users = client(userd).users
    user_id = add_user(users, password=False)
    assert str(state_of(users, user_id)).endswith("USER_STATE_INITIAL")


def test_reactivating_an_active_user_is_zitadels_error(userd):
    users = client(userd).users
    user_id = add_user(users)
    with pytest.raises(ApiError) as e:
        users.reactivate_user(UserServiceReactivateUserRequest(user_id=user_id))
    assert e.value.code == 400
    assert e.value.response_body["code"] == "failed_precondition"
    assert "COMMAND-s5qqcz97hf" in e.value.response_body["message"]


def test_unknown_user(userd):
    users = client(userd).users
    with pytest.raises(ApiError) as e:
        users.deactivate_user(UserServiceDeactivateUserRequest(user_id="no-such-user"))
    assert e.value.code == 404
    assert e.value.response_body["code"] == "not_found"


def test_no_permission(userd):
    admin = client(userd).users
    user_id = add_user(admin)
    viewer = client(userd, "ORG_OWNER_VIEWER:org-a").users
    assert str(state_of(viewer, user_id)).endswith("USER_STATE_ACTIVE")
    with pytest.raises(ApiError) as e:
        viewer.lock_user(UserServiceLockUserRequest(user_id=user_id))
    assert e.value.code == 403
    assert e.value.response_body["code"] == "permission_denied"
    outsider = client(userd, "ORG_OWNER:org-z").users
    with pytest.raises(ApiError) as e:
        outsider.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id))
    assert e.value.code == 403


def test_bad_token(userd):
    users = zitadel.Zitadel.with_access_token(userd.url, "not-a-token").users
    with pytest.raises(ApiError) as e:
        users.get_user_by_id(UserServiceGetUserByIDRequest(user_id="x"))
    assert e.value.code == 401
    assert e.value.response_body["code"] == "unauthenticated"


def b64(text):
    return base64.b64encode(text.encode()).decode()


def metadata_of(users, user_id, **request):
    answer = users.list_user_metadata(UserServiceListUserMetadataRequest(user_id=user_id, **request))
    return int(answer.pagination.total_result), {m.key: base64.b64decode(m.value).decode() for m in answer.metadata or []}


def test_metadata(userd):
    users = client(userd).users
    user_id = add_user(users)
    set_answer = users.set_user_metadata(UserServiceSetUserMetadataRequest(
        user_id=user_id,
        metadata=[UserServiceMetadata(key="plan", value=b64("pro")), UserServiceMetadata(key="region", value=b64("eu"))],
    ))
    assert set_answer.set_date is not None
    assert metadata_of(users, user_id) == (2, {"plan": "pro", "region": "eu"})
    total, found = metadata_of(
        users, user_id,
        pagination=UserServicePaginationRequest(limit=10, asc=True),
        filters=[UserServiceMetadataSearchFilter(key_filter=UserServiceMetadataKeyFilter(
            key="REG", method=UserServiceTextFilterMethod.TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE))],
    )
    assert (total, found) == (1, {"region": "eu"})

    with pytest.raises(ApiError) as e:
        users.delete_user_metadata(UserServiceDeleteUserMetadataRequest(user_id=user_id, keys=["plan", "missing"]))
    assert e.value.code == 404
    assert e.value.response_body["code"] == "not_found"
    assert metadata_of(users, user_id)[0] == 2
    deleted = users.delete_user_metadata(UserServiceDeleteUserMetadataRequest(user_id=user_id, keys=["plan"]))
    assert deleted.deletion_date is not None
    assert metadata_of(users, user_id) == (1, {"region": "eu"})

    # Each change is one event: creation, set, delete.
    got = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id))
    assert int(got.details.sequence) == 3

    viewer = client(userd, "ORG_OWNER_VIEWER:org-a").users
    assert metadata_of(viewer, user_id) == (1, {"region": "eu"})
    with pytest.raises(ApiError) as e:
        viewer.set_user_metadata(UserServiceSetUserMetadataRequest(
            user_id=user_id, metadata=[UserServiceMetadata(key="k", value=b64("v"))]))
    assert e.value.code == 403
    with pytest.raises(ApiError) as e:
        users.set_user_metadata(UserServiceSetUserMetadataRequest(user_id=user_id, metadata=[]))
    assert e.value.code == 400
    assert e.value.response_body["code"] == "failed_precondition"


def test_machine_user(userd):
    users = client(userd).users
    name = "bot-" + uuid.uuid4().hex[:8]
    created = users.create_user(UserServiceCreateUserRequest(
        organization_id="org-a", username=name,
        machine=UserServiceMachine(name="Build bot", description="runs CI")))
    assert created.id and created.creation_date is not None
    got = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=created.id)).user
    assert got.username == name
    assert got.machine.name == "Build bot"
    assert got.machine.description == "runs CI"
    assert got.human is None
    assert str(got.state).endswith("USER_STATE_ACTIVE")

    # Without a username the machine is named by its id.
    plain = users.create_user(UserServiceCreateUserRequest(
        organization_id="org-a", machine=UserServiceMachine(name="Plain bot")))
    assert users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=plain.id)).user.username == plain.id

    found = users.list_users(UserServiceListUsersRequest(
        query=UserServiceListQuery(limit=1000),
        queries=[UserServiceSearchQuery(type_query=UserServiceTypeQuery(type=UserServiceType.TYPE_MACHINE))]))
    ids = {u.user_id for u in found.result}
    assert {created.id, plain.id} <= ids
    assert all(u.machine is not None for u in found.result)

    users.lock_user(UserServiceLockUserRequest(user_id=created.id))
    assert str(state_of(users, created.id)).endswith("USER_STATE_LOCKED")
    users.delete_user(UserServiceDeleteUserRequest(user_id=created.id))
    with pytest.raises(ApiError) as e:
        users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=created.id))
    assert e.value.code == 404


def test_authentication_method_types(userd):
    users = client(userd).users
    with_password = add_user(users)
    without = add_user(users, password=False)
    found = users.list_authentication_method_types(UserServiceListAuthenticationMethodTypesRequest(user_id=with_password))
    assert len(found.auth_method_types) == 1
    assert str(found.auth_method_types[0]).endswith("AUTHENTICATION_METHOD_TYPE_PASSWORD")
    assert int(found.details.total_result) == 1
    none = users.list_authentication_method_types(UserServiceListAuthenticationMethodTypesRequest(user_id=without))
    assert not none.auth_method_types


def test_update_human_user_and_verify_email(userd):
    users = client(userd).users
    user_id = add_user(users)
    name = "ada-" + uuid.uuid4().hex[:8]
    updated = users.update_human_user(UserServiceUpdateHumanUserRequest(
        user_id=user_id,
        username=name,
        profile=UserServiceSetHumanProfile(given_name="Ada", family_name="Lovelace", nick_name="Countess"),
        email=UserServiceSetHumanEmail(email=f"{name}@example.org", return_code={}),
    ))
    assert len(updated.email_code) == 6
    user = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id)).user
    assert user.username == name
    assert user.human.profile.nick_name == "Countess"
    assert not user.human.email.is_verified
    with pytest.raises(ApiError) as e:
        users.verify_email(UserServiceVerifyEmailRequest(user_id=user_id, verification_code="WRONG1"))
    assert e.value.code == 400
    assert "COMMAND-eis9R" in e.value.response_body["message"]
    users.verify_email(UserServiceVerifyEmailRequest(user_id=user_id, verification_code=updated.email_code))
    user = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id)).user
    assert user.human.email.is_verified


def test_update_user_patches_a_machine_and_a_human(userd):
    users = client(userd).users
    machine = users.create_user(UserServiceCreateUserRequest(
        organization_id="org-a", machine=UserServiceMachine(name="Bot"))).id
    users.update_user(UserServiceUpdateUserRequest(user_id=machine, machine=UserServiceMachine(description="builds")))
    got = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=machine)).user
    assert got.machine.name == "Bot"
    assert got.machine.description == "builds"
    human = add_user(users)
    users.update_user(UserServiceUpdateUserRequest(user_id=human, human=UserServiceHuman(
        profile=UserServiceProfile(display_name="Minnie M."))))
    got = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=human)).user
    assert got.human.profile.display_name == "Minnie M."
    assert got.human.profile.given_name == "Minnie"


def test_email_codes(userd):
    users = client(userd).users
    name = "code-" + uuid.uuid4().hex[:8]
    created = users.add_human_user(UserServiceAddHumanUserRequest(
        username=name,
        organization=UserServiceOrganization(org_id="org-a"),
        profile=UserServiceSetHumanProfile(given_name="Code", family_name="Returned"),
        email=UserServiceSetHumanEmail(email=f"{name}@example.com", return_code={}),
        password=UserServicePassword(password="Secr3t!pass")))
    users.verify_email(UserServiceVerifyEmailRequest(user_id=created.user_id, verification_code=created.email_code))
    user_id = add_user(users)
    with pytest.raises(ApiError) as e:
        users.set_email(UserServiceSetEmailRequest(user_id=user_id, email="not an address"))
    assert "EMAIL-599BI" in e.value.response_body["message"]
    users.set_email(UserServiceSetEmailRequest(user_id=user_id, email="new@example.com", return_code={}))
    resent = users.resend_email_code(UserServiceResendEmailCodeRequest(user_id=user_id, return_code={}))
    sent = users.send_email_code(UserServiceSendEmailCodeRequest(user_id=user_id, return_code={}))
    assert len(resent.verification_code) == 6 and len(sent.verification_code) == 6
    users.verify_email(UserServiceVerifyEmailRequest(user_id=user_id, verification_code=sent.verification_code))
    assert users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id)).user.human.email.is_verified


def test_phone_codes(userd):
    users = client(userd).users
    user_id = add_user(users)
    set_phone = users.set_phone(UserServiceSetPhoneRequest(user_id=user_id, phone="+41 79 123 45 67", return_code={}))
    resent = users.resend_phone_code(UserServiceResendPhoneCodeRequest(user_id=user_id, return_code={}))
    assert len(set_phone.verification_code) == 6
    users.verify_phone(UserServiceVerifyPhoneRequest(user_id=user_id, verification_code=resent.verification_code))
    phone = users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id)).user.human.phone
    assert phone.phone == "+41791234567" and phone.is_verified
    with pytest.raises(ApiError) as e:
        users.set_phone(UserServiceSetPhoneRequest(user_id=user_id, phone="+41791234568", send_code={}))
    assert e.value.code == 400
    users.remove_phone(UserServiceRemovePhoneRequest(user_id=user_id))
    assert users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=user_id)).user.human.phone is None


def test_passwords(userd):
    users = client(userd).users
    user_id = add_user(users)
    with pytest.raises(ApiError) as e:
        users.set_password(UserServiceSetPasswordRequest(
            user_id=user_id, new_password=UserServicePassword(password="short")))
    assert "DOMAIN-HuJf6" in e.value.response_body["message"]
    users.set_password(UserServiceSetPasswordRequest(
        user_id=user_id, new_password=UserServicePassword(password="N3w-secret!"), current_password="Secr3t!pass"))
    reset = users.password_reset(UserServicePasswordResetRequest(user_id=user_id, return_code={}))
    users.set_password(UserServiceSetPasswordRequest(
        user_id=user_id, new_password=UserServicePassword(password="Th1rd-secret!"),
        verification_code=reset.verification_code))
    with pytest.raises(ApiError) as e:
        users.set_password(UserServiceSetPasswordRequest(
            user_id=user_id, new_password=UserServicePassword(password="F0urth-secret!"),
            verification_code=reset.verification_code))
    assert "COMMAND-2M9fs" in e.value.response_body["message"]


def test_personal_access_tokens(userd):
    users = client(userd).users
    machine = users.create_user(UserServiceCreateUserRequest(
        organization_id="org-a", machine=UserServiceMachine(name="PAT bot"))).id
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    issued = users.add_personal_access_token(UserServiceAddPersonalAccessTokenRequest(
        user_id=machine, expiration_date=expires))
    assert issued.token and issued.token_id
    as_machine = zitadel.Zitadel.with_access_token(userd.url, issued.token).users
    me = as_machine.get_user_by_id(UserServiceGetUserByIDRequest(user_id=machine)).user
    assert me.machine.name == "PAT bot"
    listed = users.list_personal_access_tokens(UserServiceListPersonalAccessTokensRequest(
        filters=[UserServicePersonalAccessTokensSearchFilter(user_id_filter=UserServiceIDFilter(id=machine))]))
    assert [t.id for t in listed.result] == [issued.token_id]
    users.remove_personal_access_token(UserServiceRemovePersonalAccessTokenRequest(
        user_id=machine, token_id=issued.token_id))
    with pytest.raises(ApiError) as e:
        as_machine.get_user_by_id(UserServiceGetUserByIDRequest(user_id=machine))
    assert e.value.code == 401


def test_keys_and_secrets(userd):
    users = client(userd).users
    machine = users.create_user(UserServiceCreateUserRequest(
        organization_id="org-a", machine=UserServiceMachine(name="Key bot"))).id
    secret = users.add_secret(UserServiceAddSecretRequest(user_id=machine))
    assert len(secret.client_secret) == 64
    assert users.get_user_by_id(UserServiceGetUserByIDRequest(user_id=machine)).user.machine.has_secret
    users.remove_secret(UserServiceRemoveSecretRequest(user_id=machine))
    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    key = users.add_key(UserServiceAddKeyRequest(user_id=machine, expiration_date=expires))
    assert key.key_id and key.key_content
    listed = users.list_keys(UserServiceListKeysRequest(
        filters=[UserServiceKeysSearchFilter(user_id_filter=UserServiceIDFilter(id=machine))]))
    assert [k.id for k in listed.result] == [key.key_id]
    users.remove_key(UserServiceRemoveKeyRequest(user_id=machine, key_id=key.key_id))
    with pytest.raises(ApiError) as e:
        users.remove_key(UserServiceRemoveKeyRequest(user_id=machine, key_id=key.key_id))
    assert e.value.code == 404


def test_list_users_sorted_by_username(userd):
    users = client(userd).users
    for _ in range(3):
        add_user(users)
    listed = users.list_users(UserServiceListUsersRequest(
        sorting_column=UserServiceUserFieldName.USER_FIELD_NAME_USER_NAME,
        query=UserServiceListQuery(asc=True, limit=1000),
        queries=[UserServiceSearchQuery(type_query=UserServiceTypeQuery(type=UserServiceType.TYPE_HUMAN))]))
    names = [u.username for u in listed.result]
    assert len(names) >= 3
    assert names == sorted(names)


def test_mfa_init_skipped_and_factors(userd):
    users = client(userd).users
    user_id = add_user(users)
    skipped = users.human_mfa_init_skipped(UserServiceHumanMFAInitSkippedRequest(user_id=user_id))
    assert int(skipped.details.sequence) == 2
    factors = users.list_authentication_factors(UserServiceListAuthenticationFactorsRequest(user_id=user_id))
    assert not factors.result


def test_administrators(userd):
    from zitadel_client.models import (
        InternalPermissionServiceAdministratorSearchFilter,
        InternalPermissionServiceCreateAdministratorRequest,
        InternalPermissionServiceDeleteAdministratorRequest,
        InternalPermissionServiceInIDsFilter,
        InternalPermissionServiceListAdministratorsRequest,
        InternalPermissionServiceResourceType,
        InternalPermissionServiceUpdateAdministratorRequest,
    )
    sdk = client(userd)
    user_id = add_user(sdk.users)
    permissions = sdk.internal_permissions
    on_org = InternalPermissionServiceResourceType(organization_id="org-a")
    created = permissions.create_administrator(InternalPermissionServiceCreateAdministratorRequest(
        user_id=user_id, resource=on_org, roles=["ORG_OWNER"]))
    assert created.creation_date is not None
    with pytest.raises(ApiError) as e:
        permissions.create_administrator(InternalPermissionServiceCreateAdministratorRequest(
            user_id=user_id, resource=on_org, roles=["ORG_OWNER"]))
    assert e.value.code == 409
    permissions.update_administrator(InternalPermissionServiceUpdateAdministratorRequest(
        user_id=user_id, resource=on_org, roles=["ORG_OWNER_VIEWER"]))
    mine = [InternalPermissionServiceAdministratorSearchFilter(
        in_user_ids_filter=InternalPermissionServiceInIDsFilter(ids=[user_id]))]
    listed = permissions.list_administrators(InternalPermissionServiceListAdministratorsRequest(filters=mine))
    assert [(a.user.id, a.organization.id, a.roles) for a in listed.administrators] == \
        [(user_id, "org-a", ["ORG_OWNER_VIEWER"])]
    assert int(listed.pagination.total_result) == 1
    deleted = permissions.delete_administrator(InternalPermissionServiceDeleteAdministratorRequest(
        user_id=user_id, resource=on_org))
    assert deleted.deletion_date is not None
    listed = permissions.list_administrators(InternalPermissionServiceListAdministratorsRequest(filters=mine))
    assert not listed.administrators
    # An organization's owner may not grant on the instance.
    owner = zitadel.Zitadel.with_access_token(userd.url, userd.token("ORG_OWNER:org-a"))
    with pytest.raises(ApiError) as e:
        owner.internal_permissions.create_administrator(InternalPermissionServiceCreateAdministratorRequest(
            user_id=user_id, resource=InternalPermissionServiceResourceType(instance=True), roles=["IAM_OWNER"]))
    assert e.value.code == 403


def test_actions_deliver_a_signed_event_to_a_webhook(userd):
    """ZITADEL's Actions v2 through the SDK: a target and an event execution; the deactivation
    then reaches a local receiver, signed with the target's key, in ZITADEL's payload shape."""
    import hashlib
    import hmac
    import http.server
    import json
    import queue
    import threading
    import time
    from zitadel_client.models import (
        ActionServiceCondition,
        ActionServiceCreateTargetRequest,
        ActionServiceDeleteTargetRequest,
        ActionServiceEventExecution,
        ActionServiceGetTargetRequest,
        ActionServiceListTargetsRequest,
        ActionServiceRESTWebhook,
        ActionServiceSetExecutionRequest,
    )

    got = queue.Queue()

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.put((self.headers.get("ZITADEL-Signature"), body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sdk = client(userd)
        actions = sdk.actions
        created = actions.create_target(ActionServiceCreateTargetRequest(
            name="hook-" + uuid.uuid4().hex[:8], endpoint=f"http://127.0.0.1:{server.server_port}/hook",
            timeout="5s", rest_webhook=ActionServiceRESTWebhook(interrupt_on_error=False)))
        assert len(created.signing_key) == 36
        target = actions.get_target(ActionServiceGetTargetRequest(id=created.id)).target
        assert target.timeout == "5s" and target.rest_webhook is not None
        listed = actions.list_targets(ActionServiceListTargetsRequest())
        assert created.id in [t.id for t in listed.targets]
        actions.set_execution(ActionServiceSetExecutionRequest(
            condition=ActionServiceCondition(event=ActionServiceEventExecution(event="user.deactivated")),
            targets=[created.id]))
        user_id = add_user(sdk.users)
        sdk.users.deactivate_user(UserServiceDeactivateUserRequest(user_id=user_id))
        deadline = time.time() + 15
        while True:
            signature, body = got.get(timeout=max(deadline - time.time(), 0.1))
            event = json.loads(body)
            if event["aggregateID"] == user_id:
                break
        assert event["event_type"] == "user.deactivated"
        assert event["aggregateType"] == "user"
        assert event["resourceOwner"] == "org-a"
        assert event["userID"] == "sdk-admin"
        assert event["sequence"] == 2
        parts = dict(p.split("=", 1) for p in signature.split(","))
        expected = hmac.new(created.signing_key.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
        assert parts["v1"] == expected
        # No permission without instance rights.
        owner = zitadel.Zitadel.with_access_token(userd.url, userd.token("ORG_OWNER:org-a"))
        with pytest.raises(ApiError) as e:
            owner.actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert e.value.code == 403
        actions.delete_target(ActionServiceDeleteTargetRequest(id=created.id))
        with pytest.raises(ApiError) as e:
            actions.get_target(ActionServiceGetTargetRequest(id=created.id))
        assert e.value.code == 404
    finally:
        server.shutdown()
