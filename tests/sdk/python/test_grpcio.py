"""A gRPC client that is not ours: Python grpcio with stubs generated (here, at test time) from
userd's own .proto files, over HTTP/2 cleartext to userd's one port."""
import pathlib
import subprocess
import sys
import tempfile

import grpc
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def stubs():
    out = tempfile.mkdtemp(prefix="userd-grpc-stubs-")
    protos = [str(p.relative_to(ROOT / "proto")) for p in (ROOT / "proto" / "zitadel").rglob("*.proto")]
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}",
                    f"--grpc_python_out={out}", *protos], check=True)
    sys.path.insert(0, out)
    from zitadel.user.v2 import user_service_pb2, user_service_pb2_grpc, user_pb2
    from zitadel.object.v2 import object_pb2
    return user_service_pb2, user_service_pb2_grpc, user_pb2, object_pb2


def call(userd, stubs, method, request, token=None):
    pb, grpc_pb, _, _ = stubs
    with grpc.insecure_channel(userd.grpc_target) as channel:
        stub = grpc_pb.UserServiceStub(channel)
        return getattr(stub, method)(request, metadata=[("authorization", f"Bearer {token or userd.token('IAM_OWNER')}")])


def test_lifecycle_over_grpcio(userd, stubs):
    pb, _, user_pb, object_pb = stubs
    added = call(userd, stubs, "AddHumanUser", pb.AddHumanUserRequest(
        username="grpcio-user",
        organization=object_pb.Organization(org_id="org-a"),
        profile=user_pb.SetHumanProfile(given_name="Gr", family_name="Pc"),
        email=user_pb.SetHumanEmail(email="grpcio@example.com", is_verified=True)))
    user_id = added.user_id
    assert added.details.sequence == 1
    got = call(userd, stubs, "GetUserByID", pb.GetUserByIDRequest(user_id=user_id))
    assert got.user.state == user_pb.USER_STATE_ACTIVE
    assert got.user.human.profile.given_name == "Gr"
    assert got.details.resource_owner == "org-a"
    deactivated = call(userd, stubs, "DeactivateUser", pb.DeactivateUserRequest(user_id=user_id))
    assert deactivated.details.sequence == 2
    reactivated = call(userd, stubs, "ReactivateUser", pb.ReactivateUserRequest(user_id=user_id))
    assert reactivated.details.sequence == 3
    assert reactivated.details.change_date.seconds > 0
    listed = call(userd, stubs, "ListUsers", pb.ListUsersRequest())
    assert user_id in [u.user_id for u in listed.result]


def test_errors_over_grpcio(userd, stubs):
    pb, _, user_pb, object_pb = stubs
    added = call(userd, stubs, "AddHumanUser", pb.AddHumanUserRequest(
        username="grpcio-err", organization=object_pb.Organization(org_id="org-a"),
        profile=user_pb.SetHumanProfile(given_name="E", family_name="R"),
        email=user_pb.SetHumanEmail(email="err@example.com", is_verified=True)))
    cases = [
        ("ReactivateUser", pb.ReactivateUserRequest(user_id=added.user_id), None, grpc.StatusCode.FAILED_PRECONDITION),
        ("LockUser", pb.LockUserRequest(user_id="no-such-user"), None, grpc.StatusCode.NOT_FOUND),
        ("LockUser", pb.LockUserRequest(user_id=added.user_id), userd.token("ORG_OWNER_VIEWER:org-a"), grpc.StatusCode.PERMISSION_DENIED),
        ("GetUserByID", pb.GetUserByIDRequest(user_id=added.user_id), "garbage", grpc.StatusCode.UNAUTHENTICATED),
    ]
    for method, request, token, code in cases:
        with pytest.raises(grpc.RpcError) as e:
            call(userd, stubs, method, request, token)
        assert e.value.code() == code, (method, e.value.details())
    with pytest.raises(grpc.RpcError) as e:
        call(userd, stubs, "ReactivateUser", pb.ReactivateUserRequest(user_id=added.user_id))
    assert "COMMAND-s5qqcz97hf" in e.value.details()


def test_the_seeds_service_over_grpcio(userd, stubs):
    """zitadel.user.v3alpha.UserService: create, deactivate, reactivate, and the seed's error."""
    from zitadel.user.v3alpha import user_service_pb2 as v3, user_service_pb2_grpc as v3_grpc
    from google.protobuf import struct_pb2
    _, _, _, object_pb = stubs
    metadata = [("authorization", f"Bearer {userd.token('IAM_OWNER')}")]
    data = struct_pb2.Struct()
    data.update({"name": "Gigi"})
    with grpc.insecure_channel(userd.grpc_target) as channel:
        stub = v3_grpc.UserServiceStub(channel)
        created = stub.CreateUser(v3.CreateUserRequest(
            user_id="grpcio-v3", organization=object_pb.Organization(org_id="org-a"),
            schema_id="giraffes", data=data), metadata=metadata)
        assert created.user_id == "grpcio-v3"
        assert stub.DeactivateUser(v3.DeactivateUserRequest(user_id="grpcio-v3"), metadata=metadata).details.sequence == 2
        reactivated = stub.ReactivateUser(v3.ReactivateUserRequest(user_id="grpcio-v3"), metadata=metadata)
        assert reactivated.details.sequence == 3
        assert reactivated.details.resource_owner == "org-a"
        got = stub.GetUserByID(v3.GetUserByIDRequest(user_id="grpcio-v3"), metadata=metadata)
        assert got.user.state == v3.USER_STATE_ACTIVE
        assert got.user.data["name"] == "Gigi"
        with pytest.raises(grpc.RpcError) as e:
            stub.ReactivateUser(v3.ReactivateUserRequest(user_id="grpcio-v3"), metadata=metadata)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "COMMAND-s5qqcz97hf" in e.value.details()
