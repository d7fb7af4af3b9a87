// ZITADEL's official TypeScript SDK (@zitadel/client) against a real userd, unchanged, over
// every transport it offers, all on the one port: Connect JSON, Connect binary and gRPC-Web over
// HTTP/1.1, native gRPC over HTTP/2 cleartext, and Connect JSON over HTTP/2 cleartext.
// USERD_BIN names the binary (default ../../../target/debug/userd); TRANSPORTS narrows the list.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { ConnectError, Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { NewAuthorizationBearerInterceptor } from "@zitadel/client";
import { createUserServiceClient } from "@zitadel/client/v2";
import { createUserServiceClient as createV3Client } from "@zitadel/client/v3alpha";
import { UserState } from "@zitadel/proto/zitadel/user/v2/user_pb.js";
import { ErrorDetailSchema } from "@zitadel/proto/zitadel/message_pb.js";
import { TextFilterMethod } from "@zitadel/proto/zitadel/filter/v2/filter_pb.js";
import { Type, UserFieldName } from "@zitadel/proto/zitadel/user/v2/query_pb.js";
import { AuthenticationMethodType } from "@zitadel/proto/zitadel/user/v2/user_service_pb.js";
import { InternalPermissionService } from "@zitadel/proto/zitadel/internal_permission/v2beta/internal_permission_service_pb.js";
import { ActionService } from "@zitadel/proto/zitadel/action/v2beta/action_service_pb.js";
import { createAdminServiceClient, createManagementServiceClient } from "@zitadel/client/v1";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.USERD_BIN ?? resolve(here, "../../../target/debug/userd");
const secret = "sdk-ts-secret-0123456789abcdef0123456";
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("USERD_")));
Object.assign(env, { USERD_AUTH__HS256_SECRET: secret, USERD_LOG__LEVEL: "warn" });
// scripts/test.sh runs the suite again on PostgreSQL, with a database of its own.
if (process.env.USERD_SDK_POSTGRES_URL) {
  Object.assign(env, { USERD_STORAGE__BACKEND: "postgres", USERD_STORAGE__POSTGRES__URL: process.env.USERD_SDK_POSTGRES_URL });
}
const dir = mkdtempSync(join(tmpdir(), "userd-ts-"));
let server;
let baseUrl;

before(async () => {
  server = spawn(bin, ["serve", "--bind", "127.0.0.1:0", "--data-dir", join(dir, "data")], { env, cwd: dir, stdio: ["ignore", "pipe", "ignore"] });
  const lines = createInterface({ input: server.stdout });
  for await (const line of lines) {
    if (line.startsWith("listening on ")) {
      baseUrl = line.slice("listening on ".length);
      break;
    }
  }
  assert.ok(baseUrl, "userd started");
});

after(() => server?.kill("SIGTERM"));

function token(...roles) {
  const args = ["token", "--sub", "ts-admin", "--org", "org-a"];
  for (const r of roles.length ? roles : ["IAM_OWNER"]) args.push("--role", r);
  return execFileSync(bin, args, { env, cwd: dir }).toString().trim();
}

const transports = {
  "connect-json": (interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, interceptors }),
  "connect-proto": (interceptors) => createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, interceptors }),
  "grpc-web": (interceptors) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors }),
  "grpc": (interceptors) => createGrpcTransport({ baseUrl, interceptors }),
  "connect-json-h2": (interceptors) => createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: false, interceptors }),
};
const selected = (process.env.TRANSPORTS ?? Object.keys(transports).join(",")).split(",");

function users(kind, ...roles) {
  return createUserServiceClient(transports[kind]([NewAuthorizationBearerInterceptor(token(...roles))]));
}

// An error with its code and, when `id` is given, ZITADEL's ErrorDetail carrying that id.
async function rejects(promise, code, id) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof ConnectError, `ConnectError, got ${e}`);
    assert.equal(e.code, code, `${Code[e.code]}: ${e.rawMessage}`);
    if (id !== undefined) {
      const details = e.findDetails(ErrorDetailSchema);
      assert.equal(details.length, 1, `one ErrorDetail: ${e.rawMessage}`);
      assert.equal(details[0].id, id);
      assert.ok(e.rawMessage.startsWith(details[0].message), `${e.rawMessage} / ${details[0].message}`);
    }
    return true;
  });
}

let n = 0;
async function addUser(client, { password = true } = {}) {
  const name = `ts-${process.pid}-${n++}`;
  const added = await client.addHumanUser({
    username: name,
    organization: { org: { case: "orgId", value: "org-a" } },
    profile: { givenName: "Minnie", familyName: "Mouse" },
    email: { email: `${name}@example.com` },
    passwordType: password ? { case: "password", value: { password: "Secr3t!pass", changeRequired: false } } : { case: undefined },
  });
  return added.userId;
}

for (const kind of selected) {
  test(`${kind}: lifecycle`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    const got = await client.getUserByID({ userId });
    assert.equal(got.user.userId, userId);
    assert.equal(got.user.state, UserState.ACTIVE);
    assert.equal(got.user.type.case, "human");
    assert.equal(got.user.type.value.profile.givenName, "Minnie");
    assert.equal(got.details.resourceOwner, "org-a");
    let sequence = got.details.sequence;
    for (const [call, state] of [["deactivateUser", UserState.INACTIVE], ["reactivateUser", UserState.ACTIVE], ["lockUser", UserState.LOCKED], ["unlockUser", UserState.ACTIVE]]) {
      const r = await client[call]({ userId });
      sequence += 1n;
      assert.equal(r.details.sequence, sequence, call);
      assert.equal((await client.getUserByID({ userId })).user.state, state, call);
    }
    const list = await client.listUsers({ queries: [{ query: { case: "inUserIdsQuery", value: { userIds: [userId] } } }] });
    assert.equal(list.details.totalResult, 1n);
    assert.equal(list.result[0].userId, userId);
    await client.deleteUser({ userId });
    await rejects(client.getUserByID({ userId }), Code.NotFound);
  });

  test(`${kind}: the INITIAL rule`, async () => {
    const client = users(kind);
    const userId = await addUser(client, { password: false });
    assert.equal((await client.getUserByID({ userId })).user.state, UserState.INITIAL);
  });

  test(`${kind}: errors surface as ConnectError with the right code`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    await rejects(client.reactivateUser({ userId }), Code.FailedPrecondition, "COMMAND-s5qqcz97hf");
    await rejects(client.deactivateUser({ userId: "no-such-user" }), Code.NotFound, "COMMAND-5gp2p62iin");
    const viewer = users(kind, "ORG_OWNER_VIEWER:org-a");
    await rejects(viewer.lockUser({ userId }), Code.PermissionDenied);
    const anonymous = createUserServiceClient(transports[kind]([NewAuthorizationBearerInterceptor("garbage")]));
    await rejects(anonymous.getUserByID({ userId }), Code.Unauthenticated);
  });

  test(`${kind}: metadata`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    const bytes = (text) => new TextEncoder().encode(text);
    const text = (value) => new TextDecoder().decode(value);
    const set = await client.setUserMetadata({ userId, metadata: [{ key: "plan", value: bytes("pro") }, { key: "region", value: bytes("eu") }] });
    assert.ok(set.setDate, "setDate");
    const listed = await client.listUserMetadata({ userId, pagination: { asc: true } });
    assert.equal(listed.pagination.totalResult, 2n);
    assert.deepEqual(listed.metadata.map((m) => [m.key, text(m.value)]), [["plan", "pro"], ["region", "eu"]]);
    assert.ok(listed.metadata[0].creationDate && listed.metadata[0].changeDate);
    const filtered = await client.listUserMetadata({
      userId,
      filters: [{ filter: { case: "keyFilter", value: { key: "reg", method: TextFilterMethod.STARTS_WITH } } }],
    });
    assert.deepEqual(filtered.metadata.map((m) => m.key), ["region"]);
    await rejects(client.deleteUserMetadata({ userId, keys: ["plan", "missing"] }), Code.NotFound);
    const deleted = await client.deleteUserMetadata({ userId, keys: ["plan"] });
    assert.ok(deleted.deletionDate, "deletionDate");
    const left = await client.listUserMetadata({ userId });
    assert.deepEqual(left.metadata.map((m) => m.key), ["region"]);
    assert.equal((await client.getUserByID({ userId })).details.sequence, 3n);
    await rejects(client.setUserMetadata({ userId, metadata: [] }), Code.FailedPrecondition);
    await rejects(client.setUserMetadata({ userId, metadata: [{ key: "k", value: new Uint8Array() }] }), Code.InvalidArgument);
    const viewer = users(kind, "ORG_OWNER_VIEWER:org-a");
    await rejects(viewer.setUserMetadata({ userId, metadata: [{ key: "k", value: bytes("v") }] }), Code.PermissionDenied);
  });

  test(`${kind}: authentication method types`, async () => {
    const client = users(kind);
    const withPassword = await addUser(client);
    const found = await client.listAuthenticationMethodTypes({ userId: withPassword });
    assert.deepEqual(found.authMethodTypes, [AuthenticationMethodType.PASSWORD]);
    assert.equal(found.details.totalResult, 1n);
    const without = await addUser(client, { password: false });
    assert.deepEqual((await client.listAuthenticationMethodTypes({ userId: without })).authMethodTypes, []);
    assert.deepEqual((await client.listAuthenticationFactors({ userId: withPassword })).result, []);
    assert.equal((await client.humanMFAInitSkipped({ userId: withPassword })).details.sequence, 2n);
  });

  test(`${kind}: updates, email and phone codes`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    const username = `ts-ada-${process.pid}-${n++}`;
    const updated = await client.updateHumanUser({
      userId,
      username,
      profile: { givenName: "Ada", familyName: "Lovelace", nickName: "Countess" },
      email: { email: `${username}@example.org`, verification: { case: "returnCode", value: {} } },
    });
    assert.equal(updated.emailCode.length, 6);
    await rejects(client.verifyEmail({ userId, verificationCode: "WRONG1" }), Code.InvalidArgument);
    await client.verifyEmail({ userId, verificationCode: updated.emailCode });
    let got = (await client.getUserByID({ userId })).user;
    assert.equal(got.username, username);
    assert.equal(got.type.value.profile.nickName, "Countess");
    assert.equal(got.type.value.email.isVerified, true);

    await rejects(client.setEmail({ userId, email: `${username}@example.org` }), Code.FailedPrecondition);
    const set = await client.setEmail({ userId, email: `${username}@example.net`, verification: { case: "returnCode", value: {} } });
    const resent = await client.resendEmailCode({ userId, verification: { case: "returnCode", value: {} } });
    const sent = await client.sendEmailCode({ userId, verification: { case: "returnCode", value: {} } });
    assert.ok(set.verificationCode && resent.verificationCode && sent.verificationCode);
    await client.verifyEmail({ userId, verificationCode: sent.verificationCode });

    const phone = await client.setPhone({ userId, phone: "+41 79 123 45 67", verification: { case: "returnCode", value: {} } });
    const phoneAgain = await client.resendPhoneCode({ userId, verification: { case: "returnCode", value: {} } });
    assert.equal(phone.verificationCode.length, 6);
    await client.verifyPhone({ userId, verificationCode: phoneAgain.verificationCode });
    got = (await client.getUserByID({ userId })).user;
    assert.equal(got.type.value.phone.phone, "+41791234567");
    assert.equal(got.type.value.phone.isVerified, true);
    await client.removePhone({ userId });
    assert.equal((await client.getUserByID({ userId })).user.type.value.phone, undefined);

    const withCode = await client.addHumanUser({
      organization: { org: { case: "orgId", value: "org-a" } },
      profile: { givenName: "Code", familyName: "Returned" },
      email: { email: `code-${process.pid}-${n++}@example.com`, verification: { case: "returnCode", value: {} } },
      passwordType: { case: "password", value: { password: "Secr3t!pass" } },
    });
    assert.equal(withCode.emailCode.length, 6);
    await client.verifyEmail({ userId: withCode.userId, verificationCode: withCode.emailCode });

    const bot = await client.createUser({ organizationId: "org-a", userType: { case: "machine", value: { name: "Bot" } } });
    const patched = await client.updateUser({ userId: bot.id, userType: { case: "machine", value: { description: "patched" } } });
    assert.ok(patched.changeDate);
    assert.equal((await client.getUserByID({ userId: bot.id })).user.type.value.description, "patched");
  });

  test(`${kind}: passwords`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    await rejects(client.setPassword({ userId, newPassword: { password: "weakpass" } }), Code.InvalidArgument);
    await rejects(
      client.setPassword({ userId, newPassword: { password: "N3w-secret!" }, verification: { case: "currentPassword", value: "wrong" } }),
      Code.InvalidArgument,
    );
    await client.setPassword({ userId, newPassword: { password: "N3w-secret!" }, verification: { case: "currentPassword", value: "Secr3t!pass" } });
    const reset = await client.passwordReset({ userId, medium: { case: "returnCode", value: {} } });
    await client.setPassword({ userId, newPassword: { password: "Th1rd-secret!" }, verification: { case: "verificationCode", value: reset.verificationCode } });
    await rejects(
      client.setPassword({ userId, newPassword: { password: "F0urth-secret!" }, verification: { case: "verificationCode", value: reset.verificationCode } }),
      Code.FailedPrecondition,
    );
  });

  test(`${kind}: personal access tokens`, async () => {
    const client = users(kind);
    const bot = await client.createUser({ organizationId: "org-a", userType: { case: "machine", value: { name: "PAT bot" } } });
    const expirationDate = { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 };
    const issued = await client.addPersonalAccessToken({ userId: bot.id, expirationDate });
    assert.ok(issued.token && issued.tokenId);
    const asBot = createUserServiceClient(transports[kind]([NewAuthorizationBearerInterceptor(issued.token)]));
    assert.equal((await asBot.getUserByID({ userId: bot.id })).user.userId, bot.id);
    const listed = await client.listPersonalAccessTokens({ filters: [{ filter: { case: "userIdFilter", value: { id: bot.id } } }] });
    assert.deepEqual(listed.result.map((t) => t.id), [issued.tokenId]);
    await client.removePersonalAccessToken({ userId: bot.id, tokenId: issued.tokenId });
    await rejects(asBot.getUserByID({ userId: bot.id }), Code.Unauthenticated);
    await rejects(client.addPersonalAccessToken({ userId: bot.id, expirationDate: { seconds: 1n, nanos: 0 } }), Code.InvalidArgument);
  });

  test(`${kind}: keys and client secrets`, async () => {
    const client = users(kind);
    const bot = await client.createUser({ organizationId: "org-a", userType: { case: "machine", value: { name: "Key bot" } } });
    const secret = await client.addSecret({ userId: bot.id });
    assert.equal(secret.clientSecret.length, 64);
    assert.equal((await client.getUserByID({ userId: bot.id })).user.type.value.hasSecret, true);
    await client.removeSecret({ userId: bot.id });
    await rejects(client.removeSecret({ userId: bot.id }), Code.FailedPrecondition);
    const expirationDate = { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600), nanos: 0 };
    const key = await client.addKey({ userId: bot.id, expirationDate });
    const file = JSON.parse(new TextDecoder().decode(key.keyContent));
    assert.equal(file.keyId, key.keyId);
    assert.ok(file.key.startsWith("-----BEGIN PRIVATE KEY-----"));
    const listed = await client.listKeys({ filters: [{ filter: { case: "userIdFilter", value: { id: bot.id } } }] });
    assert.deepEqual(listed.result.map((k) => k.id), [key.keyId]);
    await client.removeKey({ userId: bot.id, keyId: key.keyId });
    await rejects(client.removeKey({ userId: bot.id, keyId: key.keyId }), Code.NotFound);
  });

  test(`${kind}: listings sorted by a column`, async () => {
    const client = users(kind);
    for (let i = 0; i < 3; i++) await addUser(client);
    const listed = await client.listUsers({
      sortingColumn: UserFieldName.USER_NAME,
      query: { asc: true, limit: 1000 },
      queries: [{ query: { case: "typeQuery", value: { type: Type.HUMAN } } }],
    });
    const names = listed.result.map((u) => u.username);
    assert.ok(names.length >= 3);
    assert.deepEqual(names, [...names].sort());
  });

  test(`${kind}: machine users`, async () => {
    const client = users(kind);
    const username = `ts-bot-${process.pid}-${n++}`;
    const created = await client.createUser({
      organizationId: "org-a",
      username,
      userType: { case: "machine", value: { name: "TS bot", description: "from the SDK" } },
    });
    assert.ok(created.id.length > 0 && created.creationDate);
    const got = (await client.getUserByID({ userId: created.id })).user;
    assert.equal(got.username, username);
    assert.equal(got.type.case, "machine");
    assert.equal(got.type.value.name, "TS bot");
    assert.equal(got.type.value.description, "from the SDK");
    assert.equal(got.state, UserState.ACTIVE);
    const listed = await client.listUsers({ query: { limit: 1000 }, queries: [{ query: { case: "typeQuery", value: { type: Type.MACHINE } } }] });
    assert.ok(listed.result.some((u) => u.userId === created.id));
    assert.ok(listed.result.every((u) => u.type.case === "machine"));
    await client.lockUser({ userId: created.id });
    assert.equal((await client.getUserByID({ userId: created.id })).user.state, UserState.LOCKED);
    await rejects(client.createUser({ organizationId: "org-a", username, userType: { case: "machine", value: { name: "again" } } }), Code.AlreadyExists);
  });

  test(`${kind}: the v3alpha client (ZITADELUsers)`, async () => {
    const v3 = createV3Client(transports[kind]([NewAuthorizationBearerInterceptor(token())]));
    const created = await v3.createUser({
      organization: { property: { case: "orgId", value: "org-a" } },
      user: { schemaId: "person", data: { name: "Ada", n: 1 } },
    });
    const id = created.details.id;
    assert.ok(id.length > 0);
    assert.equal(created.details.owner.id, "org-a");
    const got = await v3.getUser({ id });
    assert.equal(got.user.schema.id, "person");
    assert.deepEqual(got.user.data, { name: "Ada", n: 1 });
    for (const call of ["deactivateUser", "activateUser", "lockUser", "unlockUser"]) {
      const r = await v3[call]({ id });
      assert.equal(r.details.id, id, call);
    }
    await rejects(v3.activateUser({ id }), Code.FailedPrecondition);
    const found = await v3.searchUsers({ query: { limit: 1000 } });
    assert.ok(found.result.some((u) => u.details.id === id));
    // Search filters, in the SDK's own message types.
    const mine = { Filter: { case: "userIdFilter", value: { id } } };
    const byId = await v3.searchUsers({ filters: [mine] });
    assert.deepEqual(byId.result.map((u) => u.details.id), [id]);
    const others = await v3.searchUsers({ query: { limit: 1000 }, filters: [{ Filter: { case: "notFilter", value: { query: mine } } }] });
    assert.ok(!others.result.some((u) => u.details.id === id));
    const active = await v3.searchUsers({ filters: [mine, { Filter: { case: "stateFilter", value: { state: 1 } } }] });
    assert.equal(active.result.length, 1, "active after unlock");
    await v3.deleteUser({ id });
    await rejects(v3.getUser({ id }), Code.NotFound);
  });

  test(`${kind}: administrators (InternalPermissionService)`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    const permissions = (...roles) => createClient(InternalPermissionService, transports[kind]([NewAuthorizationBearerInterceptor(token(...roles))]));
    const admin = permissions();
    const onOrg = { resource: { case: "organizationId", value: "org-a" } };
    const created = await admin.createAdministrator({ userId, resource: onOrg, roles: ["ORG_OWNER"] });
    assert.ok(created.creationDate, "creationDate");
    await rejects(admin.createAdministrator({ userId, resource: onOrg, roles: ["ORG_OWNER"] }), Code.AlreadyExists);
    await rejects(admin.createAdministrator({ userId, resource: onOrg, roles: ["IAM_OWNER"] }), Code.InvalidArgument);
    const onInstance = { resource: { case: "instance", value: true } };
    await rejects(permissions("ORG_OWNER:org-a").createAdministrator({ userId, resource: onInstance, roles: ["IAM_OWNER"] }), Code.PermissionDenied);
    await admin.updateAdministrator({ userId, resource: onOrg, roles: ["ORG_OWNER_VIEWER", "ORG_USER_MANAGER"] });
    const mine = [{ filter: { case: "inUserIdsFilter", value: { ids: [userId] } } }];
    const listed = await admin.listAdministrators({ filters: mine });
    assert.equal(listed.pagination.totalResult, 1n);
    const [one] = listed.administrators;
    assert.equal(one.user.id, userId);
    assert.equal(one.resource.case, "organization");
    assert.equal(one.resource.value.id, "org-a");
    assert.deepEqual(one.roles, ["ORG_OWNER_VIEWER", "ORG_USER_MANAGER"]);
    const deleted = await admin.deleteAdministrator({ userId, resource: onOrg });
    assert.ok(deleted.deletionDate, "deletionDate");
    assert.equal((await admin.listAdministrators({ filters: mine })).administrators.length, 0);
    await rejects(admin.updateAdministrator({ userId, resource: onOrg, roles: ["ORG_OWNER"] }), Code.NotFound);
  });

  test(`${kind}: history (admin ListEvents, management ListUserChanges) and actions (v2beta)`, async () => {
    const client = users(kind);
    const userId = await addUser(client);
    await client.deactivateUser({ userId });
    await client.reactivateUser({ userId });
    const transport = transports[kind]([NewAuthorizationBearerInterceptor(token())]);
    const admin = createAdminServiceClient(transport);
    const found = await admin.listEvents({ aggregateId: userId, asc: true });
    assert.deepEqual(found.events.map((e) => e.type.type), ["user.human.added", "user.deactivated", "user.reactivated"]);
    assert.deepEqual(found.events.map((e) => e.sequence), [1n, 2n, 3n]);
    assert.equal(found.events[0].aggregate.resourceOwner, "org-a");
    assert.equal(found.events[0].editor.userId, "ts-admin");
    assert.ok(found.events[0].payload, "the creation has a payload");
    const types = await admin.listEventTypes({});
    assert.ok(types.eventTypes.some((t) => t.type === "user.locked"));
    const changes = await createManagementServiceClient(transport).listUserChanges({ userId, query: { sequence: 1n, asc: true } });
    assert.deepEqual(changes.result.map((c) => c.eventType.key), ["EventTypes.user.deactivated", "EventTypes.user.reactivated"]);
    // Not for an organization's owner.
    const owner = createAdminServiceClient(transports[kind]([NewAuthorizationBearerInterceptor(token("ORG_OWNER:org-a"))]));
    await rejects(owner.listEvents({}), Code.PermissionDenied);

    const actions = createClient(ActionService, transport);
    const name = `ts-${kind}-${Date.now()}`;
    const target = await actions.createTarget({
      name,
      endpoint: "http://127.0.0.1:9/hook",
      timeout: { seconds: 5n, nanos: 0 },
      targetType: { case: "restAsync", value: {} },
    });
    assert.equal(target.signingKey.length, 36);
    const got = await actions.getTarget({ id: target.id });
    assert.equal(got.target.name, name);
    assert.equal(got.target.targetType.case, "restAsync");
    assert.equal(got.target.timeout.seconds, 5n);
    await actions.setExecution({ condition: { conditionType: { case: "event", value: { condition: { case: "group", value: "user.human" } } } }, targets: [target.id] });
    const executions = await actions.listExecutions({});
    assert.ok(executions.executions.some((x) => x.targets.includes(target.id)));
    await rejects(actions.setExecution({ condition: { conditionType: { case: "event", value: { condition: { case: "event", value: "user.unknown" } } } }, targets: [target.id] }), Code.NotFound);
    await actions.deleteTarget({ id: target.id });
    await rejects(actions.getTarget({ id: target.id }), Code.NotFound);
  });
}
